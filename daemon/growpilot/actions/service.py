"""`ActionService`: lists the code actions for a place in a file (instantly, no model) and resolves one
(the model's chat template, the engine's retrieval, one model call on the engine's model thread,
cancellable), turning the answer into edits that are checked before anyone applies them: a Python file
that would no longer parse gets one repair (the model sees the syntax error), else the action is refused
with the reason. Every resolved action is recorded like a completion (kind "action", the action in
`mode`) under a generation id that ratings take. No LSP types here: the server converts."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from growpilot.actions import conventions, edits, prompts, targets
from growpilot.actions.edits import BadAnswer, FileEdit
from growpilot.actions.targets import Region, Target
from growpilot.completion.context import CursorContext
from growpilot.completion.prompt import fit_snippets
from growpilot.config import Settings
from growpilot.indexing.languages import language_of
from growpilot.learning import preferences as prefs_mod
from growpilot.learning.events import EventStore, GenerationRecord
from growpilot.models.chat import render_chat, stop_at, template_of
from growpilot.plugins import Request as PluginRequest
from growpilot.plugins.host import PLUGIN_SHARE

log = logging.getLogger(__name__)
# action → (title after "Growpilot: ", LSP code action kind)
ACTIONS = {
    "explain": ("Explain", "refactor.growpilot.explain"),
    "docstring": ("Add docstring", "refactor.rewrite"),
    "tests": ("Generate tests", "refactor.growpilot.tests"),
    "refactor": ("Refactor selection", "refactor.rewrite"),
    "fix": ("Fix", "quickfix"),
}
KINDS = ("quickfix", "refactor.rewrite", "refactor.growpilot.explain", "refactor.growpilot.tests")
PYTHON_ONLY = ("docstring", "tests")
STYLE_FILES = 20  # other Python files read for the project's docstring style
TEST_FILES = 30  # test files read for the project's test style
EXAMPLE_LINES = 40
MAX_DOC_CODE_LINES = 150  # of a long function, what the docstring prompt shows
PROGRESS_EVERY_S = 0.5


class ActionError(Exception):
    """A clear refusal: bad input (`invalid`), a document that changed (`stale`), no model (`unavailable`),
    or an answer that cannot be applied (`refused`, with the recorded generation's id)."""

    def __init__(self, message: str, kind: str = "invalid", generation_id: str | None = None):
        super().__init__(message)
        self.kind, self.generation_id = kind, generation_id


@dataclass(frozen=True)
class Problem:
    """A diagnostic, positions in code points."""
    message: str
    start: tuple[int, int]
    end: tuple[int, int]
    source: str | None = None


@dataclass(frozen=True)
class Offer:
    action: str
    title: str
    kind: str
    disabled: str | None = None  # why it cannot run here (clients grey it out)
    problem: int | None = None  # a fix: the index of its diagnostic in the request


@dataclass(frozen=True)
class ActionRequest:
    action: str
    path: str  # absolute real path
    text: str  # the document as the editor has it
    start: tuple[int, int]
    end: tuple[int, int]
    problem: Problem | None = None
    instruction: str | None = None  # refactor: what the user asked for


@dataclass
class ActionResult:
    action: str
    generation_id: str
    files: list[FileEdit]  # empty for Explain
    markdown: str | None  # Explain's text
    focus: tuple[str, int] | None  # (path, line) the result is about: where the rating lens goes
    output: str  # what was recorded as the output
    latency_ms: float
    repaired: bool = False
    timings: dict = field(default_factory=dict)


@dataclass
class Built:
    files: list[FileEdit]
    output: str
    focus: tuple[str, int] | None
    markdown: str | None = None
    problem: str | None = None  # why it cannot be applied
    notes: dict = field(default_factory=dict)
    syntax: bool = False  # the problem is a syntax error: worth one repair


@dataclass
class _Plan:
    prompt: prompts.ChatPrompt
    build: Callable[[str, str], Built]  # (answer, stop reason) → what to apply
    rel: str
    line: int
    notes: dict = field(default_factory=dict)
    asked: PluginRequest | None = None  # what plugins are told of the action


def title_of(action: str) -> str:
    return f"Growpilot: {ACTIONS[action][0]}"


class ActionService:
    def __init__(self, engine, events: EventStore, settings: Callable[[], Settings],
                 preferences: prefs_mod.PreferenceCache | None = None):
        """`engine`: the CompletionEngine, whose retrieval, workspaces, model and model thread actions share;
        `preferences`: the workspaces' learned and explicit preferences (the services' cache)."""
        self.engine = engine
        self.events = events
        self._settings = settings
        self.preferences = preferences or prefs_mod.PreferenceCache()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="growpilot-actions")
        self._templates: dict[int, str | None] = {}

    @property
    def settings(self) -> Settings:
        return self._settings()

    # ----- listing: no model, no I/O
    def offers(self, path: str, text: str, start: tuple[int, int], end: tuple[int, int],
               problems: Sequence[Problem] = (), invoked: bool = True, only: Sequence[str] | None = None) -> list[Offer]:
        """The actions for a selection (or the cursor) and the diagnostics there. An automatic request (the
        lightbulb following the cursor) inside a function's body offers fixes only; on a signature line,
        a selection, or an explicit request, everything that applies."""
        python = language_of(path) == "python"
        region = targets.selection_region(text, start, end)
        target = targets.target_at(text, start[0]) if python else None
        quiet = not invoked and region is None and not (target and targets.is_header_line(target, start[0]))
        ws = self.engine.workspace_for(path)
        out: list[Offer] = []
        if ws is None:
            if invoked:
                why = "the file is in no workspace folder (open its folder to use Growpilot's actions)"
                out = [Offer(a, title_of(a), ACTIONS[a][1], disabled=why) for a in ("explain", "refactor")]
            return _only(out, only)
        rel = os.path.relpath(path, ws.root).replace(os.sep, "/")
        for i, p in enumerate(problems):
            out.append(Offer("fix", f'Growpilot: Fix "{_short(p.message)}"', "quickfix", problem=i))
        if not quiet:
            if region or target or (not python and targets.paragraph_region(text, start[0])):
                out.append(Offer("explain", title_of("explain"), ACTIONS["explain"][1]))
            if target is not None:
                title = "Growpilot: Rewrite docstring" if target.docstring else title_of("docstring")
                out.append(Offer("docstring", title, ACTIONS["docstring"][1]))
                if not conventions.is_test_code(rel) and not target.name.startswith("test"):
                    out.append(Offer("tests", title_of("tests"), ACTIONS["tests"][1]))
            if region is not None:
                out.append(Offer("refactor", title_of("refactor"), ACTIONS["refactor"][1]))
            elif invoked:
                out.append(Offer("refactor", title_of("refactor"), ACTIONS["refactor"][1],
                                 disabled="select the code to refactor first"))
        if (why := self._model_missing()) is not None:  # listed, greyed out, with the reason
            out = [dataclasses.replace(o, disabled=why) for o in out] if invoked else []
        return _only(out, only)

    def _model_missing(self) -> str | None:
        model = self.engine.model
        if model.backend is not None:
            return None
        if model.state == "failed":
            return f"the model failed to load: {model.error}"
        return "the model is still loading: try again once it is ready"

    # ----- resolving: the model
    async def resolve(self, req: ActionRequest, progress: Callable[[str], None] = lambda message: None,
                      cancel: threading.Event | None = None,
                      read_text: Callable[[str], str | None] | None = None) -> ActionResult:
        """Generate the action's result. `progress(message)` may be called from any thread; `cancel` stops
        the generation (as does cancelling the awaiting task); `read_text(path)` gives another file's text
        as the editor has it (default: from disk)."""
        started = time.perf_counter()
        if req.action not in ACTIONS:
            raise ActionError(f"unknown action {req.action!r} (one of {', '.join(ACTIONS)})")
        ws = self.engine.workspace_for(req.path)
        if ws is None:
            raise ActionError(f"{req.path} is in no workspace folder: Growpilot's actions work on the files of an "
                              "open folder")
        if req.action in PYTHON_ONLY and language_of(req.path) != "python":
            raise ActionError(f"{ACTIONS[req.action][0]} works on Python files only")
        backend = self.engine.model.backend
        if backend is None:
            raise ActionError(self._model_missing(), "unavailable")
        cancel = cancel or threading.Event()
        loop = asyncio.get_running_loop()
        progress("reading the code and its context")
        plan = await loop.run_in_executor(self._pool, self._plan, req, ws, backend, read_text or _read_disk)
        template = self._template(backend)
        prompt = plan.prompt
        text = render_chat(prompt.messages, template, prompt.answer_prefix)
        answer, gen = await self._generate(text, prompt, backend, cancel, progress)
        timings = {"model_ms": round(gen.prefill_ms + gen.decode_ms, 1), "prefill_ms": round(gen.prefill_ms, 1),
                   "decode_ms": round(gen.decode_ms, 1), "prompt_tokens": gen.prompt_tokens,
                   "new_tokens": gen.tokens, "stop": gen.stop_reason, **plan.notes, **prompt.notes}
        built, problem = await self._build_checked(plan, answer, gen.stop_reason, timings)
        repaired = False
        if problem is not None and built is not None and built.syntax:  # one repair, with the error shown
            progress("repairing: " + problem)
            retry = prompts.repair(prompt, answer, problem)
            text = render_chat(retry.messages, template, retry.answer_prefix)
            answer, gen2 = await self._generate(text, retry, backend, cancel, progress)
            timings.update(repair_model_ms=round(gen2.prefill_ms + gen2.decode_ms, 1), repair_stop=gen2.stop_reason,
                           first_problem=problem)
            built, problem = await self._build_checked(plan, answer, gen2.stop_reason, timings)
            repaired = True
        latency = round((time.perf_counter() - started) * 1000, 1)
        timings["total_ms"] = latency
        if built is not None:
            timings.update(built.notes)
        if problem is not None:
            timings["refused"] = problem
        # The output recorded is the model's own continuation of the prompt (prompt + output is what it
        # wrote, as for completions); what was applied is derived from it.
        rec = GenerationRecord(workspace=ws.root, path=plan.rel, line=plan.line, character=0, kind="action",
                               mode=req.action, prompt=text, output=answer, model=backend.name, adapter=None,
                               latency_ms=latency, source="model", timings={**timings, "repaired": repaired})
        self.events.record_generation(rec)
        if problem is not None:
            raise ActionError(f"{problem}; nothing was changed", "refused", rec.id)
        focus = built.focus or (req.path, plan.line)  # Explain: the first line explained
        return ActionResult(req.action, rec.id, built.files, built.markdown, focus, built.output, latency, repaired,
                            timings)

    async def _build_checked(self, plan: _Plan, answer: str, stop: str,
                             timings: dict) -> tuple[Built | None, str | None]:
        """`_build` of the answer as the plugins' post-processors leave it (a veto: nothing to build, the
        reason as the problem). The model's own answer is what gets recorded."""
        plugins = self.engine.plugins
        if plan.asked is not None and answer.strip() and plugins.has_postprocessors:
            outcome = await asyncio.get_running_loop().run_in_executor(self._pool, plugins.postprocess, plan.asked,
                                                                       answer)
            timings.update(outcome.notes())
            if outcome.text is None:
                return None, f"the plugin {outcome.vetoed_by} vetoed the answer"
            answer = outcome.text
        return self._build(plan, answer, stop)

    def _build(self, plan: _Plan, answer: str, stop: str) -> tuple[Built | None, str | None]:
        try:
            built = plan.build(answer, stop)
        except BadAnswer as exc:
            return None, str(exc)
        return built, built.problem

    async def _generate(self, text: str, prompt: prompts.ChatPrompt, backend, cancel: threading.Event,
                        progress: Callable[[str], None]):
        rule = stop_at(*prompt.stop, at_line_start=prompt.stop_at_line_start)
        last = [time.monotonic()]

        def stop(so_far: str) -> int | None:  # called after every token, on the model thread
            now = time.monotonic()
            if now - last[0] > PROGRESS_EVERY_S:
                last[0] = now
                progress(f"writing ({so_far.count(chr(10)) + 1} lines)")
            return rule(so_far)

        progress("reading the prompt")
        try:
            gen = await self.engine.run_on_model(backend.generate, text, prompt.max_new_tokens, stop, cancel, "", None)
        except asyncio.CancelledError:
            cancel.set()  # the generation stops at its next token (or prefill chunk)
            raise
        if gen.stop_reason == "cancelled":
            raise asyncio.CancelledError()
        return gen.text, gen

    def _template(self, backend) -> str | None:
        key = id(backend)
        if key not in self._templates:
            self._templates = {key: template_of(backend)}  # one model at a time: forget the previous one's
        return self._templates[key]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ----- plans (worker thread: retrieval, reading the workspace)
    def _plan(self, req: ActionRequest, ws, backend, read_text: Callable[[str], str | None]) -> _Plan:
        rel = os.path.relpath(req.path, ws.root).replace(os.sep, "/")
        python = language_of(req.path) == "python"
        text = req.text
        count = backend.count_tokens
        s = self.settings
        total = max(s.prompt_tokens, prompts.MIN_PROMPT_TOKENS)
        language = language_of(req.path) or "text"
        if req.action in ("docstring", "tests"):
            target = self._python_target(text, req.start[0], req.action)
            region = Region(target.start, target.end)
        elif req.action == "refactor":
            region = targets.selection_region(text, req.start, req.end)
            if region is None:
                raise ActionError("Refactor selection needs a selection: select the code to refactor first")
        elif req.action == "fix":
            if req.problem is None:
                raise ActionError("Fix needs the diagnostic it fixes (data.diagnostic)")
            region = targets.fix_region(text, req.problem.start[0], req.problem.end[0]) if python else \
                targets.Region(max(0, req.problem.start[0] - targets.FIX_WINDOW),
                               min(len(targets.lines_of(text)) - 1, req.problem.end[0] + targets.FIX_WINDOW))
        else:
            region = targets.selection_region(text, req.start, req.end)
            if region is None and python and (t := targets.target_at(text, req.start[0])) is not None:
                region = Region(t.start, t.end)
            region = region or targets.paragraph_region(text, req.start[0])
            if region is None:
                raise ActionError("nothing to explain here: select some code, or put the cursor in a function")
        lines = targets.lines_of(text)
        before, after = "\n".join(lines[:region.first]), "\n".join(lines[region.last + 1:])
        asked = PluginRequest(rel, req.path, ws.root, language, before, after, "action", req.action)
        snippets = self._snippets(ws, rel, language, text, region) + self._plugin_snippets(asked, count, total)
        ctx = prompts.Context(rel, language, before, after, snippets)
        code = targets.region_text(text, region)
        indent = targets.common_indent(code)
        plain = _dedent(code, indent)
        rules = "" if req.action == "explain" else self._rules(ws.root, language)
        try:
            if req.action == "explain":
                prompt = prompts.explain(plain, ctx, count, total, s.context_share)
                build = build_explain
            elif req.action == "docstring":
                prompt, build = self._docstring_plan(req, ws, target, plain, ctx, count, total, read_text, rules)
            elif req.action == "tests":
                prompt, build = self._tests_plan(req, ws, rel, target, plain, ctx, count, total, read_text, rules)
            elif req.action == "refactor":
                prompt = prompts.rewrite(plain, req.instruction, ctx, count, total, s.context_share, rules)
                build = functools.partial(build_region, text, req.path, region, indent, python, "refactored code")
            else:
                p = req.problem
                prompt = prompts.fix(plain, region.first, p.message, p.start[0], lines[p.start[0]], ctx, count, total,
                                     s.context_share, rules)
                build = functools.partial(build_region, text, req.path, region, indent, python, "fixed code")
        except prompts.TooLong as exc:
            raise ActionError(f"the code is too long for one prompt ({exc}): select less, or raise promptTokens")
        notes = {"region": [region.first + 1, region.last + 1], **({"conventions": rules} if rules else {})}
        return _Plan(prompt, build, rel, region.first, notes, asked)

    def _rules(self, root: str, language: str) -> str:
        """The "Follow this project's conventions: …" line of the workspace's preferences ("" if it fails)."""
        try:
            learned, notes = self.preferences.get(root, self.settings, self.events)
        except Exception as exc:  # preferences are a hint: the action goes on without them
            log.warning("reading the preferences of %s failed: %s", root, exc)
            return ""
        return prefs_mod.conventions_block(learned, notes, language)

    def _python_target(self, text: str, line: int, action: str) -> Target:
        tree, error = targets.parse(text)
        if tree is None:
            raise ActionError(f"the file does not parse ({error}): fix that first (Fix with Growpilot can)")
        target = targets.target_at(text, line)
        if target is None:
            what = "document" if action == "docstring" else "test"
            raise ActionError(f"no function or class at the cursor: put the cursor on the one to {what}")
        return target

    def _snippets(self, ws, rel: str, language: str, text: str, region: Region) -> list:
        """The engine's retrieval as if the cursor sat at the end of the code: definitions (from other files)
        of the names the code uses, then search hits on its last lines."""
        lines = targets.lines_of(text)
        prefix = "\n".join(lines[:region.last + 1])
        suffix = "\n".join(lines[region.last + 1:])
        ctx = CursorContext(rel, language, prefix, suffix and "\n" + suffix, region.last, "block")
        try:
            return self.engine.group(self.engine.ranked_context(ws, ctx))
        except Exception as exc:  # an index being rebuilt: the action goes on without context
            log.warning("retrieval for a code action failed: %s", exc)
            return []

    def _plugin_snippets(self, asked: PluginRequest, count, total: int) -> list:
        """The context providers' snippets, cut to their share of the budget; after the retrieved ones (the
        action prompt's snippets then share its context share)."""
        plugins = self.engine.plugins
        if not plugins.has_context:
            return []
        return fit_snippets(plugins.context(asked), int(total * PLUGIN_SHARE), count)[0]

    # ----- the actions' plans (the builders they return are the pure functions below the class)
    def _docstring_plan(self, req: ActionRequest, ws, target: Target, plain: str, ctx, count, total, read_text,
                        rules: str = ""):
        root = Path(ws.root)
        style = conventions.docstring_style(req.text, self._other_python(root, req.path, read_text))
        chosen = prefs_mod.parse_explicit(self.settings.preferences)[0].get("docstringStyle")
        if chosen is not None and chosen != style.style:  # the growpilot.preferences setting wins
            style = conventions.DocstringStyle(chosen, None, "settings")
        header_first, header_last = target.header_lines
        lines = targets.lines_of(req.text)
        header = _dedent("\n".join(lines[header_first:header_last + 1]), target.indent)
        code = "\n".join(plain.split("\n")[:MAX_DOC_CODE_LINES])
        prompt = prompts.docstring(code, header, target.kind, target.qualname, target.params, target.returns,
                                   target.yields, target.raises, style.style, ctx, count, total,
                                   self.settings.context_share, rules)
        notes = {"style": style.style, "style_from": style.source}
        return prompt, functools.partial(build_docstring, req.text, req.path, target, notes=notes)

    def _tests_plan(self, req: ActionRequest, ws, rel: str, target: Target, plain: str, ctx, count, total, read_text,
                    rules: str = ""):
        root = Path(ws.root)
        files, dirs, packages = conventions.python_files(root, self.settings.exclude_dirs)
        test_files = [f for f in files if conventions.is_test_file(f) and not f.endswith("conftest.py")]
        place = conventions.test_place(rel, test_files, dirs)
        test_dir = place.rel.rsplit("/", 1)[0] if "/" in place.rel else ""
        nearest = sorted(test_files, key=lambda t: (conventions.distance(t, test_dir), t))
        framework = conventions.test_style([read_text(str(root / t)) or "" for t in nearest[:TEST_FILES]])
        framework = prefs_mod.parse_explicit(self.settings.preferences)[0].get("testFramework", framework)
        module, import_root = conventions.module_name(rel, packages)
        if import_root not in ("", test_dir) and not any(rel.startswith(p + "/") for p in packages):
            # A plain folder (no __init__.py) imported from elsewhere: a namespace package from the root.
            module, import_root = rel.removesuffix(".py").replace("/", "."), ""
        existing = read_text(str(root / place.rel)) if place.exists else None
        example_file = place.rel if place.exists else (nearest[0] if nearest else None)
        example_text = existing if place.exists else read_text(str(root / example_file)) if example_file else None
        example = "\n".join((example_text or "").split("\n")[:EXAMPLE_LINES]) or None
        header = generated_tests_header(framework, module, target)
        prompt = prompts.tests(plain, target.kind, target.qualname, module, framework, header, example, ctx, count,
                               total, self.settings.context_share, rules)
        notes = {"test_file": place.rel, "test_file_existed": place.exists, "framework": framework, "module": module,
                 "import_root": import_root}
        return prompt, functools.partial(build_tests, str(root / place.rel), existing, header, notes=notes)

    def _other_python(self, root: Path, path: str, read_text) -> list[str]:
        """A few other Python files of the project, those of the same folder first (its docstring style)."""
        files, _, _ = conventions.python_files(root, self.settings.exclude_dirs, limit=400)
        here = os.path.relpath(os.path.dirname(path), root).replace(os.sep, "/")
        own = os.path.relpath(path, root).replace(os.sep, "/")
        ranked = sorted((f for f in files if f != own and not conventions.is_test_file(f)),
                        key=lambda f: (conventions.distance(f, "" if here == "." else here), f))
        return [conventions.read_head(root / f) for f in ranked[:STYLE_FILES]]


def generated_tests_header(framework: str, module: str, target: Target) -> str:
    """What opens a generated test module (written for the model, so its imports resolve): the
    framework, the import of the function (a method: its class), the start of the first test."""
    name = target.owner or target.name
    if framework == "pytest":
        return f"import pytest\n\nfrom {module} import {name}\n\n\ndef test_"
    camel = "".join(part[:1].upper() + part[1:] for part in target.name.split("_") if part)
    return f"import unittest\n\nfrom {module} import {name}\n\n\nclass Test{camel}(unittest.TestCase):\n    def test_"


# ----- from an answer to what is applied (pure: `answer` is what the model wrote after the prompt)
def build_explain(answer: str, stop: str) -> Built:
    text = answer.strip()
    if not text:
        raise BadAnswer("the model's explanation is empty")
    return Built([], text, None, markdown=text, notes={"cut": stop == "max_tokens"})


def build_docstring(text: str, path: str, target: Target, answer: str, stop: str, notes: dict | None = None) -> Built:
    """The docstring in quotes we write ourselves: whatever the model says, the file still parses."""
    body = edits.docstring_body(answer)
    edit = edits.docstring_edit(text, target, body)
    after = edits.apply(text, [edit])
    problem = edits.parse_problem(text, after, edits.changed_lines([edit], text))
    return Built([FileEdit(path, (edit,), after, text)], edit.new_text, (path, target.def_line),
                 problem=problem and f"the docstring would break the file: {problem}", syntax=bool(problem),
                 notes={**(notes or {}), "params": list(target.params),
                        "params_missing": edits.mentions_all(body, target.params)})


def build_tests(path: str, existing: str | None, header: str, answer: str, stop: str,
                notes: dict | None = None) -> Built:
    """A test module (new, or appended to `existing`) from the header we wrote and the model's rest."""
    code = edits.code_of(header + answer)
    if stop == "max_tokens":
        code = _complete_part(code)
    edit, first = edits.test_file_edit(path, existing, code)
    problem = edits.parse_problem(existing or "", edit.text_after, edits.changed_lines(edit.edits, existing or ""))
    return Built([edit], code, (path, first), problem=problem and f"the generated tests do not parse: {problem}",
                 syntax=bool(problem), notes=dict(notes or {}))


def build_region(text: str, path: str, region: Region, indent: str, python: bool, what: str, answer: str,
                 stop: str) -> Built:
    """A refactor or fix: the region's lines replaced by the answer's code, re-indented, as the fewest
    line edits; refused when cut off, unchanged, or (Python) no longer parsing."""
    if stop == "max_tokens":
        return Built([], answer, None, problem=f"the {what} was cut off at the token limit")
    new = edits.reindent(edits.code_of(answer), indent)
    changes = edits.region_edits(text, region, new)
    if not changes:
        return Built([], new, None, problem=f"the {what} is the same as the original: there is nothing to change")
    after = edits.apply(text, changes)
    problem = None
    if python:
        problem = edits.parse_problem(text, after, edits.changed_lines(changes, text))
        if problem is None and targets.parse(text)[0] is None:
            problem = edits.alone_problem(targets.region_text(text, region), new, region.first)
    return Built([FileEdit(path, changes, after, text)], new, (path, changes[0].start[0]),
                 problem=problem and f"the {what} does not parse: {problem}", syntax=bool(problem),
                 notes={"edits": len(changes)})


def _only(offers: list[Offer], only: Sequence[str] | None) -> list[Offer]:
    """Offers whose kind is one of `only` or under one (LSP kinds are hierarchical: `refactor` takes
    `refactor.rewrite`)."""
    if not only:
        return offers
    return [o for o in offers if any(o.kind == k or o.kind.startswith(k + ".") for k in only)]


def _short(message: str, limit: int = 60) -> str:
    first = message.strip().split("\n")[0]
    return first if len(first) <= limit else first[:limit - 1] + "…"


def _dedent(code: str, indent: str) -> str:
    return "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in code.split("\n"))


def _read_disk(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _complete_part(code: str) -> str:
    """Of test code cut off at the token limit, the part up to its last complete top-level block."""
    import ast

    lines = code.split("\n")
    starts = [i for i, line in enumerate(lines) if re.match(r"(def |class |async def |@)", line)]
    for cut in reversed(starts[1:]):
        head = "\n".join(lines[:cut]).rstrip()
        try:
            ast.parse(head)
            return head
        except SyntaxError:
            continue
    return code
