"""The transformers backend with the tiny model: stop rules, cancellation, KV reuse, scoring."""

import threading

import pytest

from growpilot.completion.context import stop_rule
from growpilot.models.backend import TransformersBackend
from growpilot.models.provision import LMSource


@pytest.fixture(scope="module")
def backend(tiny_model):
    return TransformersBackend(LMSource("tiny", tiny_model))


def _prompt(backend, prefix):
    return backend.template.render(prefix, "\n", [], "app.py", "ws")


def test_greedy_score_agrees_with_generation(backend):
    ids = backend.encode(_prompt(backend, "def refresh_widget(widget):\n    return "))
    gen = backend.generate(ids, 12, stop_rule("line", "x = "))
    line = gen.text
    assert line and gen.stop_reason in ("stop", "eos")
    nll, exact = backend.score(ids, backend.encode(line))
    assert exact and nll >= 0
    _, exact_other = backend.score(ids, backend.encode(line + "zz"))
    assert not exact_other


def test_second_request_reuses_the_shared_prefix(backend):
    base = _prompt(backend, "from inventory import helpers\n\n\ndef refresh_widget(widget):\n    return ")
    backend.generate(base, 4)
    again = backend.generate(base.replace("return ", "return  "), 4)
    assert again.reused_tokens > 10


def test_cancel_stops_generation(backend):
    cancel = threading.Event()
    cancel.set()
    gen = backend.generate(_prompt(backend, "def f():\n    "), 50, cancel=cancel)
    assert gen.stop_reason == "cancelled" and gen.tokens == 0


def test_adapters_switch_per_request_and_back_to_the_base(backend, tiny_model, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folders = []
    for seed in (1, 2):  # two workspaces' adapters, random but strong enough to change greedy text
        torch.manual_seed(seed)
        lora = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
                          init_lora_weights=False)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), lora)
        folders.append(tmp_path / f"adapter{seed}")
        model.save_pretrained(folders[-1])
    ids = backend.encode(_prompt(backend, "def refresh_widget(widget):\n    return "))
    target = backend.encode("helpers.frobnicate_widget_cache(widget, 600)\n")
    base = backend.score(ids, target)[0]
    first = backend.score(ids, target, adapter=folders[0])[0]
    second = backend.score(ids, target, adapter=folders[1])[0]
    assert backend.adapter == str(folders[1])
    assert abs(first - base) > 1e-3 and abs(second - first) > 1e-3
    assert abs(backend.score(ids, target)[0] - base) < 1e-4  # the base again, exactly
    assert abs(backend.score(ids, target, adapter=folders[0])[0] - first) < 1e-4
    assert backend.generate(ids, 4, adapter=folders[0]).prompt_tokens == len(ids)
