"""Evaluations behind `growpilot eval …`."""
