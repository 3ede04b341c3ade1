"""Implicit feedback, computed from what every LSP client already sends: the suggestions the daemon
served (inline and classic completion replies), `growpilot.accept`, and `textDocument/didChange`.

- `rejected`: served and not accepted within REJECT_AFTER_S. One superseded by a change of its document
  less than UNSEEN_S after it was served was never really seen and counts as nothing (unless that change
  is the suggestion being taken: it inserts a prefix of the suggestion at its position).
- `rewritten` (with `rejected`): the text the user typed in place of a rejected suggestion, i.e. the
  contiguous text inserted from the suggestion's position until it was rejected or the user edited
  elsewhere (left the spot); nothing when that is blank.
- `retained_30s` / `retained_120s`: for an accepted suggestion, how much of the accepted text is still
  there that long after the accept: difflib's ratio in [0, 1] between the text accepted and the text now
  in its region (the region follows later edits by offset shifts; an edit inside it changes it).

`Tracker` is a pure state machine with an injected clock (`now`, monotonic seconds): `served`,
`accepted`, `changed`, `closed` feed it, `tick(now)` returns the signals that are due, `next_due()` says
when to call it next. The server (server/handlers.py) writes them with EventStore.record_signal.
Positions are in the client's units (`encoding`: LSP's default utf-16). Test-only: the environment
variable GROWPILOT_SIGNAL_SCALE (read by `scale_from_env`, at the daemon's start) multiplies every
duration here, so that an end-to-end test need not wait 10 s."""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass, field
from typing import Iterable

log = logging.getLogger(__name__)
REJECT_AFTER_S = 10.0
UNSEEN_S = 0.25
RETAIN_AT_S = (("retained_30s", 30.0), ("retained_120s", 120.0))
MAX_TRACKED = 256  # suggestions followed at once; the oldest are dropped beyond it
MAX_REWRITE_CHARS = 2000
SIGNAL_KINDS = ("rejected", "rewritten", "retained_30s", "retained_120s")


def scale_from_env() -> float:
    """GROWPILOT_SIGNAL_SCALE (tests only): a factor for every duration; 1 when unset or not a positive number."""
    try:
        scale = float(os.environ.get("GROWPILOT_SIGNAL_SCALE", "1"))
    except ValueError:
        return 1.0
    return scale if scale > 0 else 1.0


@dataclass(frozen=True)
class Signal:
    generation_id: str
    kind: str  # one of SIGNAL_KINDS
    value: str | None  # rewritten: the text; retained_*: the similarity, e.g. "0.875"; rejected: None


@dataclass
class _Item:
    generation_id: str
    uri: str
    text: str  # what was served
    served: float
    start: int  # the region, as offsets into the tracker's copy of the document
    end: int
    seen_change: bool = False  # a change of the document arrived since it was served
    growing: bool = True  # pending: contiguous typing at the region extends it (the rewrite)
    rewrite: str | None = None  # frozen rewrite text, once the user edited elsewhere
    accepted: float | None = None
    accepted_text: str | None = None  # None: accepted before its insertion arrived
    due_retain: list = field(default_factory=lambda: list(RETAIN_AT_S))


class Tracker:
    def __init__(self, scale: float = 1.0, encoding: str = "utf-16"):
        self.scale = scale
        self.encoding = encoding
        self._items: dict[str, _Item] = {}
        self._docs: dict[str, str] = {}  # uri → text, for documents with tracked suggestions

    def __len__(self) -> int:
        return len(self._items)

    # ----- inputs
    def served(self, generation_id: str, uri: str, line: int, character: int, text: str, document: str,
               now: float) -> None:
        """A suggestion `text` was served for `uri` at (line, character); `document`: its text then."""
        if not text or generation_id in self._items:
            return
        self._docs[uri] = document
        at = offset_of(document, line, character, self.encoding)
        self._items[generation_id] = _Item(generation_id, uri, text, now, at, at)
        while len(self._items) > MAX_TRACKED:
            del self._items[next(iter(self._items))]

    def accepted(self, generation_id: str, now: float) -> None:
        item = self._items.get(generation_id)
        if item is None or item.accepted is not None:
            return  # not tracked (already rejected, never seen, another daemon's) or accepted twice
        item.accepted = now
        item.growing = False
        if item.end > item.start:  # the insertion came first (VS Code sends the edit, then the command)
            item.accepted_text = self._docs.get(item.uri, "")[item.start:item.end]

    def changed(self, uri: str, changes: Iterable, now: float, new_text: str | None = None) -> None:
        """A didChange's content changes (full text, or range + text), in order. `new_text`: the document
        after them as the server's workspace has it (the tracker's copy is reset to it)."""
        if uri not in self._docs:
            return
        for change in changes:
            old = self._docs[uri]
            rng = _get(change, "range")
            if rng is None:
                s, e = 0, len(old)
            else:
                s = offset_of(old, _pos(rng, "start")[0], _pos(rng, "start")[1], self.encoding)
                e = max(s, offset_of(old, _pos(rng, "end")[0], _pos(rng, "end")[1], self.encoding))
            new = _get(change, "text") or ""
            self._docs[uri] = old[:s] + new + old[e:]
            s, e, new = _minimal(old, s, e, new)
            self._edit(uri, s, e, new, now)
        if new_text is not None and new_text != self._docs[uri]:
            log.debug("signals: the tracked copy of %s drifted from the workspace's; resynced", uri)
            self._docs[uri] = new_text

    def closed(self, uri: str) -> None:
        """The document was closed: rewrites stop where they are, retention can no longer be measured."""
        text = self._docs.pop(uri, None)
        for gid, item in list(self._items.items()):
            if item.uri != uri:
                continue
            if item.accepted is not None:
                del self._items[gid]
            elif item.rewrite is None and text is not None:
                item.rewrite = text[item.start:item.end]

    # ----- outputs
    def next_due(self) -> float | None:
        """When `tick` next has something to do (the clock of `now`), or None when nothing is tracked."""
        times = [item.accepted + self.scale * item.due_retain[0][1] if item.accepted is not None
                 else item.served + self.scale * REJECT_AFTER_S for item in self._items.values()]
        return min(times) if times else None

    def tick(self, now: float) -> list[Signal]:
        out: list[Signal] = []
        for gid, item in list(self._items.items()):
            doc = self._docs.get(item.uri)
            if item.accepted is None:
                if now < item.served + self.scale * REJECT_AFTER_S:
                    continue
                out.append(Signal(gid, "rejected", None))
                rewrite = item.rewrite if item.rewrite is not None else (doc or "")[item.start:item.end]
                if rewrite.strip():
                    out.append(Signal(gid, "rewritten", rewrite[:MAX_REWRITE_CHARS]))
                del self._items[gid]
                continue
            while item.due_retain and now >= item.accepted + self.scale * item.due_retain[0][1]:
                kind, _ = item.due_retain.pop(0)
                if doc is not None and item.accepted_text:
                    now_text = doc[item.start:item.end]
                    ratio = difflib.SequenceMatcher(None, item.accepted_text, now_text, autojunk=False).ratio()
                    out.append(Signal(gid, kind, f"{ratio:.3f}"))
            if not item.due_retain:
                del self._items[gid]
        self._forget_idle_docs()
        return out

    # ----- the state machine
    def _edit(self, uri: str, s: int, e: int, new: str, now: float) -> None:
        """One minimal edit of `uri`: old [s, e) became `new`."""
        delta = len(new) - (e - s)
        for gid, item in list(self._items.items()):
            if item.uri != uri:
                continue
            a, b = item.start, item.end
            first = not item.seen_change
            item.seen_change = True
            if item.accepted is None and first and now - item.served < self.scale * UNSEEN_S:
                if not (s == e == a and new and item.text.startswith(new)):
                    del self._items[gid]  # superseded before it could be read: it counts as nothing
                    continue
            if item.accepted is not None and item.accepted_text is None:  # accepted; its insertion comes now
                if s == e == a and new:
                    item.end = a + len(new)
                    item.accepted_text = new
                    continue
            if item.growing:
                if s >= a and e <= b:  # typing at or inside the spot: the rewrite goes on
                    item.end = b + delta
                    continue
                if e == a:  # over the text just before the spot (a backspace): it moves there
                    item.start, item.end = s, b + delta
                    continue
                item.growing = False  # an edit elsewhere: the user left the spot
                if e < a:
                    item.rewrite = self._docs[uri][a + delta:b + delta]
                elif s >= b:
                    item.rewrite = self._docs[uri][a:b]
                else:  # over one end of what was typed: that edit is part of the rewrite
                    item.start, item.end = min(a, s), max(b, e) + delta
                    item.rewrite = self._docs[uri][item.start:item.end]
                    continue
                # from here on the region only follows the edits, as below
            # a fixed region (accepted text, or a rewrite that has ended): follow it through later edits
            if e <= a:  # before it, insertions at its start included
                item.start, item.end = a + delta, b + delta
            elif s >= b:  # after it
                pass
            elif s >= a and e <= b:  # inside it
                item.end = b + delta
            else:  # over one of its ends
                item.start, item.end = min(a, s), max(b, e) + delta

    def _forget_idle_docs(self) -> None:
        live = {item.uri for item in self._items.values()}
        for uri in [u for u in self._docs if u not in live]:
            del self._docs[uri]


def _minimal(old: str, s: int, e: int, new: str) -> tuple[int, int, str]:
    """The same edit with the text it keeps on both sides trimmed (a completion item replaces the word
    before the cursor with that word and the suggestion; a full-text change replaces everything)."""
    replaced = old[s:e]
    p = 0
    limit = min(len(replaced), len(new))
    while p < limit and replaced[p] == new[p]:
        p += 1
    q = 0
    while q < limit - p and replaced[len(replaced) - 1 - q] == new[len(new) - 1 - q]:
        q += 1
    return s + p, e - q, new[p:len(new) - q]


def offset_of(text: str, line: int, character: int, encoding: str = "utf-16") -> int:
    """The offset in `text` of an LSP position (`character` in `encoding` code units), clamped to the text."""
    start = 0
    for _ in range(max(0, line)):
        nl = text.find("\n", start)
        if nl < 0:
            return len(text)
        start = nl + 1
    nl = text.find("\n", start)
    row = text[start:] if nl < 0 else text[start:nl]
    if encoding == "utf-32":
        return start + min(max(0, character), len(row))
    units, i = 0, 0
    while i < len(row) and units < character:
        ch = ord(row[i])
        units += (1 if ch < 0x10000 else 2) if encoding == "utf-16" else len(row[i].encode("utf-8"))
        i += 1
    return start + i


def _get(obj, name: str):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _pos(rng, end: str) -> tuple[int, int]:
    p = _get(rng, end)
    return int(_get(p, "line")), int(_get(p, "character"))
