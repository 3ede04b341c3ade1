"""Few-shot memory: the workspace's own well-rated suggestions, shown to the model as examples.

For a new completion in workspace W, the candidates are W's past completions that the training data
would also take (`training.data.select_feedback`, the one place that decides it): 👍-rated ones, and
accepted ones still present in their file once MEMORY_RETAIN_AFTER_S old (retained). A generation with
any 👎 is never a candidate, accepted or 👍'd or not; neither is a shown-and-not-accepted one (it has
no accept), nor one whose prompt retention cleared (its context is gone). What the user typed in place of
a rejected suggestion (its latest non-blank `rewritten` signal, learning/signals.py) is one, though, even
when the suggestion got a 👎: its completion is the rewrite, its context the suggestion's.

Each candidate's context is the text just before the cursor it was generated at, the tail of the FIM
prefix of its stored prompt (`context_of`). It is embedded with the workspace's embedder once (cached by
generation id) and compared with the tail of the current request's prefix; the best `k` above
SIMILARITY_THRESHOLD are the examples. Each example is a snippet of its own file: its context tail
followed by the suggestion as it was kept. The engine gives them their own share of the prompt budget
(MEMORY_SHARE), laid out next to the current file (the retrieved snippets before them), and records their ids in the generation's provenance
(`growpilot prompt ID --json` → "examples").

The user's own lines are remembered too (`typed_lines`): the first line of each text they typed in place
of a rejected suggestion, in files of the current one's language (but not that file: its lines are in
view), newest last, each line once, for a cursor at a statement's start (where those lines began). They are shown as one more file of the workspace, `conventions.py`
(the current file's extension), in their own share of the budget (TYPED_SHARE): the project's own error
types, logger and helpers, wherever they were typed. At the preference sites of `growpilot eval memory`
on openai-agents (the tuning repository), examples alone won 30% against 20% without memory; with the
typed lines and laid out next to the current file, 35%, at no cost to retrieval-lift (docs/experiments.md,
2026-12-07 late).

Memory reads the store whenever it changed (EventStore.change_marker: any accept, rating, signal, retention,
clear or forget, by this process or another one, such as `growpilot feedback forget`): a forgotten (`growpilot feedback forget`), cleared or pruned
generation is no longer there, and its cached context and vector are dropped at the next request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from growpilot.completion.context import search_query
from growpilot.learning.events import EventStore
from growpilot.models.fim import TEMPLATES, Snippet

log = logging.getLogger(__name__)
MEMORY_SHARE = 0.15  # of the prompt budget, at most, for the examples together
TYPED_SHARE = 0.1  # … and for the typed lines
# The user's own lines shown, at most. Tuned on openai-agents with TYPED_SHARE: 12 lines in 20% won 50% of
# the preference sites but cost the retrieval-lift NLL 33% (the file's own lines squeezed out); 6 in 10%.
TYPED_LINES = 6
SIMILARITY_THRESHOLD = 0.5  # cosine of the normalized context embeddings (all-MiniLM-L6-v2)
# An accept counts as retained once this old and still in its file (training waits longer:
# training.data.RETAIN_AFTER_S); a 👍 counts at once.
MEMORY_RETAIN_AFTER_S = 30.0
CONTEXT_LINES = 8  # lines before the cursor compared (as the engine's retrieval query, QUERY_LINES)
CONTEXT_CHARS = 600  # … at most (the embedder reads 128 word pieces)
EXAMPLE_LINES = 4  # context lines an example shows before its suggestion, at most
MAX_CANDIDATES = 1000  # the most recent rated/accepted generations looked at
EMBED_PER_REQUEST = 16  # candidates embedded at most per request (the rest wait for later ones)
MAX_FILE_BYTES = 2_000_000  # a file read to tell retention


@dataclass(frozen=True)
class Example:
    id: str  # the generation's id
    path: str  # workspace-relative, of the file it was generated in
    context: str  # the text before its cursor (tail)
    completion: str  # what it suggested, with the text token healing made it spell again
    score: float

    def snippet(self, lines: int = EXAMPLE_LINES) -> Snippet:
        """The example as its own file's text: the last `lines` lines of context, then the suggestion."""
        return Snippet(self.path, tail(self.context, lines, CONTEXT_CHARS) + self.completion)


@dataclass(frozen=True)
class TypedLines:
    """The user's own lines typed in place of suggestions (see the module's docstring), oldest first."""
    ids: tuple[str, ...]  # the generations they replaced, one per line
    lines: tuple[str, ...]
    path: str  # the file they are shown as

    def snippet(self, newest: int) -> Snippet:
        return Snippet(self.path, "\n".join(self.lines[-newest:]))


def tail(text: str, lines: int = CONTEXT_LINES, chars: int = CONTEXT_CHARS) -> str:
    """The last `lines` lines of `text` (the cursor's line, maybe partial, is the last), at most `chars`."""
    return "\n".join(text.split("\n")[-lines:])[-chars:]


def context_of(prompt: str) -> str:
    """The text before the cursor that a stored completion prompt shows: the FIM prefix of any family's
    layout, after the snippets' repository-format files (models/fim.py); the whole prompt for a plain one."""
    body = prompt
    for t in TEMPLATES.values():
        if t.has_fim and prompt.startswith(t.prefix) and (end := prompt.rfind(t.suffix)) >= 0:
            body = prompt[len(t.prefix):end]
            break
    for t in TEMPLATES.values():
        if t.file_sep and (at := body.rfind(t.file_sep)) >= 0:
            _, _, body = body[at:].partition("\n")  # after the current file's own separator line
            break
    return body


class _Files(Mapping):
    """The workspace's files (relative path → text), read when asked; the current document as the
    editor has it."""

    def __init__(self, root: str, current: tuple[str, str] | None = None):
        self.root = root
        self.known: dict[str, str] = dict([current]) if current else {}

    def __getitem__(self, rel: str) -> str:
        if rel not in self.known:
            path = os.path.join(self.root, rel)
            try:
                if os.path.getsize(path) > MAX_FILE_BYTES:
                    raise KeyError(rel)
                with open(path, encoding="utf-8", errors="replace") as f:
                    self.known[rel] = f.read()
            except OSError:
                raise KeyError(rel) from None
        return self.known[rel]

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


class Memory:
    """The few-shot memory of every workspace the daemon serves. `embedder()` gives the embedder the
    workspaces are indexed with (Services owns it); calls may come from any thread."""

    def __init__(self, events: EventStore, embedder: Callable[[], object], threshold: float = SIMILARITY_THRESHOLD,
                 retain_after_s: float = MEMORY_RETAIN_AFTER_S):
        self.events = events
        self._embedder = embedder
        self.threshold = threshold
        self.retain_after_s = retain_after_s
        self._lock = threading.Lock()
        # workspace → generation id → (context, vector or None until embedded)
        self._cache: dict[str, dict[str, tuple[str, np.ndarray | None]]] = {}
        self._identity: str | None = None  # of the embedder the cached vectors come from
        # workspace → (store change marker, memory_rows, memory_rewrites)
        self._rows: dict[str, tuple[tuple, list[dict], list[dict]]] = {}

    def cached_ids(self, workspace: str) -> set[str]:
        with self._lock:
            return set(self._cache.get(workspace, {}))

    def examples(self, workspace: str, prefix: str, k: int, current: tuple[str, str] | None = None,
                 now: float | None = None, threshold: float | None = None) -> list[Example]:
        """The best `k` examples for a cursor after `prefix` in `workspace`, best first. `current`:
        (relative path, text) of the document being edited, fresher than the file on disk; `threshold`:
        another similarity cut than the memory's (the evaluation probes below it)."""
        if k <= 0:
            return []
        with self._lock:
            return self._examples(workspace, prefix, k, current, time.time() if now is None else now,
                                  self.threshold if threshold is None else threshold)

    def typed_lines(self, workspace: str, path: str, line_prefix: str, n: int = TYPED_LINES) -> TypedLines | None:
        """The user's last `n` distinct lines typed in place of a suggestion in another file of `path`'s
        language (by extension), for a cursor in `path` after `line_prefix`; None when there are none, or
        when the cursor is not at a statement's start (what those lines began). Ungated, they cost the
        retrieval-lift NLL 7% on 60 openai-agents tasks, mostly mid-line; at statement starts only, none."""
        if line_prefix.strip():
            return None
        ext = os.path.splitext(path)[1]
        with self._lock:
            _, _, rewrites = self._read(workspace)
        ids, lines = [], []
        for r in reversed(rewrites):  # newest first
            line = next((x.strip() for x in (r["rewrite"] or "").split("\n") if x.strip()), "")
            if line and line not in lines and r["path"] != path and os.path.splitext(r["path"] or "")[1] == ext:
                ids.append(r["id"])
                lines.append(line)
                if len(lines) == n:
                    break
        return TypedLines(tuple(reversed(ids)), tuple(reversed(lines)), f"conventions{ext}") if lines else None

    def _read(self, workspace: str) -> tuple[tuple, list[dict], list[dict]]:
        """The workspace's candidate rows and rewrites, read again whenever the store changed (an accept, a
        rating, a forget… since the last read). Under the lock."""
        marker = self.events.change_marker()
        if self._rows.get(workspace, (None,))[0] != marker:
            rewrites = self.events.memory_rewrites(workspace, MAX_CANDIDATES)
            # The user's own text in place of a rejected (or 👎'd) suggestion: a 👎 on the model's output is not one on it.
            self._rows[workspace] = (marker, self.events.memory_rows(workspace, MAX_CANDIDATES),
                                     [r for r in rewrites if r["has_prompt"] and (r["rewrite"] or "").strip()])
        return self._rows[workspace]

    def _examples(self, workspace: str, prefix: str, k: int, current, now: float, threshold: float) -> list[Example]:
        from growpilot.training.data import FeedbackRow, Sample, select_feedback

        _, rows, rewrites = self._read(workspace)
        cache = self._cache.setdefault(workspace, {})
        usable = {r["id"] for r in rows if r["has_prompt"] and not r["down"]} | {r["id"] for r in rewrites}
        for gone in set(cache) - usable:
            del cache[gone]  # forgotten, cleared, its prompt pruned, or 👎 since: it leaves the memory
        missing = [gid for gid in usable if gid not in cache]
        for gid, prompt in self.events.prompts(workspace, missing).items():
            cache[gid] = (tail(context_of(prompt)), None)
        parsed = [FeedbackRow(r["id"], r["created"], r["path"] or "", cache[r["id"]][0] if r["id"] in cache else "",
                              r["output"] or "", "", r["healed"] or "", bool(r["accepts"]), int(r["up"] or 0),
                              int(r["down"] or 0)) for r in rows]
        # The model that wrote it does not matter here ("" for all): its context and text are the user's code.
        samples, _ = select_feedback(parsed, _Files(workspace, current), (), "", now, self.retain_after_s)
        taken = {s.generation for s in samples}
        created = {r["id"]: r["created"] for r in [*rows, *rewrites]}
        samples += [Sample("feedback", "", (r["healed"] or "") + r["rewrite"], True, 1.0, r["path"] or "", r["id"])
                    for r in rewrites if r["id"] not in taken]  # one with a 👍 or a kept accept: that one
        samples.sort(key=lambda s: created[s.generation])  # oldest first, as ranking's ties expect
        chosen = [s for s in samples if s.generation in cache and cache[s.generation][0].strip()]
        if not chosen:
            return []
        embedder = self._embedder()
        if getattr(embedder, "identity", None) != self._identity:  # another vector space: embed afresh
            self._identity = getattr(embedder, "identity", None)
            for ws_cache in self._cache.values():
                ws_cache.update({g: (text, None) for g, (text, _) in ws_cache.items()})
        # The most recent first, a few per request: a long history is embedded over the first requests
        # after a start, never all on one completion's path.
        todo = [s for s in reversed(chosen) if cache[s.generation][1] is None][:EMBED_PER_REQUEST]
        if todo:
            # What the cursor followed, as the query sees it: the context and the text token healing gave up.
            healed = {r.id: r.healed for r in parsed} | {r["id"]: r["healed"] or "" for r in rewrites}
            vectors = embedder.embed([search_query(cache[s.generation][0] + healed[s.generation], CONTEXT_LINES)
                                      for s in todo])
            for s, v in zip(todo, vectors):
                cache[s.generation] = (cache[s.generation][0], v)
        # The text retrieval searched for just before: its vector is cached (Embedder.embed_query).
        query = embedder.embed_query(search_query(prefix, CONTEXT_LINES))
        scored = rank([(s, cache[s.generation][1]) for s in chosen if cache[s.generation][1] is not None], query, k,
                      threshold)
        return [Example(s.generation, s.path, cache[s.generation][0], s.target, score) for s, score in scored]


def rank(candidates: Sequence[tuple[object, np.ndarray]], query: np.ndarray, k: int,
         threshold: float) -> list[tuple[object, float]]:
    """The best `k` of (item, normalized vector) by cosine with `query`, at least `threshold`, best first
    (ties: the later candidate, the more recent, first)."""
    if not candidates or k <= 0:
        return []
    scores = np.stack([v for _, v in candidates]) @ np.asarray(query, dtype=np.float32)
    order = sorted(range(len(candidates)), key=lambda i: (-float(scores[i]), -i))
    return [(candidates[i][0], round(float(scores[i]), 4)) for i in order[:k] if scores[i] >= threshold]
