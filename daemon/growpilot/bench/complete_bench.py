"""`growpilot bench complete`: where a completion's time goes, with the real default model.

- server overhead (everything but the model's forward passes), p50/p95;
- end-to-end single-line completion, p50/p95, and its split (prefill, decode, tokens);
- typing along a line (each request shares most of the previous prompt: KV-cache reuse);
- cache hit and typed-ahead reuse, p95;
- cancel → reply, and cancel → model free again;
- RSS with the model loaded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import resource
import time
from pathlib import Path

from growpilot.bench.index_bench import _summary
from growpilot.completion.engine import CompletionRequest
from growpilot.config import Settings
from growpilot.server.services import Services

_ASSIGN = re.compile(r"^(\s*[A-Za-z_][\w.]*\s*=\s*)(\S.{6,})$")


def _positions(root: Path, files: list[str], n: int, seed: int = 0) -> list[tuple[str, int, int, str]]:
    """(path, line, column, rest of line): cursors just after `name = ` in real code."""
    found = []
    for rel in files:
        if not rel.endswith(".py"):
            continue
        for i, line in enumerate((root / rel).read_text(errors="replace").split("\n")):
            if (m := _ASSIGN.match(line)) and "#" not in line:
                found.append((str(root / rel), i, len(m.group(1)), m.group(2)))
    random.Random(seed).shuffle(found)
    return found[:n]


def bench_complete(args, settings: Settings) -> dict:
    settings = dataclasses.replace(settings, debounce_ms=0)  # requests come one after another
    services = Services(settings)
    try:
        folder = services.add_folder(args.workspace)
        services.index_folder(folder)
        services.model.load(settings)
        rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return asyncio.run(_run(services, folder, args.runs, rss_loaded))
    finally:
        services.close()


async def _run(services: Services, folder, n: int, rss_loaded: float) -> dict:
    engine = services.engine
    backend = services.model.backend
    positions = _positions(folder.root, sorted(folder.index.catalog.file_rows()), max(n, 10))
    if not positions:
        return {"error": f"no `name = value` lines in the Python files of {folder.root} to complete"}
    texts = {p: Path(p).read_text(errors="replace") for p, *_ in positions}
    path, line, _, _ = positions[0]
    # Warm-up (first forward passes are slower) at the start of a line no measured request asks about:
    # at a measured position it would turn that request into a cache hit.
    await engine.complete(CompletionRequest(path, texts[path], line, 0), debounce=False)
    total, overhead, model, prefill, decode, tokens, prompt_tokens = [], [], [], [], [], [], []
    cache, typeahead = [], []
    split: dict[str, list[float]] = {k: [] for k in ("retrieval_ms", "prompt_build_ms", "encode_ms", "postprocess_ms")}
    for path, line, col, _ in positions[:n]:
        backend.forget_cache()  # a cold request: no KV reuse from the previous position
        req = CompletionRequest(path, texts[path], line, col)
        s = await engine.complete(req, debounce=False)
        t = engine.last_timings
        total.append(t["total_ms"])
        overhead.append(t["total_ms"] - t.get("model_ms", 0))
        for k, values in split.items():
            values.append(t.get(k, 0))
        model.append(t.get("model_ms", 0))
        prefill.append(t.get("prefill_ms", 0))
        decode.append(t.get("decode_ms", 0) / max(t.get("new_tokens", 1), 1))
        tokens.append(t.get("new_tokens", 0))
        prompt_tokens.append(t.get("prompt_tokens", 0))
        again = await engine.complete(req, debounce=False)
        if again is not None:
            cache.append(again.latency_ms)
        if s is not None and len(s.text) >= 2:
            lines = texts[path].split("\n")
            lines[line] = lines[line][:col] + s.text[0] + lines[line][col:]
            ahead = await engine.complete(CompletionRequest(path, "\n".join(lines), line, col + 1), debounce=False)
            if ahead is not None and ahead.source == "typeahead":
                typeahead.append(ahead.latency_ms)
    typing = await _typing(engine, positions[0], texts)
    cancel_reply, cancel_free = await _cancels(services, positions, texts)
    return {
        "model": backend.name, "device": backend.device, "dtype": str(backend.dtype).replace("torch.", ""),
        "requests": len(total),
        "end_to_end_ms": _summary(total, 1), "server_overhead_ms": _summary(overhead, 2),
        # the parts of it measured; the rest is thread hand-offs, the cache check and the record
        "server_overhead_split_ms": {k.removesuffix("_ms"): _summary(v, 2) for k, v in split.items()},
        "model_ms": _summary(model, 1), "prefill_ms": _summary(prefill, 1),
        "decode_ms_per_token": _summary(decode, 1), "new_tokens": _summary(tokens, 0),
        "prompt_tokens": _summary(prompt_tokens, 0),
        "typing_along_a_line_ms": typing,
        "cache_hit_ms": _summary(cache, 2), "typed_ahead_ms": _summary(typeahead, 2),
        "cancel_to_reply_ms": _summary(cancel_reply, 2), "cancel_to_model_free_ms": _summary(cancel_free, 1),
        "rss_with_model_mb": round(rss_loaded, 1),
    }


async def _typing(engine, position, texts) -> dict:
    """Type the rest of a line three characters at a time, asking for a completion at each step."""
    path, line, col, rest = position
    lines = texts[path].split("\n")
    latencies, reused = [], []
    for k in range(0, min(len(rest), 24), 3):
        lines_now = list(lines)
        lines_now[line] = lines[line][: col + k]
        s = await engine.complete(CompletionRequest(path, "\n".join(lines_now), line, col + k), debounce=False)
        t = engine.last_timings
        if s is None or s.source == "model":
            latencies.append(t["total_ms"])
            reused.append(t.get("reused_tokens", 0) / max(t.get("prompt_tokens", 1), 1))
    return {**_summary(latencies, 1), "kv_reuse_share_median": round(sorted(reused)[len(reused) // 2], 3) if reused else 0}


async def _cancels(services: Services, positions, texts, rounds: int = 8) -> tuple[list, list]:
    engine = services.engine
    engine.settings = Settings(**{**engine.settings.__dict__, "max_tokens": 200})
    reply, free = [], []
    loop = asyncio.get_running_loop()
    for path, line, col, _ in positions[:rounds]:
        services.model.backend.forget_cache()
        task = asyncio.ensure_future(engine.complete(CompletionRequest(path, texts[path], line, 0), debounce=False))
        await asyncio.sleep(0.4)  # inside prefill/decode
        t0 = time.perf_counter()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        reply.append((time.perf_counter() - t0) * 1000)
        await loop.run_in_executor(engine._model_pool, lambda: None)  # runs once the generation has stopped
        free.append((time.perf_counter() - t0) * 1000)
    engine.settings = services.settings
    return reply, free
