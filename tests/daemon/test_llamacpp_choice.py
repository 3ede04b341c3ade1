"""Which backend serves (the `backend` setting), and the default GGUF kept in the model cache for it."""

import pytest

from growpilot.config import settings_from
from growpilot.models import provision
from growpilot.models.holder import choose_backend
from growpilot.models.provision import ModelError


def test_auto_takes_llama_cpp_for_a_gguf_it_can_load_where_torch_has_no_native_bf16():
    assert choose_backend("auto", has_gguf=True, llama_imports=lambda: True) == "llama.cpp"
    assert choose_backend("auto", has_gguf=True, llama_imports=lambda: False) == "transformers"
    assert choose_backend("auto", has_gguf=False, llama_imports=lambda: True) == "transformers"
    assert choose_backend("transformers", has_gguf=True, llama_imports=lambda: True) == "transformers"
    # where torch computes bf16 natively its prefill is the faster one: transformers, unless asked for
    assert choose_backend("auto", has_gguf=True, llama_imports=lambda: True, native_bf16=True) == "transformers"
    assert choose_backend("llama.cpp", has_gguf=True, llama_imports=lambda: True, native_bf16=True) == "llama.cpp"


def test_an_explicit_llama_cpp_that_cannot_serve_says_why():
    with pytest.raises(ModelError, match="needs a GGUF"):
        choose_backend("llama.cpp", has_gguf=False, llama_imports=lambda: True)
    with pytest.raises(ModelError, match="llama-cpp-python is not installed"):
        choose_backend("llama.cpp", has_gguf=True, llama_imports=lambda: False)


def test_the_backend_setting_is_validated():
    assert settings_from({"backend": "llama.cpp"})[0].backend == "llama.cpp"
    settings, problems = settings_from({"backend": "vllm"})
    assert settings.backend == "auto" and "backend" in problems[0]


def test_the_default_gguf_is_kept_verified_and_rejoined_when_damaged(tmp_path, monkeypatch):
    """The real parts, joined into a throwaway cache: the GGUF stays (llama.cpp serves it as it is), its
    sha256 verifies, and a truncated one is joined again rather than served."""
    monkeypatch.setenv("GROWPILOT_MODEL_CACHE", str(tmp_path))
    gguf = provision.install_default_gguf()
    assert gguf == tmp_path / provision.LM_GGUF and gguf.exists()
    provision.verify_gguf()
    assert [p.name for p in tmp_path.iterdir()] == [provision.LM_GGUF]  # no temp file left behind
    size = gguf.stat().st_size
    with open(gguf, "r+b") as fh:
        fh.truncate(size - 1000)
    with pytest.raises(ModelError, match="sha256 mismatch"):
        provision.verify_gguf()
    provision.install_default_gguf()
    assert gguf.stat().st_size == size
    provision.verify_gguf()
