"""Typed settings: one frozen dataclass, validated field by field.

Clients send camelCase keys (`initializationOptions`, `didChangeConfiguration`). A wrong type or
an out-of-range value falls back to the default and is reported, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Mapping

VENDORED_DIRS = (
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "dist", "build", "__pycache__",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "target", "vendor", ".next",
    ".gradle", ".idea", "obj",
)


def _opt(default: Any, *, choices: tuple = (), lo: float | None = None, hi: float | None = None):
    factory = ({"default_factory": lambda: list(default)} if isinstance(default, (list, tuple))
               else {"default_factory": lambda: dict(default)} if isinstance(default, dict) else {"default": default})
    return field(**factory, metadata={"choices": choices, "lo": lo, "hi": hi})


@dataclass(frozen=True)
class Settings:
    # models
    model_path: str = _opt("")  # HF folder or .gguf file; "" = default Qwen2.5-Coder-0.5B
    embedder_path: str = _opt("")  # sentence-transformers folder; "" = default all-MiniLM-L6-v2
    device: str = _opt("auto", choices=("auto", "cpu", "cuda"))
    threads: int = _opt(0, lo=0, hi=256)  # torch threads; 0 = all cores
    # which engine runs the LM: "auto" = transformers where torch has native bf16 (a GPU, AVX512-BF16, AMX),
    # else llama.cpp when the model has a GGUF and the binding imports
    backend: str = _opt("auto", choices=("auto", "transformers", "llama.cpp"))
    # completions
    completions_enabled: bool = _opt(True)
    debounce_ms: int = _opt(75, lo=0, hi=2000)
    max_tokens: int = _opt(64, lo=1, hi=512)
    prompt_tokens: int = _opt(1024, lo=256, hi=32768)
    context_share: float = _opt(0.35, lo=0.0, hi=0.9)
    suffix_share: float = _opt(0.3, lo=0.0, hi=0.9)
    retrieval_snippets: int = _opt(4, lo=0, hi=20)
    context_format: str = _opt("repo", choices=("repo", "comments"))  # how snippets enter the prompt
    # auto: snippets only in workspaces where they lower the loss of the workspace's own cross-file code
    context_gate: str = _opt("auto", choices=("auto", "always", "never"))
    token_healing: bool = _opt(True)  # the prompt never ends inside a token (see models/healing.py)
    # while typing along a line: keep the last prompt's context and far prefix, shorten its suffix (the KV
    # cache then holds all but the prompt's end); off = a fresh prompt at every keystroke
    typing_reuse: bool = _opt(True)
    # when the cursor rests (growpilot/warmUp), the prompt a request there would get is prefilled in the
    # background, so the first keystroke there re-reads only its line (cancelled by any real request)
    warm_up: bool = _opt(True)
    # after this much decoding a multi-line suggestion ends at its next line end (Tab, and the next one goes
    # on): a cap for slow decoders (fp32 torch: ~8 tokens/s), which bf16 torch (~17) reaches on long blocks; 0 = off
    decode_budget_ms: int = _opt(1500, lo=0, hi=60_000)
    memory_examples: int = _opt(2, lo=0, hi=8)  # few-shot examples from the workspace's rated suggestions; 0 = off
    # explicit coding preferences over the learned ones (learning/preferences.py checks the keys and values)
    preferences: dict = _opt({})
    # indexing
    max_file_bytes: int = _opt(1_000_000, lo=1_000, hi=100_000_000)
    max_line_chars: int = _opt(1_000, lo=80, hi=100_000)  # a longer line marks a minified/generated file
    watch_debounce_ms: int = _opt(100, lo=0, hi=5_000)
    exclude_dirs: list = _opt(VENDORED_DIRS)
    vector_store: str = _opt("faiss", choices=("faiss", "qdrant"))  # qdrant = Qdrant local mode (no server)
    # training (growpilot train; read once per training cycle)
    train_max_steps: int = _opt(200, lo=1, hi=100_000)
    train_max_minutes: float = _opt(30.0, lo=0.1, hi=10_080.0)
    train_threads: int = _opt(0, lo=0, hi=256)  # trainer's torch threads on a CPU; 0 = all cores (at nice 19)
    train_device: str = _opt("auto", choices=("auto", "cpu", "cuda"))
    train_sequence_tokens: int = _opt(512, lo=128, hi=8192)  # training length: files are windowed to it
    loss_filter: float = _opt(3.0, lo=0.0, hi=100.0)  # files with a higher mean base-model loss are left out; 0 = off
    promote_ratio: float = _opt(0.97, lo=0.5, hi=1.0)  # promote when held-out NLL ≤ this × the active one's
    sanity_tolerance: float = _opt(0.02, lo=0.0, hi=1.0)  # allowed relative rise of the sanity set's NLL
    # A/B of adapters (learning/ab.py): "" off; "latest" (the newest version not active), "base", or "vN"
    ab_challenger: str = _opt("")
    # idle-time training (training/scheduler.py): a cycle starts after this long without edits or requests;
    # 0 = never automatically (fractions allowed: the tests use seconds)
    idle_minutes: float = _opt(10.0, lo=0.0, hi=10_080.0)
    # new samples since the last cycle (one per 6 changed lines of code, a 👍 counts 3, an accept 2): 100
    # ≈ 600 changed lines. Fewer barely move an adapter trained on 200 steps × 8 sequences, and the gate
    # would reject it after ~30 min of both cores; a first cycle on a small project (~600 lines) still runs
    train_min_new_samples: int = _opt(100, lo=0, hi=1_000_000)
    train_min_interval_hours: float = _opt(6.0, lo=0.0, hi=720.0)  # between the end of one cycle and the next
    train_on_cpu: str = _opt("auto", choices=("auto", "always", "never"))  # auto: not on battery
    follow_external_symlinks: bool = _opt(False)  # index folders linked in from outside the workspace
    # suggestion history (events.sqlite): prompts are cleared beyond either limit, the rest is kept
    history_max_days: int = _opt(90, lo=1, hi=36_500)
    history_max_mb: int = _opt(200, lo=1, hi=1_000_000)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _check(value: Any, default: Any, meta: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Return (accepted value, problem or None)."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is dict:
        if not isinstance(value, Mapping):
            return default, "expected an object"
        return dict(value), None
    if kind is list:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return default, "expected a list of strings"
        return list(value), None
    if type(value) is not kind:
        return default, f"expected {kind.__name__}, got {type(value).__name__}"
    if meta["choices"] and value not in meta["choices"]:
        return default, f"expected one of {', '.join(map(str, meta['choices']))}"
    if meta["lo"] is not None and not (meta["lo"] <= value <= meta["hi"]):
        return default, f"expected a value in [{meta['lo']}, {meta['hi']}]"
    return value, None


def settings_from(options: Mapping[str, Any] | None, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Validate client options (camelCase or snake_case) over `base`; return settings and problems."""
    base = base or Settings()
    if not isinstance(options, Mapping):
        return base, ([] if options is None else ["settings must be an object; using defaults"])
    if isinstance(options.get("growpilot"), Mapping):  # didChangeConfiguration wraps them in a section
        options = options["growpilot"]
    known = {f.name: f for f in fields(Settings)}
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in options.items():
        f = known.get(_snake(key))
        if f is None:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        accepted, problem = _check(value, default, f.metadata)
        if problem:
            problems.append(f"setting {camel(f.name)}={value!r} is invalid ({problem}); using {default!r}")
        changes[f.name] = accepted
    return replace(base, **changes), problems


def to_client(settings: Settings) -> dict[str, Any]:
    return {camel(f.name): getattr(settings, f.name) for f in fields(Settings)}
