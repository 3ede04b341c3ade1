"""Completions: context → retrieval → prompt → model → postprocess, one stage per module."""
