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
