"""The local causal LM (transformers, LoRA adapters via peft): greedy generation with a stop rule
checked at every token, cooperative cancellation, and reuse of the previous request's KV cache for the
shared prompt prefix (consecutive completions in one file share most of it).

Adapters are per workspace (each folder's promoted LoRA): every request names the one it wants, and
peft keeps each loaded one beside the others, so switching is a flag, not a reload."""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from growpilot.models.fim import FimTemplate, detect_template
from growpilot.models.healing import TokenTexts, consume
from growpilot.models.imports import exclusive_load
from growpilot.models.provision import LMSource

log = logging.getLogger(__name__)
# Tokens per forward during prefill: a cancel waits for at most one chunk (~0.8 s on 2 CPU cores), and
# smaller chunks cost throughput (1000 tokens: 6.0 s in chunks of 64, 4.3 s of 128, 3.2 s in one go).
PREFILL_CHUNK = 256
MIN_REUSE = 16  # shorter shared prefixes are not worth keeping a cache for


@dataclass
class Generation:
    text: str
    tokens: int  # new tokens generated
    prompt_tokens: int
    reused_tokens: int  # prompt tokens served from the previous KV cache
    prefill_ms: float
    decode_ms: float
    stop_reason: str  # "stop" | "eos" | "max_tokens" | "cancelled"
    encode_ms: float = 0.0  # tokenizing the prompt


class TransformersBackend:
    """One model, one generation at a time (a lock), safe to call from worker threads."""

    def __init__(self, source: LMSource, device: str = "auto", threads: int = 0):
        import torch

        from growpilot.models.device import fast_dtype, pick_device

        if threads:
            torch.set_num_threads(threads)
        self.device = pick_device(device)
        self.dtype = fast_dtype(self.device)
        started = time.perf_counter()
        with exclusive_load():
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            self.tokenizer = AutoTokenizer.from_pretrained(source.folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(source.folder, dtype=self.dtype, local_files_only=True)
        self.model = model.to(self.device).eval()
        self.base_folder = Path(source.folder)  # what adapters are trained on (the registry checks its hash)
        self._adapters: dict[str, str] = {}  # adapter folder → its name inside the PeftModel
        self._active: str | None = None  # the folder whose adapter is on, None = the base model
        self.name = source.name
        self.load_seconds = time.perf_counter() - started
        self.template: FimTemplate = detect_template(self.tokenizer.get_vocab().keys())
        self.stop_ids = self._stop_ids()
        # Each token's own text, for token healing (`forced`); special tokens have none. ~1.5 s for 150k.
        self.token_texts = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))], skip_special_tokens=True)
        self._healing = TokenTexts(self.token_texts)
        self._lock = threading.Lock()
        # Prompts are budgeted line by line and most lines repeat from one keystroke to the next.
        self.count_tokens = functools.lru_cache(maxsize=65536)(self._count_tokens)
        self._cache = None
        self._cache_ids: list[int] = []
        self._cache_adapter: str | None = None
        log.info("model %s loaded on %s (%s) in %.1fs; FIM template %s", self.name, self.device,
                 str(self.dtype).replace("torch.", ""), self.load_seconds, self.template.family)

    def _stop_ids(self) -> set[int]:
        vocab = self.tokenizer.get_vocab()
        ids = {vocab[t] for t in self.template.stops if t in vocab}
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def _count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    @property
    def adapter(self) -> str | None:
        """The adapter folder in use by the last request (None: the base model)."""
        return self._active

    def _use_adapter(self, adapter: str | Path | None) -> None:
        """Switch to a workspace's adapter (loading it the first time), or to the base model. Under the lock."""
        key = str(adapter) if adapter else None
        if key == self._active:
            return
        if key is not None and key not in self._adapters:
            from peft import PeftModel

            with exclusive_load():
                name = f"a{len(self._adapters)}"
                if not self._adapters:
                    self.model = PeftModel.from_pretrained(self.model, key, adapter_name=name).eval()
                else:
                    self.model.load_adapter(key, adapter_name=name)
            self._adapters[key] = name
            log.info("adapter %s loaded", adapter)
        if key is None:
            self.model.base_model.disable_adapter_layers()
        else:
            if self._active is None:
                self.model.base_model.enable_adapter_layers()
            self.model.set_adapter(self._adapters[key])
        self._active = key

    def generate(self, prompt: str | list[int], max_new_tokens: int, stop: Callable[[str], int | None] | None = None,
                 cancel: threading.Event | None = None, forced: str = "", adapter: str | Path | None = None) -> Generation:
        """Greedy continuation of `prompt`, by the base model or with a LoRA `adapter` (a peft folder). With
        `forced` (token healing, see healing.py) the first tokens are chosen among those that spell it,
        however they split it; the text returned starts with it."""
        import torch

        t_encode = time.perf_counter()
        ids = self.encode(prompt) if isinstance(prompt, str) else list(prompt)
        encode_ms = _ms(t_encode)
        cancel = cancel or threading.Event()
        with self._lock, torch.inference_mode():
            self._use_adapter(adapter)
            t0 = time.perf_counter()
            cache, start = self._reuse(ids)
            logits = None
            for i in range(start, len(ids), PREFILL_CHUNK):
                if cancel.is_set():
                    self._remember(cache, ids[:i])
                    return Generation("", 0, len(ids), start, _ms(t0), 0.0, "cancelled", encode_ms)
                out = self.model(input_ids=torch.tensor([ids[i:i + PREFILL_CHUNK]], device=self.device),
                                 cache=cache, use_cache=True)
                cache, logits = out.cache, out.logits[:, -1]
            fed = list(ids)
            prefill_ms = _ms(t0)
            t1 = time.perf_counter()
            new: list[int] = []
            text, reason = "", "max_tokens"
            while len(new) < max_new_tokens:
                if cancel.is_set():
                    reason = "cancelled"
                    break
                if forced and (allowed := self._healing.allowed(forced)):
                    choices = torch.tensor(allowed, device=logits.device)
                    token = allowed[int(torch.argmax(logits[0, choices]))]
                    forced = consume(forced, self.token_texts[token])
                else:
                    token = int(torch.argmax(logits, dim=-1))
                if token in self.stop_ids:
                    reason = "eos"
                    break
                new.append(token)
                text = self.tokenizer.decode(new, skip_special_tokens=False)
                if stop is not None and (cut := stop(text)) is not None:
                    text, reason = text[:cut], "stop"
                    break
                out = self.model(input_ids=torch.tensor([[token]], device=self.device), cache=cache, use_cache=True)
                cache, logits = out.cache, out.logits[:, -1]
                fed.append(token)
            self._remember(cache, fed)
            return Generation(text, len(new), len(ids), start, prefill_ms, _ms(t1), reason, encode_ms)

    def _reuse(self, ids: list[int]):
        """The previous cache cropped to the prompt's shared prefix, and where feeding must resume."""
        from transformers import DynamicCache

        shared = common_prefix(self._cache_ids, ids)
        shared = min(shared, len(ids) - 1)  # at least one token must be fed to get logits
        if self._cache is None or shared < MIN_REUSE or self._cache_adapter != self._active:
            return DynamicCache(), 0
        drop = self._cache.get_seq_length() - shared
        if drop > 0:
            self._cache.crop(-drop)
        return self._cache, shared

    def _remember(self, cache, fed: list[int]) -> None:
        self._cache, self._cache_ids, self._cache_adapter = cache, fed, self._active

    def forget_cache(self) -> None:
        with self._lock:
            self._cache, self._cache_ids, self._cache_adapter = None, [], None

    def score(self, context_ids: list[int], target_ids: list[int], adapter: str | Path | None = None) -> tuple[float, bool]:
        """(mean NLL of `target_ids` after `context_ids`, whether greedy decoding would produce exactly
        them). One teacher-forced pass: greedy decoding follows the target as long as every target token
        is the argmax, so no generation is needed. Leaves the KV cache holding the context."""

        import torch

        with self._lock, torch.inference_mode():
            self._use_adapter(adapter)
            cache, start = self._reuse(context_ids)
            last = None
            for i in range(start, len(context_ids), PREFILL_CHUNK):
                out = self.model(input_ids=torch.tensor([context_ids[i:i + PREFILL_CHUNK]], device=self.device),
                                 cache=cache, use_cache=True)
                cache, last = out.cache, out.logits[:, -1]
            out = self.model(input_ids=torch.tensor([target_ids], device=self.device), cache=cache, use_cache=True)
            logits = torch.cat([last, out.logits[0]]).float()  # row i predicts target i; the last row, what follows
            target = torch.tensor(target_ids, device=self.device)
            loss = torch.nn.functional.cross_entropy(logits[:-1], target)
            exact = logits[:-1].argmax(-1).tolist() == list(target_ids)
            out.cache.crop(-len(target_ids))
            self._remember(out.cache, list(context_ids))
            return float(loss), exact


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000

