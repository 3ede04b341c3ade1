"""The learning loop (issue 13): data from the workspace and from feedback, a LoRA trainer and an
evaluator in subprocesses, a promotion gate, and a versioned registry of adapters per workspace.

For the server: `cycle.TrainingCycle(root, settings, events, on_progress).run()` in a background
thread (`.cancel()` from another), `registry.Registry.for_workspace(root)` for `active()`, `list()`,
`promote(v)`, `rollback()`. Nothing here imports torch at import time; `trainer`, `evaluate` and
`modeling` are for the subprocesses (and `growpilot bench train`) only.
"""
