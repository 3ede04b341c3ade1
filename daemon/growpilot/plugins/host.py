"""`PluginHost`: the one owner of the daemon's plugins (growpilot.plugins): discovered once at start from
the `growpilot.plugins` entry points, called in a fixed order, each plugin's failures contained.

Failure policy. A plugin that fails to load is logged with its name and reason and stays out. A call
that raises (or returns the wrong type) is logged with the plugin's name — the first time with its
traceback — and the request goes on as if that plugin were not there. After MAX_CONSECUTIVE_FAILURES
failures in a row the plugin is disabled until the daemon restarts (logged as an error, shown in
`growpilot.status`): one that fails on odd input now and then keeps its value, one that fails on every
keystroke would otherwise flood the log and cost time on every completion. Any success resets the count.

While a plugin is loaded or called, `sys.stdout` points to stderr: stdout is the LSP stream, and a stray
`print` in a plugin would corrupt it (the protocol writer keeps its own handle on the real stdout).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from growpilot.plugins import GROUP, Request, Snippet

log = logging.getLogger(__name__)
PLUGIN_SHARE = 0.1  # of the prompt budget, at most, for all plugins' snippets together
MAX_CONSECUTIVE_FAILURES = 3
SLOW_CALL_MS = 100.0  # a call slower than this is reported (once per plugin): they run on every completion
DISABLE_ENV = "GROWPILOT_DISABLE_PLUGINS"  # comma-separated plugin names, or "*" for all
# Growpilot's own plugins, as its pyproject.toml declares them. Also loaded when the installed metadata
# predates them (an editable install made before they existed; `pip install -e .` refreshes it).
BUILTINS = {"python-syntax": "growpilot.plugins.python_syntax:PythonSyntax"}


@dataclass
class Plugin:
    """One discovered plugin and its record."""
    name: str
    target: str  # the entry point's value, `module:attr`
    source: str  # the distribution that declares it, "name version"
    builtin: bool
    obj: object | None = None
    state: str = "active"  # active | disabled (failed MAX_CONSECUTIVE_FAILURES times in a row) | off | failed (to load)
    error: str | None = None  # the last failure
    calls: int = 0
    failures: int = 0
    in_a_row: int = 0
    total_ms: float = 0.0
    warned_slow: bool = False

    @property
    def provides_context(self) -> bool:
        return callable(getattr(self.obj, "context", None))

    @property
    def postprocesses(self) -> bool:
        return callable(getattr(self.obj, "postprocess", None))

    def describe(self) -> dict:
        kinds = [k for k, has in (("context", self.provides_context), ("postprocess", self.postprocesses)) if has]
        return {"name": self.name, "target": self.target, "source": self.source, "builtin": self.builtin,
                "kinds": kinds, "state": self.state, "calls": self.calls, "failures": self.failures,
                "ms": round(self.total_ms, 1), "error": self.error}


@dataclass
class Outcome:
    """What the post-processors made of a suggestion."""
    text: str | None  # None: vetoed
    vetoed_by: str | None = None
    changed_by: list[str] = field(default_factory=list)
    ms: float = 0.0

    def notes(self) -> dict:
        """For the generation's timings (empty when no plugin acted)."""
        out: dict = {}
        if self.changed_by:
            out["plugins_changed"] = list(self.changed_by)
        if self.vetoed_by:
            out["plugins_vetoed"] = self.vetoed_by
        return out


class PluginHost:
    def __init__(self, plugins: Sequence[Plugin] = ()):
        # Growpilot's own first (clean-up before policy), then by name: the same order on every machine.
        self.plugins = sorted(plugins, key=lambda p: (not p.builtin, p.name))
        self._lock = threading.Lock()

    # ----- discovery
    @classmethod
    def discover(cls, entry_points: Iterable | None = None, disabled: str | None = None) -> "PluginHost":
        """Load every plugin of the entry-point group (`entry_points`: given instead, for tests).
        `disabled`: names to leave off (default: $GROWPILOT_DISABLE_PLUGINS; "*" leaves off all)."""
        found = list(importlib.metadata.entry_points(group=GROUP) if entry_points is None else entry_points)
        fallback = []
        if entry_points is None:
            names = {ep.name for ep in found}
            fallback = [importlib.metadata.EntryPoint(name, target, GROUP)
                        for name, target in BUILTINS.items() if name not in names]
            if fallback:
                log.debug("built-in plugins missing from the installed metadata (refresh: pip install -e .): %s",
                          ", ".join(ep.name for ep in fallback))
        off = {n.strip() for n in (os.environ.get(DISABLE_ENV, "") if disabled is None else disabled).split(",")}
        plugins: list[Plugin] = []
        seen: set[str] = set()
        for ep in found + fallback:
            dist = getattr(ep, "dist", None)
            source = f"{dist.name} {dist.version}" if dist is not None else "growpilot" if ep in fallback else "?"
            builtin = ep in fallback or (dist is not None and dist.name.lower() == "growpilot"
                                         and ep.value in BUILTINS.values())
            if ep.name in seen:
                log.warning("plugin %s from %s: another plugin has that name; this one is not loaded", ep.name, source)
                continue
            seen.add(ep.name)
            plugin = Plugin(ep.name, ep.value, source, builtin)
            plugins.append(plugin)
            if "*" in off or ep.name in off:
                plugin.state = "off"
                log.info("plugin %s is off (%s)", ep.name, DISABLE_ENV)
                continue
            _load(plugin, ep)
            if plugin.name in off and plugin.state == "active":  # named so by its `name` attribute
                plugin.state, plugin.obj = "off", None
                log.info("plugin %s is off (%s)", plugin.name, DISABLE_ENV)
        host = cls(plugins)
        active = [p.name for p in host.plugins if p.state == "active"]
        if active:
            log.info("plugins: %s", ", ".join(active))
        return host

    # ----- calls
    @property
    def has_context(self) -> bool:
        return any(p.state == "active" and p.provides_context for p in self.plugins)

    @property
    def has_postprocessors(self) -> bool:
        return any(p.state == "active" and p.postprocesses for p in self.plugins)

    def context(self, request: Request) -> list[Snippet]:
        """Every context provider's snippets, in plugin order (each plugin's best first)."""
        out: list[Snippet] = []
        for plugin in self.plugins:
            if plugin.state == "active" and plugin.provides_context:
                ok, got = self._call(plugin, "context", _snippets, request)
                out += got if ok else []
        return out

    def postprocess(self, request: Request, text: str) -> Outcome:
        """`text` through every post-processor in order, until one vetoes it."""
        started = time.perf_counter()
        outcome = Outcome(text)
        for plugin in self.plugins:
            if plugin.state != "active" or not plugin.postprocesses:
                continue
            ok, new = self._call(plugin, "postprocess", _text, request, outcome.text)
            if not ok:
                continue  # failed: as if it were not there
            if new is None or not new.strip():
                outcome.text, outcome.vetoed_by = None, plugin.name
                break
            if new != outcome.text:
                outcome.text = new
                outcome.changed_by.append(plugin.name)
        outcome.ms = round((time.perf_counter() - started) * 1000, 2)
        return outcome

    def _call(self, plugin: Plugin, hook: str, check: Callable, *args) -> tuple[bool, object]:
        """(True, the checked result) or (False, None) when the plugin failed (logged, counted)."""
        started = time.perf_counter()
        try:
            with _stdout_to_stderr():
                result = check(getattr(plugin.obj, hook)(*args))
        except Exception as exc:
            self._failed(plugin, hook, exc)
            return False, None
        finally:
            ms = (time.perf_counter() - started) * 1000
            with self._lock:
                plugin.calls += 1
                plugin.total_ms += ms
                slow = ms > SLOW_CALL_MS and not plugin.warned_slow
                plugin.warned_slow = plugin.warned_slow or slow
            if slow:
                log.warning("plugin %s: %s took %.0f ms (plugins run on every completion: keep them under a few ms)",
                            plugin.name, hook, ms)
        with self._lock:
            plugin.in_a_row = 0
        return True, result

    def _failed(self, plugin: Plugin, hook: str, exc: Exception) -> None:
        with self._lock:
            plugin.failures += 1
            plugin.in_a_row += 1
            plugin.error = f"{hook}: {type(exc).__name__}: {exc}"
            first = plugin.failures == 1
            disable = plugin.in_a_row >= MAX_CONSECUTIVE_FAILURES and plugin.state == "active"
            if disable:
                plugin.state = "disabled"
        log.warning("plugin %s failed in %s (skipped for this request): %s: %s", plugin.name, hook,
                    type(exc).__name__, exc, exc_info=first)
        if disable:
            log.error("plugin %s disabled after %d failures in a row (until the daemon restarts); last: %s",
                      plugin.name, MAX_CONSECUTIVE_FAILURES, plugin.error)

    # ----- status
    def describe(self) -> list[dict]:
        with self._lock:
            return [p.describe() for p in self.plugins]


def _load(plugin: Plugin, ep) -> None:
    try:
        with _stdout_to_stderr():
            obj = ep.load()
            if isinstance(obj, type):
                obj = obj()
            elif callable(obj) and not (callable(getattr(obj, "context", None)) or
                                        callable(getattr(obj, "postprocess", None))):
                obj = obj()  # a factory
    except (Exception, SystemExit) as exc:
        plugin.state, plugin.error = "failed", f"load: {type(exc).__name__}: {exc}"
        log.warning("plugin %s (%s, from %s) failed to load and stays off: %s", plugin.name, plugin.target,
                    plugin.source, plugin.error, exc_info=True)
        return
    plugin.obj = obj
    plugin.name = getattr(obj, "name", None) if isinstance(getattr(obj, "name", None), str) else plugin.name
    if not (plugin.provides_context or plugin.postprocesses):
        plugin.state, plugin.error = "failed", "load: it has neither context(request) nor postprocess(request, text)"
        log.warning("plugin %s (%s) stays off: %s", plugin.name, plugin.target, plugin.error)


def _snippets(result) -> list[Snippet]:
    if result is None:
        return []
    if isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
        raise TypeError(f"context() must return snippets (an iterable of Snippet), not {type(result).__name__}")
    out = []
    for s in result:
        path, text = getattr(s, "path", None), getattr(s, "text", None)
        if not (isinstance(path, str) and isinstance(text, str)):
            raise TypeError(f"context() returned {type(s).__name__}, not a Snippet(path: str, text: str)")
        if text.strip():
            out.append(s if isinstance(s, Snippet) else Snippet(path, text))
    return out


def _text(result) -> str | None:
    if result is not None and not isinstance(result, str):
        raise TypeError(f"postprocess() must return str or None, not {type(result).__name__}")
    return result


_redirects = 0
_redirect_lock = threading.Lock()
_real_stdout = None


@contextlib.contextmanager
def _stdout_to_stderr():
    """sys.stdout → sys.stderr while any plugin code runs (calls may overlap on two threads)."""
    global _redirects, _real_stdout
    with _redirect_lock:
        if _redirects == 0:
            _real_stdout, sys.stdout = sys.stdout, sys.stderr
        _redirects += 1
    try:
        yield
    finally:
        with _redirect_lock:
            _redirects -= 1
            if _redirects == 0:
                sys.stdout, _real_stdout = _real_stdout, None
