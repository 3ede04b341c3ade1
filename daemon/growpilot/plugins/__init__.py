"""The plugin API: what a Growpilot plugin receives and returns (docs/plugins.md shows how to write one).

A plugin is an object published under the entry-point group `growpilot.plugins`; the daemon loads every
one of them once, at start (`PluginHost.discover`). It has one or both of these methods:

- `context(request) -> Iterable[Snippet]`: a **context provider**. Its snippets go into the prompt of a
  completion or a code action, cut to fit the plugins' share of the prompt budget (`PLUGIN_SHARE`).
- `postprocess(request, text) -> str | None`: a **post-processor**. It gets the suggestion (after
  Growpilot's own clean-up; for a code action, the model's answer) and returns it, changed or not, or
  None (or an empty string) to veto it: the user is shown nothing.

Both are called on a worker thread, never the event loop, once per request that reaches the model
(not for a cached or typed-ahead answer), so they must be quick (a few ms). A plugin that raises, or
returns the wrong type, is logged with its name and skipped for that request; after
`MAX_CONSECUTIVE_FAILURES` failures in a row it is disabled until the daemon restarts. Completions and
actions go on either way.

The entry point may name an instance, a class (instantiated once, without arguments) or a factory
function (called once). Its `name` attribute names it in logs and `growpilot.status`; the entry
point's name otherwise. The daemon's own plugins (`growpilot.plugins.python_syntax`) come through the
same entry-point group, declared in Growpilot's pyproject.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Protocol, runtime_checkable

from growpilot.models.fim import Snippet

__all__ = ["GROUP", "Request", "Snippet", "ContextProvider", "PostProcessor"]

GROUP = "growpilot.plugins"

Kind = Literal["inline", "completion", "cli", "action"]


@dataclass(frozen=True)
class Request:
    """Where the user is. Never modified by a plugin (frozen); the same object for every plugin."""
    path: str  # workspace-relative, "/"-separated (the file name for a file outside every workspace folder)
    abs_path: str  # absolute real path of the file
    workspace: str | None  # the workspace folder's absolute root; None outside every folder
    language: str  # "python", "typescript", … ("text" when unknown)
    prefix: str  # a completion: the document before the cursor; an action: the file before its code
    suffix: str  # a completion: the document after the cursor; an action: the file after its code
    kind: Kind  # inline / completion (LSP), cli (`growpilot complete`), action (a code action)
    mode: str  # a completion: "line" or "block"; an action: explain, docstring, tests, refactor or fix


@runtime_checkable
class ContextProvider(Protocol):
    def context(self, request: Request) -> Iterable[Snippet]:
        """Snippets for the prompt, best first (`Snippet(path, text)`; path is how the model sees it named)."""


@runtime_checkable
class PostProcessor(Protocol):
    def postprocess(self, request: Request, text: str) -> str | None:
        """The suggestion to show instead of `text` (`text` itself to leave it alone); None to veto it."""
