"""Growpilot: an offline-first code assistant that grows with the workspace it lives in."""

__version__ = "0.1.0"
