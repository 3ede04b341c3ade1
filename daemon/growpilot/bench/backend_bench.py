"""`growpilot bench backend`: the model backends side by side, called directly (no LSP, no retrieval),
on prompts the engine's prompt builder makes at real positions of a repository.

Per backend (both, or the one GROWPILOT_SETTINGS' `backend` names), each figure a median of `--runs`:
- load time;
- prefill tokens/s of a cold prompt of ~`promptTokens` (1024) tokens (one new token generated);
- decode tokens/s: 64 tokens after a prompt already in the KV cache, no stop rule;
- a cold single-line completion at real positions (cursor after `name = `, token healing and the stop
  rule as the engine applies them; KV cache emptied first): encode + prefill + decode, p50/p95;
- typing along a line: the rest of the line typed 1–3 characters at a time, one request per step,
  each reusing the previous request's KV cache (p50/p95, and the share of the prompt reused).

For a laptop-like CPU: GROWPILOT_TORCH_DTYPE=float32 runs torch in fp32 (where bf16 is native it would
pick bf16), ATEN_CPU_CAPABILITY=avx2 / ONEDNN_MAX_CPU_ISA=AVX2 / MKL_ENABLE_INSTRUCTIONS=AVX2 keep
torch's kernels to AVX2, and PYTHONPATH at a llama-cpp-python built without AVX512 swaps the binding.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import statistics
import threading
import time
from pathlib import Path

from growpilot.bench.complete_bench import _positions
from growpilot.completion.context import CursorContext, completion_mode, split_at, stop_rule
from growpilot.completion.prompt import Budget, build_prompt
from growpilot.config import Settings
from growpilot.indexing.filters import WorkspaceFilter
from growpilot.indexing.languages import line_comment
from growpilot.models.healing import heal_split
from growpilot.models.holder import build_backend
from growpilot.models.provision import resolve_lm

DECODE_TOKENS = 64
TYPING_STEPS = 12


def bench_backend(args, settings: Settings) -> dict:
    root = Path(args.workspace).resolve()
    files = sorted(e.rel for e in WorkspaceFilter(root, settings).walk())
    runs = max(args.runs, 1)
    cold_n, typing_n = max(runs, 5), max(runs // 2, 2)
    positions = _positions(root, files, 8 + cold_n + typing_n)
    if not positions:
        return {"error": f"no `name = value` lines in the Python files of {root} to complete"}
    kinds = [settings.backend] if settings.backend != "auto" else ["transformers", "llama.cpp"]
    source = resolve_lm(settings.model_path)
    out = {"workspace": str(root), "model": source.name, "runs": runs, "threads": settings.threads or os.cpu_count(),
           "cpu": _cpu_flags(), "backends": {}}
    for kind in kinds:
        backend = build_backend(dataclasses.replace(settings, backend=kind), source)
        try:
            _force_dtype(backend)
            out["backends"][kind] = _measure(backend, root, positions, runs, cold_n, settings)
        finally:
            if hasattr(backend, "close"):
                backend.close()
            del backend
            gc.collect()
    return out


def _force_dtype(backend) -> None:
    want = os.environ.get("GROWPILOT_TORCH_DTYPE")
    if want and getattr(backend, "kind", "transformers") == "transformers":
        import torch

        backend.model = backend.model.to(getattr(torch, want))
        backend.dtype = getattr(torch, want)
        backend.forget_cache()


def _prompt(backend, root: Path, position, settings: Settings, typed: str = ""):
    """(prompt text, forced text, stop rule) as the engine builds them, without retrieved snippets."""
    path, line, col, _ = position
    lines = Path(path).read_text(errors="replace").split("\n")
    lines[line] = lines[line][:col] + typed  # the rest of the line is not written yet
    prefix, suffix = split_at("\n".join(lines), line, col + len(typed))
    rel = os.path.relpath(path, root)
    ctx = CursorContext(rel, "python", prefix, suffix, line, completion_mode(prefix, suffix))
    forced = heal_split(ctx.line_prefix, backend.encode, backend.decode) if settings.token_healing else ""
    healed = prefix[:len(prefix) - len(forced)]
    built = build_prompt(backend.template, backend.count_tokens, healed, suffix, [], rel, root.name,
                         Budget(settings.prompt_tokens, settings.context_share, settings.suffix_share),
                         line_comment("python"), repo_format=settings.context_format == "repo")
    return built.text, forced, stop_rule(ctx.mode, prefix)


def _measure(backend, root: Path, positions: list, runs: int, cold_n: int, settings: Settings) -> dict:
    # The prefill prompt: the longest of the first eight positions' (a full budget: ~promptTokens).
    long_prompt = max((_prompt(backend, root, p, settings)[0] for p in positions[:8]), key=backend.count_tokens)
    positions = positions[8:]
    backend.generate(long_prompt, 2)  # warm up (first-call allocations)
    prefill, prompt_tokens = [], 0
    for _ in range(runs):
        backend.forget_cache()
        gen = backend.generate(long_prompt, 1)
        prompt_tokens = gen.prompt_tokens
        prefill.append(gen.prompt_tokens / (gen.prefill_ms / 1000))
    decode, decoded = [], []
    for _ in range(runs):
        gen = backend.generate(long_prompt, DECODE_TOKENS)  # the prompt is cached: all but a token reused
        if gen.tokens:
            decode.append(gen.tokens / (gen.decode_ms / 1000))
            decoded.append(gen.tokens)
    cold, cold_split = [], []
    for position in positions[:cold_n]:
        text, forced, stop = _prompt(backend, root, position, settings)
        backend.forget_cache()
        t0 = time.perf_counter()
        gen = backend.generate(text, settings.max_tokens, stop, threading.Event(), forced)
        cold.append((time.perf_counter() - t0) * 1000)
        cold_split.append((gen.prompt_tokens, gen.prefill_ms, gen.decode_ms, gen.tokens))
    typing, shares = [], []
    rng = random.Random(0)
    for position in positions[cold_n:]:
        rest = position[3]
        text, forced, stop = _prompt(backend, root, position, settings)
        backend.forget_cache()
        backend.generate(text, settings.max_tokens, stop, None, forced)  # the cursor settled here first
        typed = 0
        for _ in range(TYPING_STEPS):
            if typed >= len(rest):
                break
            typed += rng.randint(1, 3)
            text, forced, stop = _prompt(backend, root, position, settings, rest[:typed])
            t0 = time.perf_counter()
            gen = backend.generate(text, settings.max_tokens, stop, None, forced)
            typing.append((time.perf_counter() - t0) * 1000)
            shares.append(gen.reused_tokens / gen.prompt_tokens)
    return {
        "device": backend.device, "dtype": str(backend.dtype).replace("torch.", ""),
        "load_s": round(backend.load_seconds, 2),
        "prefill_tokens_per_s": _median(prefill, 1), "prefill_prompt_tokens": prompt_tokens,
        "prefill_runs": [round(v, 1) for v in prefill],
        "decode_tokens_per_s": _median(decode, 1), "decode_runs": [round(v, 1) for v in decode],
        "decode_tokens": decoded,
        "cold_line_ms": _pcts(cold), "cold_line_prompt_tokens": _median([c[0] for c in cold_split], 0),
        "cold_line_prefill_ms": _median([c[1] for c in cold_split], 1),
        "cold_line_decode_ms": _median([c[2] for c in cold_split], 1),
        "cold_line_new_tokens": _median([c[3] for c in cold_split], 0),
        "typing_ms": _pcts(typing), "typing_reused_share": _median(shares, 3),
    }


def _median(values: list[float], digits: int):
    return round(statistics.median(values), digits) if values else None


def _pcts(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "n": len(values)}


def _cpu_flags() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return "avx512_bf16" if "avx512_bf16" in flags else "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
