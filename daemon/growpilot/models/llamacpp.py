"""The quantized backend: llama.cpp (through `llama-cpp-python`'s C API) serving the GGUF as it ships
(Q4_K_M for the default model), with the interface of `TransformersBackend`: greedy generation with a
stop rule checked at every token, cooperative cancellation, token healing (`forced`), teacher-forced
scoring, and reuse of the KV cache for the prompt's shared prefix (llama.cpp keeps the cache: only the
tokens after the shared prefix are fed).

The C API is used directly, not the `Llama` class: with `verbose=False` that class points the process's
stdout at /dev/null while it loads, and in the daemon stdout is the LSP stream another thread writes.

LoRA: a promoted peft adapter is converted once to a GGUF LoRA by llama.cpp's own
`convert_lora_to_gguf.py` (from the binding's sdist, which setup keeps) and loaded beside the model;
switching adapters is a call, not a reload. Converted files are cached by the adapter's content."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from growpilot.models.backend import Generation, common_prefix
from growpilot.models.fim import FimTemplate, detect_template
from growpilot.models.healing import TokenTexts, consume
from growpilot.models.provision import LMSource, ModelError
from growpilot.paths import model_cache_dir

log = logging.getLogger(__name__)
# Tokens per llama_decode call during prefill. A cancel does not wait for a chunk: the abort callback
# stops llama.cpp between two graph nodes; chunks only bound the batch buffers.
PREFILL_CHUNK = 512
ALIGN, MIN_TAIL = 4, 8  # how a reused prefix ends and how much is fed after it (see `_reuse`)
MIN_CTX = 4096  # the context grows (a new llama.cpp context) when a request needs more
_FILE_TYPES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 7: "q8_0", 8: "q5_0", 9: "q5_1", 10: "q2_k",
               11: "q3_k_s", 12: "q3_k_m", 13: "q3_k_l", 14: "q4_k_s", 15: "q4_k_m", 16: "q5_k_s",
               17: "q5_k_m", 18: "q6_k", 32: "bf16"}
_ABORTED = 2  # llama_decode's return value when the abort callback stopped it


def available() -> bool:
    """Whether the binding imports (its shared library loads on this CPU)."""
    try:
        _lib()
        return True
    except (ImportError, OSError, RuntimeError) as exc:
        log.info("llama.cpp is not available: %s", exc)
        return False


_LLAMA_LOG = logging.getLogger("growpilot.llama.cpp")
_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}  # ggml_log_level
_CONT = 5  # a continuation of the previous message
_callbacks: list = []  # ctypes callbacks must outlive every call into llama.cpp
_last_level = [logging.DEBUG]


def _on_log(level: int, text: bytes, _data) -> None:
    """llama.cpp's log into `logging`: warnings and errors (its INFO is a page per load)."""
    lvl = _last_level[0] if level == _CONT else _LEVELS.get(level, logging.DEBUG)
    _last_level[0] = lvl
    if lvl >= logging.WARNING and _LLAMA_LOG.isEnabledFor(lvl) and text.strip():
        _LLAMA_LOG.log(lvl, "%s", text.decode("utf-8", "replace").rstrip())


@functools.lru_cache(maxsize=1)
def _lib():
    """The binding, initialised once, its log routed to `logging` (its own callback prints to stderr)."""
    import llama_cpp

    callback = llama_cpp.llama_log_callback(_on_log)
    _callbacks.append(callback)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    return llama_cpp


class LlamaCppBackend:
    """One model, one generation at a time (a lock), safe to call from worker threads."""

    kind = "llama.cpp"

    def __init__(self, source: LMSource, device: str = "auto", threads: int = 0, n_ctx: int = MIN_CTX):
        if source.gguf is None:
            raise ModelError(f"the llama.cpp backend needs a GGUF file; {source.name} has none")
        lib = _lib()
        self._lib = lib
        started = time.perf_counter()
        self.name = source.name
        self.source = source
        # `threads` sets both. By default prefill leaves one core free and decode (one token at a time,
        # memory-bound) takes half: llama.cpp's threads meet at a spin barrier ~800 times a token, and a
        # core busy with anything else (the editor, the daemon's own indexer) stalls all of them. On the
        # 2-core CI machine, quiet: 1 thread 140 prompt tok/s and 40 tok/s decode, 2 threads 152 and 44;
        # with one core busy elsewhere 2 threads fell to ~45 and 1.5-1.9 tok/s.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.threads_batch = threads or max(1, cores - 1)
        self.threads = threads or max(1, cores // 2)
        params = lib.llama_model_default_params()
        gpu = device in ("auto", "cuda") and bool(lib.llama_supports_gpu_offload())
        params.n_gpu_layers = 0x7FFFFFFF if gpu else 0
        # llama.cpp's AMX kernels segfault at the first decode of a Q4_K model (ggml-org/llama.cpp#20824;
        # seen here on a Sapphire Rapids VM). AMX is one of the "extra" weight buffer types: none then.
        params.use_extra_bufts = not cpu_has("amx_int8")
        self.device = "cuda" if gpu else "cpu"
        self._model = lib.llama_model_load_from_file(str(source.gguf).encode(), params)
        if not self._model:
            raise ModelError(f"llama.cpp could not load {source.gguf}")
        self._vocab = lib.llama_model_get_vocab(self._model)
        self.n_vocab = lib.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train = lib.llama_model_n_ctx_train(self._model)
        self.dtype = _FILE_TYPES.get(_int(self._meta("general.file_type")), self._meta("general.file_type") or "gguf")
        self._ctx = None
        self._batch = None
        self._abort = lib.ggml_abort_callback(self._should_abort)  # kept: llama.cpp holds the pointer
        self._cancel: threading.Event | None = None
        self._new_context(max(MIN_CTX, min(n_ctx, self.n_ctx_train)))
        # Special tokens (control / user-defined) name the FIM family, as the HF tokenizer's vocabulary does.
        attrs = lib.LLAMA_TOKEN_ATTR_CONTROL | lib.LLAMA_TOKEN_ATTR_USER_DEFINED
        special = [lib.llama_vocab_get_text(self._vocab, i).decode("utf-8", "replace") for i in range(self.n_vocab)
                   if lib.llama_vocab_get_attr(self._vocab, i) & attrs]
        self.template: FimTemplate = detect_template(special)
        self.stop_ids = self._stop_ids()
        # Each token's own text, for token healing (`forced`); special tokens have none.
        self.token_texts = [self._piece(i, special=False).decode("utf-8", "replace") for i in range(self.n_vocab)]
        self._healing = TokenTexts(self.token_texts)
        self._lock = threading.Lock()
        self.count_tokens = functools.lru_cache(maxsize=65536)(self._count_tokens)
        self._cache_ids: list[int] = []  # the prompt tokens whose keys/values the cache holds (batched)
        self._cache_adapter: str | None = None
        self._adapters: dict[str, object] = {}  # adapter folder → llama.cpp adapter handle
        self._active: str | None = None
        self.load_seconds = time.perf_counter() - started
        log.info("model %s loaded by llama.cpp on %s (%s, %d/%d threads) in %.1fs; FIM template %s", self.name,
                 self.device, self.dtype, self.threads, self.threads_batch, self.load_seconds, self.template.family)

    # ----- llama.cpp plumbing
    def _meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(256)
        n = self._lib.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def _new_context(self, n_ctx: int) -> None:
        """A (new) context of `n_ctx` tokens; the KV cache starts empty, the active adapter is re-applied."""
        lib = self._lib
        self._free_context()
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = PREFILL_CHUNK
        params.n_threads, params.n_threads_batch = self.threads, self.threads_batch
        params.no_perf = True
        # Flash attention off: with it, llama.cpp's logits depend on how the prompt was split into
        # batches (up to ~1 logit here), so a prompt served partly from the cache could be answered
        # differently from the same prompt cold. Without it, any split into batches of ≥ 2 tokens
        # gives bit-identical logits.
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self._ctx = lib.llama_init_from_model(self._model, params)
        if not self._ctx:
            raise ModelError(f"llama.cpp could not create a context of {n_ctx} tokens")
        self.n_ctx = n_ctx
        self._mem = lib.llama_get_memory(self._ctx)
        self._batch = lib.llama_batch_init(PREFILL_CHUNK, 0, 1)
        self._cache_ids = []
        if getattr(self, "_active", None):
            self._apply(self._adapters[self._active])

    def _free_context(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            self._lib.llama_free(self._ctx)
            self._ctx = None

    def close(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._free_context()
            for handle in getattr(self, "_adapters", {}).values():
                self._lib.llama_adapter_lora_free(handle)
            self._adapters = {}
            if getattr(self, "_model", None):
                self._lib.llama_model_free(self._model)
                self._model = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may already be gone
            pass

    def _should_abort(self, _data) -> bool:
        cancel = self._cancel
        return bool(cancel is not None and cancel.is_set())

    def _feed(self, ids: list[int], pos: int, outputs: str = "last") -> int:
        """Decode `ids` at positions pos…, one batch; logits for the last token or (`all`) every one.
        Returns llama_decode's status (0 ok, 2 aborted)."""
        b = self._batch
        n = len(ids)
        b.n_tokens = n
        for i, token in enumerate(ids):
            b.token[i] = token
            b.pos[i] = pos + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = outputs == "all" or i == n - 1
        status = self._lib.llama_decode(self._ctx, b)
        if status not in (0, _ABORTED):
            raise RuntimeError(f"llama_decode failed ({status})")
        return status

    def _logits(self, i: int = -1) -> np.ndarray:
        return np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self._ctx, i), shape=(self.n_vocab,))

    def _kept(self) -> int:
        """How many positions the KV cache holds (after an abort, the chunks decoded before it)."""
        return int(self._lib.llama_memory_seq_pos_max(self._mem, 0)) + 1

    def _piece(self, token: int, special: bool = True) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def _stop_ids(self) -> set[int]:
        ids = {i for i in range(self.n_vocab) if self._lib.llama_vocab_is_eog(self._vocab, i)}
        for text in self.template.stops:
            tokens = self.encode(text)
            if len(tokens) == 1:
                ids.add(tokens[0])
        return ids

    # ----- tokens
    def encode(self, text: str) -> list[int]:
        """No BOS/EOS added; special tokens written in the text (`<|fim_prefix|>`) are parsed as such."""
        data = text.encode("utf-8", "surrogatepass")
        room = len(data) + 8
        buf = (self._lib.llama_token * room)()
        n = self._lib.llama_tokenize(self._vocab, data, len(data), buf, room, False, True)
        if n < 0:
            room = -n
            buf = (self._lib.llama_token * room)()
            n = self._lib.llama_tokenize(self._vocab, data, len(data), buf, room, False, True)
        return list(buf[:n])

    def decode(self, ids: list[int]) -> str:
        return b"".join(self._piece(i) for i in ids).decode("utf-8", "replace")

    def _count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    # ----- adapters
    @property
    def adapter(self) -> str | None:
        """The adapter folder in use by the last request (None: the base model)."""
        return self._active

    def _apply(self, handle) -> None:
        lib = self._lib
        if handle is None:
            status = lib.llama_set_adapters_lora(self._ctx, None, 0, None)
        else:
            status = lib.llama_set_adapters_lora(self._ctx, (lib.llama_adapter_lora_p_ctypes * 1)(handle), 1,
                                                 (ctypes.c_float * 1)(1.0))
        if status:
            raise RuntimeError(f"llama.cpp could not set the LoRA adapter ({status})")

    def _use_adapter(self, adapter: Path | None) -> None:
        """Switch to a workspace's adapter (converting and loading it the first time), or to the base
        model. Under the lock."""
        key = str(adapter) if adapter else None
        if key == self._active:
            return
        if key is not None and key not in self._adapters:
            path = convert_adapter(Path(key), self.source.folder)
            handle = self._lib.llama_adapter_lora_init(self._model, str(path).encode())
            if not handle:
                raise ModelError(f"llama.cpp could not load the LoRA adapter {path} (converted from {key})")
            self._adapters[key] = handle
            log.info("adapter %s loaded (%s)", key, path.name)
        self._apply(self._adapters[key] if key else None)
        self._active = key

    # ----- the KV cache
    def _reuse(self, ids: list[int]) -> int:
        """Keep the cache's shared prefix with `ids`; return where feeding resumes.

        Served from the cache or not, a prompt must get bit-identical logits (the same answer). llama.cpp's
        matrix kernels take a batch's rows four at a time and batches under eight rows another way, so
        the prefix kept ends on a multiple of ALIGN and at least MIN_TAIL tokens are fed: every row is
        then computed as in a cold run (measured: any such split gives identical logits; others differ
        by up to a logit). Generated tokens were computed one by one: never kept (`_cache_ids`)."""
        if self._cache_adapter != self._active:
            self._cache_ids = []
        shared = min(common_prefix(self._cache_ids, ids), len(ids) - MIN_TAIL)
        shared = max(0, shared - shared % ALIGN)
        self._lib.llama_memory_seq_rm(self._mem, 0, shared, -1)
        self._cache_ids = self._cache_ids[:shared]
        self._cache_adapter = self._active
        return shared

    def _room(self, needed: int) -> None:
        if needed > self.n_ctx:
            if needed > self.n_ctx_train:
                raise ValueError(f"{needed} tokens exceed the model's context ({self.n_ctx_train})")
            size = self.n_ctx
            while size < needed:
                size *= 2
            log.info("llama.cpp context grows to %d tokens", min(size, self.n_ctx_train))
            self._new_context(min(size, self.n_ctx_train))

    def _prefill(self, ids: list[int], start: int, cancel: threading.Event) -> bool:
        """Feed ids[start:]; False when cancelled (the cache then holds what was decoded before)."""
        self._cancel = cancel
        self._lib.llama_set_abort_callback(self._ctx, self._abort, None)
        try:
            for i, j in _chunks(start, len(ids)):
                if cancel.is_set() or self._feed(ids[i:j], i) == _ABORTED:
                    self._cache_ids = ids[:min(self._kept(), i)]
                    return False
                self._cache_ids = ids[:j]
            return True
        finally:
            # Off while decoding: a Python callback per graph node would cost ~ms a token; cancel is
            # checked between tokens there.
            self._lib.llama_set_abort_callback(self._ctx, ctypes.cast(None, self._lib.ggml_abort_callback), None)
            self._cancel = None

    def forget_cache(self) -> None:
        with self._lock:
            self._lib.llama_memory_clear(self._mem, True)
            self._cache_ids, self._cache_adapter = [], None

    # ----- generation
    def generate(self, prompt: str | list[int], max_new_tokens: int, stop: Callable[[str], int | None] | None = None,
                 cancel: threading.Event | None = None, forced: str = "", adapter: Path | None = None) -> Generation:
        """Greedy continuation of `prompt`, by the base model or with a LoRA `adapter` (a peft folder). With
        `forced` (token healing, see healing.py) the first tokens are chosen among those that spell it,
        however they split it; the text returned starts with it."""
        t_encode = time.perf_counter()
        ids = self.encode(prompt) if isinstance(prompt, str) else list(prompt)
        encode_ms = _ms(t_encode)
        if not ids:
            raise ValueError("empty prompt")
        cancel = cancel or threading.Event()
        with self._lock:
            self._use_adapter(adapter)
            self._room(min(len(ids) + max_new_tokens, max(len(ids) + 1, self.n_ctx_train)))
            t0 = time.perf_counter()
            start = self._reuse(ids)
            if not self._prefill(ids, start, cancel):
                return Generation("", 0, len(ids), start, _ms(t0), 0.0, "cancelled", encode_ms)
            prefill_ms = _ms(t0)
            t1 = time.perf_counter()
            new: list[int] = []
            raw, text, reason = b"", "", "max_tokens"
            pos = len(ids)
            while len(new) < max_new_tokens:
                if cancel.is_set():
                    reason = "cancelled"
                    break
                logits = self._logits()
                if forced and (allowed := self._healing.allowed(forced)):
                    token = allowed[int(np.argmax(logits[allowed]))]
                    forced = consume(forced, self.token_texts[token])
                else:
                    token = int(np.argmax(logits))
                if token in self.stop_ids:
                    reason = "eos"
                    break
                new.append(token)
                raw += self._piece(token)
                text = raw.decode("utf-8", "replace")
                if stop is not None and (cut := stop(text)) is not None:
                    text, reason = text[:cut], "stop"
                    break
                if pos >= self.n_ctx:
                    break  # the context is full: what is there is the answer
                self._feed([token], pos)
                pos += 1
            return Generation(text, len(new), len(ids), start, prefill_ms, _ms(t1), reason, encode_ms)

    def score(self, context_ids: list[int], target_ids: list[int], adapter: Path | None = None) -> tuple[float, bool]:
        """(mean NLL of `target_ids` after `context_ids`, whether greedy decoding would produce exactly
        them). One teacher-forced pass with logits for the target's positions only. Leaves the KV cache
        holding the context."""
        if not context_ids or not target_ids:
            raise ValueError("score needs a context and a target")
        with self._lock:
            self._use_adapter(adapter)
            self._room(len(context_ids) + len(target_ids))
            last = len(context_ids) - 1  # its logits predict the first target token
            # Reuse for what is prefilled, context_ids[:last]: lowering the start after reusing for the whole
            # context left cached positions beyond it (llama_decode failed on some lengths, scored twice).
            start = self._reuse(context_ids[:last])
            if not self._prefill(context_ids[:last], start, threading.Event()):
                raise RuntimeError("prefill stopped")
            fed = [context_ids[last], *target_ids[:-1]]
            rows = []
            for i, j in _chunks(0, len(fed)):
                self._feed(fed[i:j], last + i, outputs="all")
                rows += [self._logits(k).astype(np.float64) for k in range(j - i)]
            logits = np.stack(rows)
            top = logits.max(axis=1, keepdims=True)
            logz = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
            target = np.asarray(target_ids)
            nll = float(np.mean(logz - logits[np.arange(len(target)), target]))
            exact = logits.argmax(axis=1).tolist() == list(target_ids)
            self._cache_ids = list(context_ids[:last])  # the last one was fed with the target
            return nll, exact


# ----- LoRA conversion
def llama_cpp_cache() -> Path:
    """Where setup keeps the binding's sdist and built wheels (outside the repository: a second setup
    reuses them). GROWPILOT_LLAMA_CACHE may put it elsewhere."""
    env = os.environ.get("GROWPILOT_LLAMA_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "growpilot" / "llama-cpp"


_CONVERTER_PARTS = ("convert_lora_to_gguf.py", "conversion/", "gguf-py/")


def converter_dir() -> Path:
    """A folder holding llama.cpp's `convert_lora_to_gguf.py` with what it imports (`conversion/`,
    `gguf-py/`), taken once from the binding's sdist: the wheel does not ship the script."""
    version = _lib().__version__
    out = model_cache_dir() / f"llama.cpp-convert-{version}"
    if (out / "convert_lora_to_gguf.py").exists():
        return out
    sdist = llama_cpp_cache() / f"llama_cpp_python-{version}.tar.gz"
    if not sdist.exists():
        raise ModelError(f"llama.cpp's LoRA converter comes from the llama-cpp-python sdist, not found at {sdist}: "
                         f"pip download llama-cpp-python=={version} --no-deps --no-binary :all: -d {sdist.parent}")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    root = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(root)
                   and m.name[len(root):].startswith(_CONVERTER_PARTS) and (m.isfile() or m.isdir())]
        for m in members:
            m.name = m.name[len(root):]
        tar.extractall(tmp, members=members, filter="data")
    if not (tmp / "convert_lora_to_gguf.py").exists():
        raise ModelError(f"{sdist} holds no convert_lora_to_gguf.py")
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return out


def convert_adapter(peft_dir: Path, base: Path) -> Path:
    """The GGUF LoRA of a peft adapter folder, converted once by llama.cpp's converter and cached by the
    adapter's content (an adapter version never changes; a new one converts anew). `base` is the base
    model's HF folder: the converter reads its config.json (the GGUF carries no HF config)."""
    peft_dir = Path(peft_dir)
    weights = peft_dir / "adapter_model.safetensors"
    config = peft_dir / "adapter_config.json"
    if not weights.exists() or not config.exists():
        raise ModelError(f"{peft_dir} is not a peft adapter folder (adapter_model.safetensors, adapter_config.json)")
    if not (Path(base) / "config.json").exists():
        raise ModelError(f"the base model folder {base} has no config.json to convert an adapter against")
    h = hashlib.sha256()
    for path in (config, weights, Path(base) / "config.json"):
        h.update(path.read_bytes())
    out = model_cache_dir() / "lora-gguf" / f"{h.hexdigest()[:24]}.gguf"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    script = converter_dir() / "convert_lora_to_gguf.py"
    started = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("NO_LOCAL_GGUF", None)  # the converter's own gguf-py matches it; the installed one may not
    run = subprocess.run([sys.executable, str(script), str(peft_dir), "--base", str(base), "--outfile", str(tmp),
                          "--outtype", "f32"], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if run.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-8:])
        raise ModelError(f"converting the adapter {peft_dir} to GGUF failed:\n{tail}")
    os.replace(tmp, out)
    log.info("adapter %s converted to %s in %.1fs", peft_dir, out, time.perf_counter() - started)
    return out


def _chunks(start: int, end: int) -> list[tuple[int, int]]:
    """[i, j) batches of at most PREFILL_CHUNK covering start…end, each starting on a multiple of ALIGN
    (when `start` does) and none after the first shorter than MIN_TAIL (see `_reuse`)."""
    out = []
    i = start
    while i < end:
        j = min(i + PREFILL_CHUNK, end)
        if 0 < end - j < MIN_TAIL:
            j = (end - MIN_TAIL) // ALIGN * ALIGN
        out.append((i, j))
        i = j
    return out


@functools.cache
def cpu_has(flag: str) -> bool:
    """Whether /proc/cpuinfo lists `flag` (False where there is no such file)."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and flag in line.split() for line in f)
    except OSError:
        return False


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
