"""Shared fixtures: an isolated GROWPILOT_HOME per test, the real embedder (small, fast), workspaces."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


# Converted models are shared by every test (converting the default model takes a minute); all other
# state goes to a throwaway GROWPILOT_HOME per test.
if "GROWPILOT_MODEL_CACHE" not in os.environ:
    from growpilot.paths import model_cache_dir

    os.environ["GROWPILOT_MODEL_CACHE"] = str(model_cache_dir())


@pytest.fixture(autouse=True)
def growpilot_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GROWPILOT_HOME", str(home))
    return home


TRAIN_HYPER = json.dumps({"lr": 2e-3})  # the tiny model needs a larger step than the default model's 3e-4


@pytest.fixture
def small_training(monkeypatch):
    """The trainer's hyperparameters for the tiny model, here and in the daemons a test starts."""
    monkeypatch.setenv("GROWPILOT_TRAIN_HYPER", TRAIN_HYPER)


@pytest.fixture(scope="session")
def embedder():
    from growpilot.indexing.embedder import load_embedder

    return load_embedder("")


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def run_cli(*args: str, env: dict | None = None, timeout: float = 600):
    import subprocess

    return subprocess.run([sys.executable, "-m", "growpilot", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer model trained for seconds on the LSP fixture files (see tiny_model.py)."""
    from tiny_model import build_tiny_model

    from lsp_fixtures import TRAINING_TEXTS

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), TRAINING_TEXTS)
