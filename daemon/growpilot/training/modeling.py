"""The torch side shared by the trainer, the evaluator and `growpilot bench train`. Only those
processes import it: the daemon never loads the training stack into its serving threads.

Losses are computed on the positions that carry a label only: the LM head (a 151k-word vocabulary on
Qwen2.5: about a quarter of a 0.5B model's work per token) runs on a FIM sample's few middle tokens,
not on its whole prompt. That and length-bucketed batches are where a hand loop beats a generic one.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from growpilot.models.fim import FimTemplate, detect_template
from growpilot.models.healing import heal_split
from growpilot.training.data import Encoded

log = logging.getLogger(__name__)
IGNORE = -100
# LoRA targets per model family (config.model_type): the attention and MLP projections.
_LLAMA_LIKE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LORA_TARGETS = {
    "llama": _LLAMA_LIKE, "qwen2": _LLAMA_LIKE, "qwen3": _LLAMA_LIKE, "mistral": _LLAMA_LIKE, "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE, "qwen2_moe": _LLAMA_LIKE, "deepseek_v2": _LLAMA_LIKE,
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    "starcoder2": ("q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"),
    "gpt_bigcode": ("c_attn", "c_proj", "c_fc"),
}


@dataclass(frozen=True)
class Hyper:
    """Per-family defaults (Refact's self-hosted trainer uses the same rank, alpha and lr)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup: int = 20
    min_lr_share: float = 0.1  # cosine decays to this share of lr
    batch: int = 2  # sequences per micro-batch (on a CPU: 4 × 512 tokens held ~10 GB of activations)
    accum: int = 4  # micro-batches per optimizer step
    eval_every: int = 0  # 0: about eight held-out evaluations over the budget
    patience: int = 3  # evaluations without improvement before an early stop
    clip: float = 1.0


def hyper_for(device: str, overrides: dict | None = None) -> Hyper:
    base = Hyper(batch=16, accum=1) if device == "cuda" else Hyper()
    known = {k: v for k, v in (overrides or {}).items() if k in Hyper.__dataclass_fields__}
    return Hyper(**{**base.__dict__, **known})


@dataclass
class Base:
    tokenizer: object
    model: object
    device: str
    dtype: object
    template: FimTemplate
    end_id: int | None  # the end marker appended to FIM targets

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def heal(self, line_prefix: str) -> str:
        """What token healing takes off a prompt ending in `line_prefix` (as the engine does)."""
        return heal_split(line_prefix, self.encode, lambda ids: self.tokenizer.decode(ids, skip_special_tokens=False))

    @functools.cached_property
    def count(self):
        return functools.lru_cache(maxsize=1 << 17)(lambda text: len(self.encode(text)))

    @property
    def pad_id(self) -> int:
        t = self.tokenizer
        return t.pad_token_id if t.pad_token_id is not None else (t.eos_token_id or 0)


def cpu_limits(threads: int) -> None:
    """The trainer shares the machine with the editor and the daemon: capped threads, lowest priority."""
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)
    try:
        os.nice(19 - os.nice(0))
    except OSError:  # not permitted: keep what we have
        pass


def load_base(folder: str | Path, device_setting: str = "auto", threads: int = 0) -> Base:
    import torch

    from growpilot.models.device import fast_dtype, pick_device
    from growpilot.models.imports import exclusive_load

    device = pick_device(device_setting)
    if device == "cpu":
        cpu_limits(threads)
    dtype = fast_dtype(device)
    with exclusive_load():
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    model.to(device)
    template = detect_template(tokenizer.get_vocab().keys())
    vocab = tokenizer.get_vocab()
    end = next((vocab[t] for t in template.stops if t in vocab), tokenizer.eos_token_id)
    torch.manual_seed(0)
    return Base(tokenizer, model, device, dtype, template, end)


def lora_config(model, hyper: Hyper):
    from peft import LoraConfig

    kind = getattr(model.config, "model_type", "")
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS.get(kind, ()) if t in present] or "all-linear"
    return LoraConfig(r=hyper.rank, lora_alpha=hyper.alpha, lora_dropout=hyper.dropout, target_modules=targets,
                      bias="none", task_type="CAUSAL_LM")


def causal_lm(model):
    """The transformers CausalLM inside a peft wrapper (its LoRA layers are in place inside it)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def collate(batch: Sequence[Encoded], pad_id: int, device: str):
    """Right-padded ids, attention mask, labels and per-row weights."""
    import torch

    width = max(len(e.ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, e in enumerate(batch):
        n = len(e.ids)
        ids[r, :n] = torch.tensor(e.ids)
        labels[r, :n] = torch.tensor(e.labels)
        mask[r, :n] = 1
    weights = torch.tensor([e.weight for e in batch], dtype=torch.float32)
    return ids.to(device), mask.to(device), labels.to(device), weights.to(device)


def label_hidden(model, ids, mask, labels):
    """The last hidden state at the positions that predict a label: (hidden [N, H], targets [N], rows [N],
    hidden after each row's last real token [B, H])."""
    import torch

    lm = causal_lm(model)
    body = lm.get_decoder() if hasattr(lm, "get_decoder") else getattr(lm, lm.base_model_prefix)
    hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    sel = target != IGNORE
    rows = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1).expand_as(target)[sel]
    last = hidden[torch.arange(ids.shape[0], device=ids.device), mask.sum(1) - 1]
    return hidden[:, :-1][sel], target[sel], rows, last


def head_logits(model, hidden):
    """fp32 logits of hidden states through the LM head (and the family's finishing touches)."""
    lm = causal_lm(model)
    return _finish(lm, lm.get_output_embeddings()(hidden)).float()


def label_logits(model, ids, mask, labels, extra_last: bool = False):
    """Logits (fp32) at the positions that predict a label: (logits [N, V], targets [N], rows [N]) and,
    with `extra_last`, also the logits after each row's last real token [B, V] (what would follow)."""
    h, target, rows, last = label_hidden(model, ids, mask, labels)
    return head_logits(model, h), target, rows, head_logits(model, last) if extra_last else None


def _finish(lm, logits):
    """Family-specific touches the model's own forward applies to its logits."""
    import torch

    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    scale = getattr(lm.config, "logit_scale", None)
    return logits * scale if isinstance(scale, (int, float)) else logits


HEAD_CHUNK = 1024  # positions per LM-head chunk when training: 1024 × 151k fp32 logits ≈ 0.6 GB at a time


def batch_loss(model, batch: Sequence[Encoded], pad_id: int, device: str):
    """(Σ weight × token NLL, Σ weight × target tokens, real tokens) of one micro-batch."""
    ids, mask, labels, weights = collate(batch, pad_id, device)
    total, w = labelled_loss(model, ids, mask, labels, weights)
    return total, float(w), int(mask.sum())


def labelled_loss(model, ids, mask, labels, weights):
    """(Σ weight × token NLL, Σ weight × target tokens) as tensors. With gradients on, the LM head and
    the loss run in checkpointed chunks: the full logits of a plain 4 × 512 batch (1.2 GB in fp32 on
    Qwen) are never held at once, at the price of one more head pass in backward."""
    import torch
    from torch.utils.checkpoint import checkpoint

    h, target, rows, _ = label_hidden(model, ids, mask, labels)
    w = weights[rows]

    def chunk_loss(hc, tc, wc):
        nll = torch.nn.functional.cross_entropy(head_logits(model, hc), tc, reduction="none")
        return (nll * wc).sum()

    if not torch.is_grad_enabled() or h.shape[0] <= HEAD_CHUNK:
        total = chunk_loss(h, target, w)
    else:
        total = sum(checkpoint(chunk_loss, h[i:i + HEAD_CHUNK], target[i:i + HEAD_CHUNK], w[i:i + HEAD_CHUNK],
                               use_reentrant=False) for i in range(0, h.shape[0], HEAD_CHUNK))
    return total, w.sum()


def loss_module(model):
    """The peft model with `labelled_loss` as its forward: `m(ids, mask, labels, weights)`. Training
    goes through this module so that accelerate can wrap it in DDP, whose gradient all-reduce hooks run
    only for a forward through the wrapper (the model's own forward would run the LM head everywhere)."""
    return _loss_module_class()(model)


@functools.cache
def _loss_module_class():
    import torch

    class LabelledLoss(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, ids, mask, labels, weights):
            return labelled_loss(self.model, ids, mask, labels, weights)

    return LabelledLoss


def line_end_ids(tokenizer, template: FimTemplate) -> set[int]:
    """Tokens that end a single-line completion: the family's stops and any token starting a new line."""
    vocab = tokenizer.get_vocab()
    ids = {vocab[t] for t in template.stops if t in vocab}
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    ids |= {i for i, t in enumerate(texts) if t.startswith(("\n", "\r"))}
    return ids
