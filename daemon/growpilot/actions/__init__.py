"""Code actions: Explain, Add docstring, Generate tests, Refactor selection and Fix with Growpilot.

targets.py finds what an action is about (the function or class at the cursor, a selection, the code
around a diagnostic), conventions.py reads the project's conventions (docstring style, test style and
layout, import paths), prompts.py builds the chat prompts, edits.py turns the model's answer into
minimal edits and checks that Python still parses, and service.py (`ActionService`) lists actions
without the model and resolves them with it. Everything but the service is pure."""
