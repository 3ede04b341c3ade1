"""The completion engine shared by inline completions, classic completions and `growpilot complete`.

keystroke → (typed-ahead reuse) → debounce, latest wins → retrieval + prompt (worker thread) →
(LRU cache) → model (worker thread, cancellable) → postprocess → recorded suggestion.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from growpilot.completion.context import (
    CursorContext,
    completion_mode,
    search_query,
    split_at,
    stop_rule,
    within_budget,
)
from growpilot.completion.names import overlap, split_imports, subwords
from growpilot.completion.outline import definition_view, is_class, is_overload
from growpilot.completion.postprocess import postprocess
from growpilot.completion.prompt import Budget, BuiltPrompt, build_prompt, retype_prompt, stable_text
from growpilot.config import Settings
from growpilot.indexing.languages import language_of, line_comment
from growpilot.indexing.secrets import is_secret_path
from growpilot.learning.events import EventStore, GenerationRecord
from growpilot.learning.metrics import BASE
from growpilot.learning.memory import MEMORY_SHARE, TYPED_SHARE, Memory
from growpilot.models.fim import Snippet
from growpilot.models.healing import heal_split
from growpilot.models.holder import ModelHolder
from growpilot.plugins import Request as PluginRequest
from growpilot.plugins.host import PLUGIN_SHARE, PluginHost

log = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{2,}\b")
CACHE_SIZE = 256
QUERY_LINES = 8  # lines before the cursor that make the search query (fewer words: a faster query embedding)
NAME_LINES = 150  # lines before the cursor whose identifiers may name definitions worth showing
NEAR_LINES = 8  # names used this close to the cursor matter most
TOPIC_LINES = 12  # the words of these lines tell which imported name comes next
HEAD_LINES = 200  # a file's first lines (its imports) name what it is about to use
EXCLUDE_BEFORE, EXCLUDE_AFTER = 80, 30  # same-file lines around the cursor: already in the prompt
# The suffix while typing along a line (`typingReuse`): the line's rest and a line or two below it. In
# prefix-suffix-middle order the model re-reads the suffix at every keystroke, at ~150 prompt tokens/s on
# two cores: the full one (~300 tokens) costs ~2 s a keystroke, this ~0.2 s (docs/benchmarks.md).
TYPING_SUFFIX_TOKENS = 32


@dataclass(frozen=True)
class CompletionRequest:
    path: str  # absolute real path (symlinks resolved at the edge: the index names files by real path)
    text: str  # the document as the editor has it (unsaved changes included)
    line: int  # 0-based
    character: int  # 0-based, code points
    kind: str = "inline"  # inline | completion | cli


@dataclass
class Suggestion:
    text: str
    generation_id: str
    latency_ms: float
    source: str  # model | cache | typeahead
    mode: str
    timings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Workspace:
    """What retrieval needs to know about the folder a file lives in."""
    root: str
    search: Callable  # WorkspaceIndex.search
    definitions: Callable  # WorkspaceIndex.definitions
    members: Callable  # WorkspaceIndex.members
    adapter: str | None = None  # the folder's promoted LoRA adapter (a peft folder); None: the base model
    adapter_version: str | None = None  # its registry version (v3), recorded with every generation
    context_enabled: bool = True  # retrieved snippets in its prompts (see calibration.py)
    # A/B (learning/ab.py): the experiment and the challenger's adapter folder (None: the base model)
    challenger: tuple | None = None
    arm: str | None = None  # of this request: "active" | "challenger"; None: no A/B

    def for_position(self, path: str, line: int) -> "Workspace":
        """This workspace as it serves one position: under A/B, the arm's adapter."""
        if self.challenger is None:
            return self
        experiment, adapter = self.challenger
        arm = experiment.arm(path, line)
        if arm == "active":
            return dataclasses.replace(self, arm=arm)
        version = None if experiment.challenger == BASE else experiment.challenger
        return dataclasses.replace(self, adapter=adapter, adapter_version=version, arm=arm)


@dataclass(frozen=True)
class _Layout:
    """The last prompt built, and where: the next keystroke on its line may keep its layout."""
    settings: Settings
    path: str  # workspace root / relative path
    line: int
    above: str  # the text before the cursor line
    line_prefix: str  # the cursor line up to the cursor, as the prompt has it (healed)
    suffix: str  # the text after the cursor then
    prompt: BuiltPrompt
    suffix_read: bool = True  # the model has read the prompt's suffix (a warm-up reads only what is above the line)

    @property
    def below(self) -> str:
        """The text after the cursor line."""
        return self.suffix[len(self.suffix.split("\n", 1)[0]):]

    def follows(self, settings: Settings, path: str, ctx: CursorContext) -> bool:
        """Whether `ctx` is the same line, edited only on that line (typing along it), same settings."""
        return (path == self.path and ctx.line == self.line and settings == self.settings and ctx.prefix.startswith(self.above)
                and "\n" not in ctx.prefix[len(self.above):] and ctx.suffix.endswith(self.below)
                and "\n" not in ctx.suffix[:len(ctx.suffix) - len(self.below)])


@dataclass
class _Shown:
    path: str
    prefix: str
    suffix: str
    text: str
    mode: str


class CompletionEngine:
    def __init__(self, model: ModelHolder, events: EventStore, settings: Callable[[], Settings],
                 workspace_for: Callable[[str], Workspace | None] = lambda path: None,
                 plugins: PluginHost | None = None, memory: Memory | None = None):
        """`settings` returns the current settings, `plugins` holds the context providers and
        post-processors (none when not given), `memory` finds few-shot examples (none when not given):
        their one owner is the caller (Services)."""
        self.model = model
        self.plugins = plugins or PluginHost()
        self.memory = memory
        self.events = events
        self._settings = settings
        self.workspace_for = workspace_for
        self._seq = 0
        self._running: threading.Event | None = None
        self._cache: OrderedDict[bytes, str] = OrderedDict()
        self._last: _Shown | None = None
        self._layout: _Layout | None = None  # written on the prompt thread; warm() also reads it (one reference)
        self._pending = 0  # requests being answered (complete)
        self._warming: str | None = None  # the text the warm-up that runs (self._running) prefills
        self.last_timings: dict = {}  # of the latest request that got as far as the model (benchmarks read it)
        self._prepare_pool = ThreadPoolExecutor(1, thread_name_prefix="growpilot-prompt")
        self._model_pool = ThreadPoolExecutor(1, thread_name_prefix="growpilot-generate")

    @property
    def settings(self) -> Settings:
        return self._settings()

    # ----- the pipeline
    async def complete(self, req: CompletionRequest, debounce: bool = True) -> Suggestion | None:
        self._pending += 1  # a warm-up waits for no request and starts none while one is being answered
        try:
            return await self._complete(req, debounce)
        finally:
            self._pending -= 1

    def _where_is(self, req: CompletionRequest) -> tuple[Workspace | None, CursorContext]:
        """The request's workspace (as it serves that position) and cursor context."""
        prefix, suffix = split_at(req.text, req.line, req.character)
        ws = self.workspace_for(req.path)
        rel = os.path.relpath(req.path, ws.root) if ws else os.path.basename(req.path)
        ws = ws.for_position(rel, req.line) if ws else None
        return ws, CursorContext(rel, language_of(req.path) or "text", prefix, suffix, req.line,
                                 completion_mode(prefix, suffix))

    async def _complete(self, req: CompletionRequest, debounce: bool) -> Suggestion | None:
        if is_secret_path(req.path):
            return None  # a secrets file (.env, a key): no model reads it, nothing is recorded
        started = time.perf_counter()
        self._seq += 1
        seq = self._seq
        backend = self.model.backend
        if not self.settings.completions_enabled or backend is None:
            return None  # answer at once rather than block while the model loads
        ws, ctx = self._where_is(req)
        if (rest := self._typed_ahead(req.path, ctx)) is not None:
            return self._record(req, ws, ctx, "", rest, started, "typeahead", {})
        # The same context again (a re-trigger, a cursor moved back): the same answer, without retrieval.
        key = _context_key(backend, self.settings, req.path, ctx, ws.adapter if ws else None)
        if (hit := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            return self._record(req, ws, ctx, "", hit, started, "cache", {})
        if debounce and self.settings.debounce_ms:
            await asyncio.sleep(self.settings.debounce_ms / 1000)
            if seq != self._seq:
                return None  # a newer keystroke superseded this one
        loop = asyncio.get_running_loop()
        t_prep = time.perf_counter()
        asked = _plugin_request(req, ws, ctx)
        prompt, forced, timings = await loop.run_in_executor(self._prepare_pool, self._prepare, ws, ctx, backend, asked)
        timings["prepare_ms"] = _ms(t_prep)
        cancel = threading.Event()
        # Latest wins: stop the generation still running, unless it is the warm-up of this prompt's start.
        if self._running is not None and not (self._warming and prompt.text.startswith(self._warming)):
            self._running.set()
        self._running, self._warming = cancel, None
        stop = stop_rule(ctx.mode, ctx.prefix)
        if self.settings.decode_budget_ms:
            stop = within_budget(stop, self.settings.decode_budget_ms / 1000)
        try:
            asked_model = time.perf_counter()
            began, gen = await loop.run_in_executor(self._model_pool, _timed, backend.generate, prompt.text,
                                                    self.settings.max_tokens, stop, cancel, forced,
                                                    ws.adapter if ws else None)
        except asyncio.CancelledError:
            cancel.set()
            raise
        # model_wait: for the model thread (a warm-up prefilling this prompt's start, a code action)
        timings.update(model_wait_ms=round((began - asked_model) * 1000, 1),
                       model_ms=round(gen.prefill_ms + gen.decode_ms, 1), prefill_ms=round(gen.prefill_ms, 1),
                       decode_ms=round(gen.decode_ms, 1), encode_ms=gen.encode_ms, prompt_tokens=gen.prompt_tokens,
                       reused_tokens=gen.reused_tokens, new_tokens=gen.tokens, stop=gen.stop_reason)
        if gen.stop_reason == "cancelled" or seq != self._seq:
            return None
        t_post = time.perf_counter()
        # The healed text is the user's own: what follows it is the suggestion.
        text = postprocess(gen.text[len(forced):], ctx, backend.template.stops) if gen.text.startswith(forced) else None
        timings["postprocess_ms"] = _ms(t_post)
        if text and self.plugins.has_postprocessors:  # off the event loop: a plugin may be slow
            outcome = await loop.run_in_executor(self._prepare_pool, self.plugins.postprocess, asked, text)
            text = outcome.text
            timings.update(plugins_ms=outcome.ms, **outcome.notes())
        self._cache[key] = text or ""
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return self._record(req, ws, ctx, prompt.text, text or "", started, "model", timings)

    async def warm(self, req: CompletionRequest) -> str:
        """Warm-up (`warmUp`): the cursor rests at `req`. Lay out the prompt a request there would get and
        prefill its stable part, all of it before the cursor line: the keystrokes on that line keep it
        (`typingReuse`), so the request that follows re-reads only its line and a short suffix. It never
        bumps the request sequence (it supersedes no request) and starts no prefill while a request is
        being answered; a request that keeps this part waits for it (the work is its own), any other
        cancels it. Returns what it did: off, busy, cached (this line is laid out already), cancelled or
        warmed."""
        s, backend = self.settings, self.model.backend
        if not (s.warm_up and s.completions_enabled) or backend is None or is_secret_path(req.path):
            return "off"
        if self._pending:
            return "busy"
        ws, ctx = self._where_is(req)
        layout = self._layout
        if layout is not None and layout.follows(s, _where(ws, ctx), ctx):
            return "cached"
        loop = asyncio.get_running_loop()
        prompt, _, _ = await loop.run_in_executor(self._prepare_pool, self._prepare, ws, ctx, backend,
                                                  _plugin_request(req, ws, ctx), True)
        layout = self._layout
        stable = stable_text(backend.template, prompt, layout.line_prefix) if layout and layout.prompt is prompt else None
        if self._pending or not stable:
            return "busy" if self._pending else "off"
        cancel = threading.Event()
        if self._running is not None:
            self._running.set()  # an earlier warm-up, elsewhere: this position is the one that matters now
        self._running, self._warming = cancel, stable
        gen = await loop.run_in_executor(self._model_pool, backend.generate, stable, 0, None, cancel, "",
                                         ws.adapter if ws else None)
        return "cancelled" if gen.stop_reason == "cancelled" else "warmed"

    def _prepare(self, ws: Workspace | None, ctx: CursorContext, backend,
                 asked: PluginRequest | None = None, warm_up: bool = False) -> tuple[BuiltPrompt, str, dict]:
        """The prompt, and the text its answer must start with (token healing: the prompt gives up the
        cursor line's last token, so it never ends inside one). Plugins' snippets come with their own share
        of the budget, whatever the context gate says of retrieval."""
        t0 = time.perf_counter()
        forced = heal_split(ctx.line_prefix, backend.encode, backend.decode) if self.settings.token_healing else ""
        healed = dataclasses.replace(ctx, prefix=ctx.prefix[:len(ctx.prefix) - len(forced)])
        if (prompt := self._retyped(ws, healed, backend)) is not None:
            timings = {"retrieval_ms": 0.0, "prompt_build_ms": _ms(t0), "typing_reuse": True, "healed": forced,
                       "snippets": [x.path for x in prompt.snippets], "provenance": prompt.provenance()}
            return prompt, forced, timings
        snippets = self.retrieve(ws, ctx)
        t_plugins = time.perf_counter()
        extra = self.plugins.context(asked) if asked is not None and self.plugins.has_context else []
        t_memory = time.perf_counter()
        examples, typed = self._memory(ws, ctx)
        t1 = time.perf_counter()
        prompt = self.build(ws, healed, backend, snippets, extra=extra, examples=examples, typed=typed)
        self._remember(ws, healed, prompt, suffix_read=not warm_up)
        timings = {"retrieval_ms": round((t_plugins - t0) * 1000, 2), "prompt_build_ms": _ms(t1),
                   "snippets": [f"{x.path}" for x in prompt.snippets], "healed": forced}
        if self.memory is not None and ws is not None:
            timings["memory_ms"] = round((t1 - t_memory) * 1000, 2)
        timings["provenance"] = prompt.provenance()  # the GenerationRecord takes it (events.sqlite `provenance`)
        if extra:
            timings.update(plugin_context_ms=round((t_memory - t_plugins) * 1000, 2),
                           plugin_snippets=[x.path for x in extra])
        return prompt, forced, timings

    def _retyped(self, ws: Workspace | None, ctx: CursorContext, backend) -> BuiltPrompt | None:
        """While typing along a line (`typingReuse`): the last prompt's layout with the line as typed now
        and a short suffix, so the model re-reads only the end of the prompt (retrieval, plugins and memory
        are not asked again); the last prompt itself while the healed line is unchanged (the typed
        characters are all in the healed token: nothing to re-read, the full suffix stays) unless a warm-up
        laid it out (it read only what is above the line). None for the first request on a line."""
        layout, settings = self._layout, self.settings
        if not settings.typing_reuse or layout is None or not layout.follows(settings, _where(ws, ctx), ctx):
            return None
        line = ctx.line_prefix
        if line == layout.line_prefix and ctx.suffix == layout.suffix and layout.suffix_read:
            return layout.prompt  # typed within the healed token: the same prompt, its whole suffix cached
        prompt = retype_prompt(backend.template, backend.count_tokens, layout.prompt, layout.line_prefix, line,
                               ctx.suffix, TYPING_SUFFIX_TOKENS, ctx.path, _repo_name(ws), line_comment(ctx.language),
                               repo_format=settings.context_format == "repo")
        if prompt is not None:
            self._layout = dataclasses.replace(layout, line_prefix=line, suffix=ctx.suffix, prompt=prompt, suffix_read=True)
        return prompt

    def _remember(self, ws: Workspace | None, ctx: CursorContext, prompt: BuiltPrompt, suffix_read: bool = True) -> None:
        self._layout = _Layout(self.settings, _where(ws, ctx), ctx.line, ctx.prefix[:len(ctx.prefix) - len(ctx.line_prefix)],
                               ctx.line_prefix, ctx.suffix, prompt, suffix_read)

    def _memory(self, ws: Workspace | None, ctx: CursorContext) -> tuple[list, object | None]:
        """The few-shot examples and the user's typed lines for this cursor (learning/memory.py); none
        when memory is off or fails."""
        k = self.settings.memory_examples
        if self.memory is None or ws is None or k <= 0:
            return [], None
        try:
            return (self.memory.examples(ws.root, ctx.prefix, k, (ctx.path, ctx.prefix + ctx.suffix)),
                    self.memory.typed_lines(ws.root, ctx.path, ctx.line_prefix))
        except Exception as exc:  # memory must never cost a completion
            log.exception("few-shot memory failed: %s", exc)
            return [], None

    def build(self, ws: Workspace | None, ctx: CursorContext, backend, snippets: list[Snippet],
              repo_format: bool | None = None, extra: list[Snippet] = (), examples: list = (),
              typed=None) -> BuiltPrompt:
        s = self.settings
        return build_prompt(backend.template, backend.count_tokens, ctx.prefix, ctx.suffix, snippets, ctx.path,
                            _repo_name(ws),
                            Budget(s.prompt_tokens, s.context_share, s.suffix_share, PLUGIN_SHARE, MEMORY_SHARE,
                                   TYPED_SHARE),
                            line_comment(ctx.language),
                            repo_format=s.context_format == "repo" if repo_format is None else repo_format,
                            extra=extra, examples=examples, typed=typed)

    def retrieve(self, ws: Workspace | None, ctx: CursorContext) -> list[Snippet]:
        """Snippets for the prompt, other files first and never the part of this file the prompt shows:
        definitions of the names used just before the cursor, then hybrid-search hits on those lines.
        None where the workspace's calibration found that context does not help there."""
        if ws is not None and not ws.context_enabled:
            return []
        return self.group(self.ranked_context(ws, ctx))

    @staticmethod
    def group(ranked: list[tuple]) -> list[Snippet]:
        """Ranked (chunk, why) pairs as prompt snippets: one per file, its chunks in line order."""
        return _by_file([chunk for chunk, _ in ranked])

    def ranked_context(self, ws: Workspace | None, ctx: CursorContext) -> list[tuple]:
        """(chunk, why) best first, at most `retrievalSnippets`: why is "imported" (a definition of a name
        the file imports and has not used yet), "near" / "used" (of a name used on the last lines / before),
        or "search" (a hybrid-search hit on the lines before the cursor)."""
        n = self.settings.retrieval_snippets
        if ws is None or not n:
            return []
        chosen: list[tuple] = self._definitions(ws, ctx, n)
        query = search_query(ctx.prefix, QUERY_LINES)  # nearest words first; memory embeds the same text
        if query.strip() and len(chosen) < n:
            lo, hi = ctx.line + 1 - EXCLUDE_BEFORE, ctx.line + 1 + EXCLUDE_AFTER

            def in_view(row) -> bool:
                return row.path == ctx.path and row.end_line >= lo and row.start_line <= hi

            seen = {c.id for c, _ in chosen}
            hits = [h for h in ws.search(query, k=n * 2, exclude=in_view) if h.chunk_id not in seen]
            chosen += [(h, "search") for h in hits if h.path != ctx.path] + [(h, "search") for h in hits if h.path == ctx.path]
        return chosen[:n]

    @staticmethod
    def _definitions(ws: Workspace, ctx: CursorContext, n: int) -> list[tuple]:
        """Chunks from other files defining names the file needs. First what it imports but has not used
        yet (about to be called; what its own text cannot show) — those whose words the lines at the cursor
        use first (`trace_id = ` → gen_trace_id), then in import order —; then names on the last few lines
        (nearest first), then the rest by proximity. On 40 cross-file lines of openai-agents the
        definition was among the snippets in 35 tasks (22 when names mentioned once came first, without
        parsing imports or looking at words) and the NLL ratio went from 0.95 to 0.77. An import inside
        a function (indented) is for the lines right below it: it comes first (rich imports that way)."""
        prefix_lines = ctx.prefix.split("\n")
        # The file's head (its imports) and the lines before the cursor; positions grow towards the cursor.
        head = prefix_lines[:-NAME_LINES][:HEAD_LINES]
        imported, body = split_imports("\n".join(head + prefix_lines[-NAME_LINES:]))
        uses: dict[str, list[int]] = {}
        for m in _IDENTIFIER.finditer(body):
            uses.setdefault(m.group(0), []).append(m.start())
        middle = "\n".join(prefix_lines[HEAD_LINES:-NAME_LINES])  # of a long file: used there is not pending
        pending = [i for i in imported if i.local not in uses and not _mentions(middle, i.local)]
        pending = list(dict.fromkeys([i.name for i in reversed(pending) if i.nested] + [i.name for i in pending]))
        nested = {i.name for i in imported if i.nested}
        near = len(body) - len("\n".join(prefix_lines[-NEAR_LINES:]))
        for m in _IDENTIFIER.finditer("\n".join(ctx.suffix.split("\n")[:NEAR_LINES])):
            uses.setdefault(m.group(0), []).append(len(body))  # right after the cursor counts as near
        found = ws.definitions(pending + list(uses), ctx.path)
        topic = subwords("\n".join(body.split("\n")[-TOPIC_LINES:]))
        first = {name: (name not in nested, -overlap(name, topic), i) for i, name in enumerate(pending)}

        def rank(name: str) -> tuple:
            if name in first:
                return (0, *first[name])
            last = uses[name][-1]
            return (1, -last) if last >= near else (2, -last)

        why = ("imported", "near", "used")
        return [(_definition_view(ws, found[name]), why[rank(name)[0]]) for name in sorted(found, key=rank)[:n]]

    def _typed_ahead(self, path: str, ctx: CursorContext) -> str | None:
        """The user typed the start of the last suggestion: the rest of it, instantly."""
        last = self._last
        if last is None or last.path != path or last.suffix != ctx.suffix or not ctx.prefix.startswith(last.prefix):
            return None
        typed = ctx.prefix[len(last.prefix):]
        if typed and last.text.startswith(typed) and len(last.text) > len(typed):
            return last.text[len(typed):]
        return None

    def _record(self, req: CompletionRequest, ws: Workspace | None, ctx: CursorContext, prompt: str, text: str,
                started: float, source: str, timings: dict) -> Suggestion | None:
        backend = self.model.backend
        latency = _ms(started)
        timings["total_ms"] = latency
        if ws is not None and ws.arm:
            timings["ab_arm"] = ws.arm
        self.last_timings = timings
        if source != "typeahead":
            self._last = _Shown(req.path, ctx.prefix, ctx.suffix, text, ctx.mode) if text else None
        if not text:
            return None
        rec = GenerationRecord(workspace=ws.root if ws else None, path=ctx.path, line=req.line, character=req.character,
                               kind=req.kind, mode=ctx.mode, prompt=prompt, output=text, model=backend.name,
                               adapter=ws.adapter_version if ws else None, latency_ms=latency, source=source, timings=timings,
                               provenance=timings.pop("provenance", None))
        self.events.record_generation(rec)
        return Suggestion(text, rec.id, latency, source, ctx.mode, timings)

    def forget_last(self) -> None:
        """No typed-ahead reuse of the last suggestion (evaluations that want every request modelled)."""
        self._last = None

    async def run_on_model(self, fn: Callable, *args):
        """Run another model call (a code action's generation) on the model thread: one model call at a
        time, in arrival order with completions. It is not a completion, so no completion cancels it."""
        return await asyncio.get_running_loop().run_in_executor(self._model_pool, fn, *args)

    def call_on_model(self, fn: Callable, *args):
        """`run_on_model` from a thread other than the event loop's (blocking)."""
        return self._model_pool.submit(fn, *args).result()

    def shutdown(self) -> None:
        if self._running is not None:
            self._running.set()
        self._prepare_pool.shutdown(wait=False, cancel_futures=True)
        self._model_pool.shutdown(wait=False, cancel_futures=True)


def _timed(fn: Callable, *args):
    """(when it began, what it returned): on the model thread, to tell queueing from the call."""
    return time.perf_counter(), fn(*args)


def _plugin_request(req: CompletionRequest, ws: Workspace | None, ctx: CursorContext) -> PluginRequest:
    return PluginRequest(ctx.path.replace(os.sep, "/"), req.path, ws.root if ws else None, ctx.language, ctx.prefix,
                         ctx.suffix, req.kind, ctx.mode)


def _repo_name(ws: Workspace | None) -> str:
    return os.path.basename(ws.root) if ws else "workspace"


def _where(ws: Workspace | None, ctx: CursorContext) -> str:
    return os.path.join(ws.root, ctx.path) if ws else ctx.path


def _mentions(text: str, name: str) -> bool:
    """Whether `text` uses the identifier `name` (a substring test first: most names are not there)."""
    return name in text and re.search(rf"(?<![\w.]){re.escape(name)}\b", text) is not None


def _definition_view(ws: Workspace, chunks: list):
    """The chunk that defines a name (the implementation, not an `@overload` stub), shown compactly; a
    class with its public methods' signatures."""
    head = next((c for c in chunks if not is_overload(c.text)), chunks[0])
    members = tuple(m.text for m in ws.members(head.path, head.symbol)) if is_class(head.text) else ()
    return dataclasses.replace(head, text=_compact_view(head.text, members))


# Per keystroke the same few definitions come back: compact each text once.
_compact_view = functools.lru_cache(maxsize=2048)(lambda head, members: definition_view(head, list(members)))


def _by_file(chunks: list) -> list[Snippet]:
    """One snippet per file (files in order of their best chunk), its chunks in line order."""
    files: dict[str, list] = {}
    for c in chunks:
        files.setdefault(c.path, []).append(c)
    return [Snippet.of_chunks(path, parts) for path, parts in files.items()]


def _context_key(backend, settings: Settings, path: str, ctx: CursorContext, adapter: str | None) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in (backend.name, str(adapter), repr(settings), path, ctx.prefix, "\0", ctx.suffix):
        h.update(part.encode("utf-8", "surrogatepass"))
    return h.digest()


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
