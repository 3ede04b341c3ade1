"""The adapter registry (versions, the atomic active pointer, promote, rollback) and the promotion gate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from growpilot.training.errors import RegistryError
from growpilot.training.gate import decide
from growpilot.training.registry import Registry


def weights(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": 16}))
    (folder / "adapter_model.safetensors").write_bytes(os.urandom(64))
    return folder


def meta(status: str, nll: float) -> dict:
    return {"status": status, "decision": status, "reason": "test", "metrics": {"candidate": {"nll": nll}},
            "base_model": {"name": "tiny", "hash": "abc"}}


@pytest.fixture
def registry(tmp_path) -> Registry:
    return Registry(tmp_path / "adapters")


def test_versions_are_numbered_immutable_folders(registry, tmp_path):
    v1 = registry.add(weights(tmp_path, "a"), meta("promoted", 1.5))
    v2 = registry.add(weights(tmp_path, "b"), meta("rejected", 1.7))
    assert (v1.version, v2.version) == ("v1", "v2")
    assert (v1.path / "adapter_model.safetensors").read_bytes() == (tmp_path / "a" / "adapter_model.safetensors").read_bytes()
    assert json.loads((v1.path / "meta.json").read_text())["created"]
    assert registry.active() is None  # added is not active: promotion is a separate, atomic step
    assert [(a.version, a.status, a.active) for a in registry.list()] == [("v1", "interrupted", False), ("v2", "rejected", False)]


def test_promote_rollback_and_statuses(registry, tmp_path):
    for name in "abc":
        registry.add(weights(tmp_path, name), meta("promoted", 1.0))
    registry.promote("v1")
    registry.promote("v3")
    assert registry.active().version == "v3"
    assert registry.rollback().version == "v1"  # to the previously promoted one
    assert {a.version: a.status for a in registry.list()} == {"v1": "promoted", "v2": "interrupted", "v3": "rolled-back"}
    assert registry.rollback() is None  # then to the base model
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()
    registry.promote("v3")  # a rolled-back (or rejected) version can be promoted by hand
    assert registry.active().version == "v3" and registry.get("v3").status == "promoted"
    history = json.loads((registry.folder / "active.json").read_text())["history"]
    assert [h["action"] for h in history] == ["promote", "promote", "rollback", "rollback", "promote"]


def test_unknown_version_is_a_clear_error_and_changes_nothing(registry, tmp_path):
    registry.add(weights(tmp_path, "a"), meta("promoted", 1.0))
    registry.promote("v1")
    before = (registry.folder / "active.json").read_bytes()
    for bad in ("v9", "latest", "../v1", ""):
        with pytest.raises(RegistryError, match="unknown adapter version"):
            registry.promote(bad)
    assert (registry.folder / "active.json").read_bytes() == before


def test_leftovers_of_interrupted_writes_are_ignored(registry, tmp_path):
    registry.add(weights(tmp_path, "a"), meta("promoted", 1.0))
    registry.promote("v1")
    (registry.folder / ".active.json.x1y2.tmp").write_text('{"active": "v7", "sta')  # a pointer write cut short
    half = registry.folder / ".v2.tmp-4242"  # a version copy cut short
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"\0" * 10)
    assert registry.active().version == "v1" and [a.version for a in registry.list()] == ["v1"]
    v2 = registry.add(weights(tmp_path, "b"), meta("promoted", 0.9))
    assert v2.version == "v2" and not half.exists() and not list(registry.folder.glob(".active.json.*"))


KILLER = """
import sys
from pathlib import Path
from growpilot.training.registry import Registry

r = Registry(Path(sys.argv[1]))
print("ready", flush=True)
while True:
    r.promote("v2")
    r.rollback()
    r.promote("v3")
    r.rollback()
"""


def test_a_kill_during_promotion_leaves_a_valid_active_pointer(registry, tmp_path):
    for name in "abc":
        registry.add(weights(tmp_path, name), meta("promoted", 1.0))
    registry.promote("v1")
    for i in range(12):
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(registry.folder)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.037 * i)  # land anywhere in the write, rename, fsync sequence
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        pointer = json.loads((registry.folder / "active.json").read_text())  # never half-written
        assert pointer["active"] in ("v1", "v2", "v3") and pointer["stack"][0] == "v1"
        assert Registry(registry.folder).active().version == pointer["active"]
    assert len(json.loads((registry.folder / "active.json").read_text())["history"]) > 12  # it did write


def metrics(base: float, cand: float, active: float | None = None, sanity_base: float = 2.0,
            sanity_cand: float = 2.0) -> dict:
    return {"base": {"nll": base, "sanity_nll": sanity_base},
            "active": {"nll": active, "sanity_nll": 2.0} if active is not None else None,
            "candidate": {"nll": cand, "sanity_nll": sanity_cand}}


def test_gate_promotes_only_a_clear_improvement_over_what_serves():
    assert decide(metrics(1.00, 0.96), 0.97, 0.02).promote
    d = decide(metrics(1.00, 0.98), 0.97, 0.02)
    assert not d.promote and "0.980×" in d.reason and "base model" in d.reason
    # With an adapter active, the bar is the active one, not the base.
    d = decide(metrics(1.00, 0.90, active=0.91), 0.97, 0.02, "v2")
    assert not d.promote and "active adapter v2" in d.reason
    assert decide(metrics(1.00, 0.85, active=0.91), 0.97, 0.02, "v2").promote
    assert decide(metrics(1.00, 0.99), 1.0, 0.02).promote  # the ratio is a setting


def test_gate_rejects_forgetting_beyond_the_tolerance():
    d = decide(metrics(1.0, 0.8, sanity_cand=2.05), 0.97, 0.02)
    assert not d.promote and "sanity" in d.reason and "+2.5%" in d.reason
    assert decide(metrics(1.0, 0.8, sanity_cand=2.03), 0.97, 0.02).promote
    assert decide(metrics(1.0, 0.8, sanity_cand=2.05), 0.97, 0.05).promote
    assert not decide({"base": {"nll": None}, "active": None, "candidate": {"nll": None}}, 0.97, 0.02).promote
