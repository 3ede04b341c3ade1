"""`growpilot bench complete`: completion latency as an editor sees it, with the real default model.

It drives the real language server over stdio (`lsp_client`): didOpen/didChange, then
`textDocument/inlineCompletion` with the default debounce; every latency is timed from the request (or
`$/cancelRequest`) sent to the reply received. Each request's split (retrieval, prompt build, prefill,
decode, tokens, source) is read afterwards from the daemon's events.sqlite, by the generation id the
reply carries; the daemon's GROWPILOT_HOME is a throwaway folder sharing the model cache.

- the folder's context calibration is waited for first (it runs once per workspace and model, in the
  user's pauses), so that what follows is the steady state;
- fully cold: the first keystroke after start, at a new position, with nothing warmed;
- settled: the first keystroke after the cursor settles somewhere new (the line's rest deleted there,
  the cursor at rest 1.5 s, `growpilot/warmUp` sent after 0.3 s as the extension does), with `warmUp`
  on and off (alternating by position, so both share the machine's load): p50/p95, the split and the
  server overhead (all but the model's forward passes, the wait for the model thread and the debounce)
  over both;
  also the same after the cursor rested 6 s (reading before typing), warm-up on;
- typing along a line: an edit and a request per 1–3 typed characters (typed-ahead hits left out);
- a 3-line block: where an opener (`if …:`, `def …:`) has a body of exactly 3 lines, the body blanked,
  the cursor at rest on its first line (indented, empty) 1.5 s, then a request: p50/p95 and the lines
  suggested;
- cache hit (the same request again) and typed-ahead reuse (the suggestion's first character typed);
- cancel → reply (`$/cancelRequest` sent → the error reply received), and cancel → the next request's
  generation starting (that request is sent at the cancel's reply; an upper bound: it also waits for
  its debounce and prompt);
- RSS of the daemon process with the model loaded, and its peak.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from growpilot.bench.index_bench import _summary
from growpilot.bench.lsp_client import (
    Document,
    LspClient,
    generation_id,
    inline_items,
    rss_mb,
)
from growpilot.completion.context import indent_of
from growpilot.config import Settings, to_client
from growpilot.indexing.filters import WorkspaceFilter
from growpilot.paths import model_cache_dir

_ASSIGN = re.compile(r"^(\s*[A-Za-z_][\w.]*\s*=\s*)(\S.{6,})$")
_OPENER = re.compile(r"^(\s*)(?:if|elif|else|for|while|with|try|except|def)\b.*:$")
BLOCK_LINES, BLOCK_POSITIONS = 3, 10
SETTLE_S = 1.5  # idle after moving: ≥ 1 s, and the daemon has indexed the unsaved text (1 s of quiet) by then
WARM_UP_AFTER_S = 0.3  # the extension's WARM_UP_AFTER_MS
READING_S, READING_POSITIONS = 6.0, 6  # also: the first keystroke after the cursor rested this long (reading)
CALIBRATION_TIMEOUT_S = 1800
CANCEL_ROUNDS = 8
CANCEL_AFTER_S = 0.4  # past the debounce and the prompt: inside prefill/decode
TYPING_SAMPLES = 10  # model-served requests wanted while typing (typed-ahead hits do not count) …
TYPING_LINES = 12  # … from at most this many lines
SPLIT = ("retrieval", "prompt_build", "encode", "postprocess")


def _positions(root: Path, files: list[str], n: int, seed: int = 0) -> list[tuple[str, int, int, str]]:
    """(path, line, column, rest of line): cursors just after `name = ` in real code (ASCII lines, so
    LSP's UTF-16 columns are code points)."""
    found = []
    for rel in files:
        if not rel.endswith(".py"):
            continue
        for i, line in enumerate((root / rel).read_text(errors="replace").split("\n")):
            if (m := _ASSIGN.match(line)) and "#" not in line and line.isascii():
                found.append((str(root / rel), i, len(m.group(1)), m.group(2)))
    random.Random(seed).shuffle(found)
    return found[:n]


def _blocks(root: Path, files: list[str], n: int, seed: int = 1) -> list[tuple[str, int, int]]:
    """(path, first body line, its indentation): openers whose body is exactly BLOCK_LINES ASCII lines."""
    found = []
    for rel in files:
        if not rel.endswith(".py"):
            continue
        lines = (root / rel).read_text(errors="replace").split("\n")
        for i in range(len(lines) - BLOCK_LINES - 1):
            if not (m := _OPENER.match(lines[i])) or not lines[i].isascii():
                continue
            opener, body, after = len(m.group(1)), lines[i + 1:i + 1 + BLOCK_LINES], lines[i + 1 + BLOCK_LINES]
            inner = indent_of(body[0])
            if inner > opener and all(b.strip() and b.isascii() and "#" not in b and indent_of(b) >= inner for b in body) \
                    and (not after.strip() or indent_of(after) <= opener):
                found.append((str(root / rel), i + 1, inner))
    random.Random(seed).shuffle(found)
    return found[:n]


class _Session:
    """The daemon, its open documents, and its events.sqlite."""

    def __init__(self, client: LspClient, home: Path):
        self.client, self.home = client, home
        self.docs: dict[str, Document] = {}
        self._db: sqlite3.Connection | None = None

    def doc(self, path: str) -> Document:
        if path not in self.docs:
            self.docs[path] = Document(self.client, Path(path))
        return self.docs[path]

    def ask(self, doc: Document, line: int, col: int) -> tuple[float, dict]:
        """An inline request; (request → reply ms, reply)."""
        msg_id, sent = doc.inline(line, col)
        arrived, reply = self.client.reply(msg_id, timeout=300)
        return (arrived - sent) * 1000, reply

    def record(self, reply: dict) -> dict | None:
        """The generation row the reply names (None for an empty reply: nothing is recorded)."""
        gid = generation_id(reply)
        if gid is None:
            return None
        if self._db is None:
            self._db = sqlite3.connect(self.home / "events.sqlite", timeout=30)
        deadline = time.monotonic() + 30
        while True:  # the daemon writes it on a background thread, just after replying
            row = self._db.execute("SELECT source, timings FROM generations WHERE id=?", (gid,)).fetchone()
            if row is not None:
                return {"source": row[0], **json.loads(row[1] or "{}")}
            if time.monotonic() > deadline:
                raise TimeoutError(f"generation {gid} never reached events.sqlite")
            time.sleep(0.02)

    def settle_at(self, position, idle_s: float = SETTLE_S) -> tuple[Document, float, dict]:
        """Move to a new position (an edit there: the rest of the line is gone, as if about to type it),
        rest there as an editor does (its warm-up notification), then type the rest's first character and
        ask. The cursor is then one character further."""
        path, line, col, rest = position
        doc = self.doc(path)
        doc.edit(line, col, len(doc.lines[line]), "")
        time.sleep(WARM_UP_AFTER_S)
        doc.rest(line, col)
        time.sleep(idle_s - WARM_UP_AFTER_S)
        doc.edit(line, col, col, rest[0])
        ms, reply = self.ask(doc, line, col + 1)
        return doc, ms, reply

    def block_at(self, position) -> tuple[float, dict]:
        """Blank a block's body (its first line keeps the indentation), rest on it, ask; then restore it."""
        path, line, indent = position
        doc = self.doc(path)
        original = doc.lines[line:line + BLOCK_LINES]
        for k in range(BLOCK_LINES):
            doc.edit(line + k, indent if k == 0 else 0, len(doc.lines[line + k]), "")
        time.sleep(WARM_UP_AFTER_S)
        doc.rest(line, indent)
        time.sleep(SETTLE_S - WARM_UP_AFTER_S)
        ms, reply = self.ask(doc, line, indent)
        for k, text in enumerate(original):
            doc.edit(line + k, 0, len(doc.lines[line + k]), text)
        return ms, reply

    def configure(self, **growpilot) -> None:
        self.client.notify("workspace/didChangeConfiguration", {"settings": {"growpilot": growpilot}})

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def bench_complete(args, settings: Settings) -> dict:
    root = Path(args.workspace).resolve()
    files = sorted(e.rel for e in WorkspaceFilter(root, settings).walk())
    n = args.runs
    positions = _positions(root, files, 1 + n + TYPING_LINES + CANCEL_ROUNDS + READING_POSITIONS)
    if not positions:
        return {"error": f"no `name = value` lines in the Python files of {root} to complete"}
    home = Path(tempfile.mkdtemp(prefix="growpilot-bench-home-"))
    # The daemon's state is thrown away; the converted models are shared (converting takes a minute).
    client = LspClient(env={"GROWPILOT_HOME": str(home), "GROWPILOT_MODEL_CACHE": str(model_cache_dir())})
    session = _Session(client, home)
    try:
        client.initialize(root, to_client(settings))  # the user's settings, default debounce included
        client.wait_notification("growpilot/indexReady", timeout=3600)
        ready = client.wait_notification("growpilot/modelReady", timeout=600)
        if ready.get("error"):
            return {"error": f"the model did not load: {ready['error']}"}
        calibration = _calibrated(client, settings)
        blocks = _blocks(root, files, min(BLOCK_POSITIONS, n))
        return {**_run(session, positions, n, settings), **_block_figures(session, blocks, settings),
                "calibration": calibration}
    finally:
        session.close()
        client.close()
        shutil.rmtree(home, ignore_errors=True)


def _calibrated(client: LspClient, settings: Settings) -> dict | None:
    """Wait, idle, for the folder's context calibration (contextGate auto); its answer and how long."""
    if settings.context_gate != "auto":
        return None
    started = time.monotonic()
    while time.monotonic() - started < CALIBRATION_TIMEOUT_S:
        context = client.command("growpilot.status")["folders"][0].get("context")
        if context is not None:
            return {**context, "waited_s": round(time.monotonic() - started, 1)}
        time.sleep(5)
    return {"error": f"not calibrated after {CALIBRATION_TIMEOUT_S} s"}


def _run(session: _Session, positions: list, n: int, settings: Settings) -> dict:
    client = session.client
    def pick(i: int):
        return positions[i % len(positions)]  # a small workspace repeats positions

    rss_loaded, _ = rss_mb(client.proc.pid)
    model = client.command("growpilot.status")["model"]

    session.configure(warmUp=False)  # fully cold: nothing warmed
    cold_doc, cold_ms, cold = session.settle_at(pick(0))
    _restore(cold_doc, pick(0))
    settled, rows, cache, typeahead = [], [], [], []
    unwarmed, unwarmed_rows = [], []
    for i in range(1, n + 1):
        _, line, col, _ = pick(i)
        warm = i % 2 == 1
        session.configure(warmUp=warm)
        doc, ms, reply = session.settle_at(pick(i))
        col += 1  # the first character typed
        row = session.record(reply)
        if row is not None and row["source"] == "model":
            (settled if warm else unwarmed).append(ms)
            (rows if warm else unwarmed_rows).append(row)
        if row is not None:
            ms, again = session.ask(doc, line, col)  # the same request again
            if (session.record(again) or {}).get("source") == "cache":
                cache.append(ms)
            text = inline_items(reply)[0]["insertText"]
            if len(text) >= 2:
                doc.edit(line, col, col, text[0])  # the user types the suggestion's first character
                ms, ahead = session.ask(doc, line, col + 1)
                if (session.record(ahead) or {}).get("source") == "typeahead":
                    typeahead.append(ms)
        _restore(doc, pick(i))
    session.configure(warmUp=True)
    reading = []
    for k in range(min(READING_POSITIONS, n // 3)):
        position = pick(n + 1 + TYPING_LINES + CANCEL_ROUNDS + k)
        doc, ms, reply = session.settle_at(position, READING_S)
        if (session.record(reply) or {}).get("source") == "model":
            reading.append(ms)
        _restore(doc, position)
    session.configure(warmUp=settings.warm_up)
    typing = _typing(session, [pick(n + 1 + k) for k in range(TYPING_LINES)], min(TYPING_SAMPLES, n))
    rounds = [(pick(k), pick(n + 1 + TYPING_LINES + k)) for k in range(min(CANCEL_ROUNDS, n))]
    cancel_reply, cancel_free = _cancels(session, rounds, settings)
    _, peak = rss_mb(client.proc.pid)

    # The server's own time is over every settled request (a warmed one skips retrieval: its prompt is laid out).
    both = rows + unwarmed_rows

    def figure(key: str, digits: int = 1, per_token: bool = False, of: list = rows) -> dict:
        values = [r.get(key, 0) / (max(r.get("new_tokens", 1), 1) if per_token else 1) for r in of]
        return _summary(values, digits) if values else {}

    overhead = [r["total_ms"] - r.get("model_ms", 0) - r.get("model_wait_ms", 0) - settings.debounce_ms for r in both]
    return {
        "transport": "lsp-stdio", "model": model["name"], "device": model["device"], "dtype": model["dtype"],
        "debounce_ms": settings.debounce_ms, "requests": len(settled),
        "fully_cold_ms": round(cold_ms, 1), "fully_cold_source": (session.record(cold) or {}).get("source"),
        # settled: the first request after the cursor settles somewhere new, request sent → reply received
        "end_to_end_ms": _summary(settled, 1) if settled else {},
        f"settled_after_resting_{READING_S:.0f}s_ms": _summary(reading, 1) if reading else {"n": 0},
        "settled_without_warm_up_ms": {**(_summary(unwarmed, 1) if unwarmed else {"n": 0}),
                                       "kv_reuse_share_median": _share(unwarmed_rows)},
        "server_total_ms": figure("total_ms"),  # inside the engine, debounce included
        "transport_ms": _summary([e - r["total_ms"] for e, r in zip(settled, rows)], 2) if rows else {},
        "server_overhead_ms": _summary(overhead, 2) if both else {},
        "server_overhead_split_ms": {k: figure(f"{k}_ms", 2, of=both) for k in SPLIT},
        "model_ms": figure("model_ms"), "prefill_ms": figure("prefill_ms"),
        "model_wait_ms": figure("model_wait_ms"),  # for the model thread: the warm-up of the prompt's start
        "decode_ms_per_token": figure("decode_ms", per_token=True), "new_tokens": figure("new_tokens", 0),
        "prompt_tokens": figure("prompt_tokens", 0), "kv_reuse_share": _share(rows),
        "typing_along_a_line_ms": typing,
        "cache_hit_ms": _summary(cache, 2) if cache else {}, "typed_ahead_ms": _summary(typeahead, 2) if typeahead else {},
        "cancel_to_reply_ms": _summary(cancel_reply, 2) if cancel_reply else {"n": 0},
        "cancel_to_model_free_ms": _summary(cancel_free, 1) if cancel_free else {"n": 0},
        "rss_with_model_mb": rss_loaded, "peak_rss_mb": peak,
    }


def _block_figures(session: _Session, blocks: list, settings: Settings) -> dict:
    """Block completions where a 3-line body was: request → reply, and how many lines came back."""
    session.configure(warmUp=True)
    ms, lines, rows = [], [], []
    for position in blocks:
        elapsed, reply = session.block_at(position)
        row = session.record(reply)
        if row is not None and row["source"] == "model":
            ms.append(elapsed)
            rows.append(row)
            lines.append(len(inline_items(reply)[0]["insertText"].split("\n")))
    session.configure(warmUp=settings.warm_up)
    key = f"block_{BLOCK_LINES}_lines_ms"
    if not ms:
        return {key: {"n": 0, "positions": len(blocks)}}
    return {key: {**_summary(ms, 1), "lines_suggested_median": sorted(lines)[len(lines) // 2],
                  "new_tokens_median": sorted(r.get("new_tokens", 0) for r in rows)[len(rows) // 2]}}


def _restore(doc: Document, position) -> None:
    path, line, _, _ = position
    original = Path(path).read_text(errors="replace").split("\n")[line]
    if doc.lines[line] != original:
        doc.edit(line, 0, len(doc.lines[line]), original)


def _share(rows: list[dict]) -> float | None:
    shares = sorted(r.get("reused_tokens", 0) / max(r.get("prompt_tokens", 1), 1) for r in rows)
    return round(shares[len(shares) // 2], 3) if shares else None


def _typing(session: _Session, lines: list, want: int, seed: int = 0) -> dict:
    """Type the rest of lines 1–3 characters at a time (an edit, then a request, as an editor sends
    them), after settling at each line's start, until `want` requests were served by the model
    (typed-ahead hits, instant, are left out: a model that guesses the line right serves most steps so).
    Each line is typed twice, with `typingReuse` on and off (which first alternates by line), so the two
    figures share the machine's load; `exact` is the share of suggestions that are the line's rest."""
    arms = {True: {"ms": [], "rows": [], "exact": []}, False: {"ms": [], "rows": [], "exact": []}}
    typed_lines = 0
    for position in lines:
        if len(arms[True]["ms"]) >= want:
            break
        typed_lines += 1
        for reuse in (True, False) if typed_lines % 2 else (False, True):
            session.configure(typingReuse=reuse)
            _type_line(session, position, random.Random(seed + typed_lines), arms[reuse])
    session.configure(typingReuse=True)

    def summary(arm: dict) -> dict:
        return {**(_summary(arm["ms"], 1) if arm["ms"] else {"n": 0}), "kv_reuse_share_median": _share(arm["rows"]),
                "exact_match": round(sum(arm["exact"]) / len(arm["exact"]), 3) if arm["exact"] else None}

    return {**summary(arms[True]), "lines": typed_lines, "fresh_prompt_each_keystroke": summary(arms[False])}


def _type_line(session: _Session, position, rng: random.Random, arm: dict) -> None:
    _, line, col, rest = position
    doc, _, _ = session.settle_at(position)  # it types the first character
    typed = 1
    while typed < min(len(rest), 24):
        step = rest[typed:typed + rng.randint(1, 3)]
        doc.edit(line, col + typed, col + typed, step)
        typed += len(step)
        ms, reply = session.ask(doc, line, col + typed)
        row = session.record(reply)
        if row is None or row["source"] == "model":
            arm["ms"].append(ms)
            arm["rows"] += [row] if row else []
            items = inline_items(reply) if row else []
            arm["exact"].append(bool(items) and items[0]["insertText"].split("\n")[0] == rest[typed:])
    _restore(doc, position)


def _cancels(session: _Session, rounds: list, settings: Settings) -> tuple[list, list]:
    """Cancel a request inside the model: `$/cancelRequest` sent → its reply; then the next request at a
    new position: when its generation could start (its reply, less its own model time and what follows)."""
    client = session.client
    client.notify("workspace/didChangeConfiguration", {"settings": {"growpilot": {"maxTokens": 200}}})
    reply_ms, free_ms = [], []
    for (path, line, _, _), after in rounds:
        doc = session.doc(path)
        msg_id, _ = doc.inline(line, 0)  # the start of a line no other request asks about
        time.sleep(CANCEL_AFTER_S)
        if msg_id in client.replies:  # finished already: nothing to cancel
            client.reply(msg_id)
            continue
        cancelled = client.cancel(msg_id)
        arrived, reply = client.reply(msg_id)
        if reply.get("error", {}).get("code") != -32800:
            continue
        reply_ms.append((arrived - cancelled) * 1000)
        next_path, next_line, next_col, _ = after
        next_doc = session.doc(next_path)
        next_doc.edit(next_line, next_col, len(next_doc.lines[next_line]), "")
        ms, reply = session.ask(next_doc, next_line, next_col)
        row = session.record(reply)
        if row is not None and row["source"] == "model":
            # sent right after the cancel's reply: cancel → that generation's start
            free_ms.append((arrived - cancelled) * 1000 + ms - row["model_ms"] - row.get("postprocess_ms", 0))
        _restore(next_doc, after)
    client.notify("workspace/didChangeConfiguration", {"settings": {"growpilot": {"maxTokens": settings.max_tokens}}})
    return reply_ms, free_ms
