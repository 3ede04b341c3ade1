"""Where and in which precision models run: CUDA when present, else CPU; bf16 where it is fast."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def pick_device(setting: str = "auto") -> str:
    import torch

    if setting in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda"
    if setting == "cuda":
        log.warning("device=cuda was asked for but no CUDA device is available; using the CPU")
    return "cpu"


def fast_dtype(device: str):
    """bf16 on GPUs and on CPUs with native bf16 (AVX512-BF16/AMX: ~2x faster here), else fp32."""
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    cpu = torch.cpu
    if getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)():
        return torch.bfloat16
    return torch.float32
