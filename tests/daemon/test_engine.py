"""The completion engine in process with the tiny model: cache, typed-ahead reuse, latest wins, records."""

import asyncio

import pytest

from conftest import write_files
from growpilot.completion.engine import CompletionRequest
from growpilot.config import Settings
from growpilot.server.services import Services
from lsp_fixtures import LSP_FILES


@pytest.fixture
def services(workspace, tiny_model):
    write_files(workspace, LSP_FILES)
    settings = Settings(model_path=str(tiny_model), debounce_ms=0, max_tokens=16)
    s = Services(settings)
    s.index_folder(s.add_folder(workspace))
    s.model.load(settings)
    yield s
    s.close()


def _req(root, text=None, line=None, col=None):
    text = text if text is not None else LSP_FILES["app.py"]
    lines = text.rstrip("\n").split("\n")
    line = len(lines) - 1 if line is None else line
    col = len(lines[line]) if col is None else col
    return CompletionRequest(str(root / "app.py"), text, line, col)


async def test_same_context_is_served_from_cache(services, workspace):
    first = await services.engine.complete(_req(workspace))
    again = await services.engine.complete(_req(workspace))
    assert first.source == "model" and again.source == "cache" and again.text == first.text
    assert again.generation_id != first.generation_id and again.latency_ms < first.latency_ms


async def test_typing_the_start_of_a_suggestion_serves_the_rest(services, workspace):
    first = await services.engine.complete(_req(workspace))
    assert len(first.text) >= 2
    text = LSP_FILES["app.py"].rstrip("\n") + first.text[0] + "\n"
    ahead = await services.engine.complete(_req(workspace, text))
    assert ahead.source == "typeahead" and ahead.text == first.text[1:]


async def test_latest_request_wins(services, workspace):
    services.settings = Settings(**{**services.settings.__dict__, "debounce_ms": 50})
    older = asyncio.ensure_future(services.engine.complete(_req(workspace, line=4, col=4)))
    await asyncio.sleep(0.01)
    newer = await services.engine.complete(_req(workspace))
    assert await older is None  # superseded during its debounce
    assert newer is not None


async def test_every_suggestion_is_recorded(services, workspace):
    s = await services.engine.complete(_req(workspace))
    row = services.events.generation(s.generation_id)
    assert row["output"] == s.text and row["path"] == "app.py" and row["model"] and row["latency_ms"] > 0
    assert row["kind"] == "inline" and row["mode"] == "line" and "<|fim_middle|>" in row["prompt"]


async def test_disabled_or_unloaded_answers_nothing_at_once(services, workspace):
    settings = services.settings
    services.settings = Settings(completions_enabled=False)
    assert await services.engine.complete(_req(workspace)) is None
    services.settings = settings
    services.model.backend = None  # as while loading
    assert await services.engine.complete(_req(workspace)) is None


def _typed(root, typed: str):
    """app.py with `typed` after its last line's `helpers.`, and a long suffix below it."""
    text = LSP_FILES["app.py"].rstrip("\n") + typed + "\n\n\n" + "".join(
        f"def other_{i}(widget):\n    return helpers.frobnicate_widget_cache(widget, {i})\n\n" for i in range(30))
    return _req(root, text, line=6, col=len("    return helpers.") + len(typed))


async def _typing_timings(engine, root, steps):
    """Each step's timings (as the engine recorded them), typed-ahead reuse off: every step is modelled."""
    out = []
    for typed in steps:
        engine.forget_last()
        await engine.complete(_typed(root, typed))
        out.append(dict(engine.last_timings))
    return out


async def test_typing_along_a_line_keeps_the_prompt_before_the_cursor(services, workspace):
    steps = ["f", "fr", "frobnicate_widget_cache(widget, "]
    first, second, third = await _typing_timings(services.engine, workspace, steps)
    assert "typing_reuse" not in first  # the first request on a line builds the whole prompt
    assert second.get("typing_reuse") and third.get("typing_reuse")
    assert second["snippets"] == third["snippets"] == first["snippets"] and first["snippets"]
    assert second["retrieval_ms"] == third["retrieval_ms"] == 0.0
    # "fr" is still inside the token healing gave up: the very same prompt, whole suffix included
    assert second["healed"] == "fr" and second["prompt_tokens"] == first["prompt_tokens"]
    assert second["reused_tokens"] >= second["prompt_tokens"] - 8
    # past it, the line as typed and a short suffix: the cache holds all but the prompt's end
    assert third["prompt_tokens"] < first["prompt_tokens"]
    assert third["reused_tokens"] >= third["prompt_tokens"] - 60


async def test_a_new_line_or_an_edit_elsewhere_builds_a_fresh_prompt(services, workspace):
    engine = services.engine
    await _typing_timings(engine, workspace, ["f"])
    moved = _typed(workspace, "f")
    lines = moved.text.split("\n")
    lines[5] += " And more."  # the docstring above the cursor changed
    edited = CompletionRequest(moved.path, "\n".join(lines), moved.line, moved.character)
    engine.forget_last()
    await engine.complete(edited)
    assert "typing_reuse" not in engine.last_timings
    newline = _req(workspace, moved.text.replace("helpers.f", "helpers.f\n    "), line=7, col=4)
    engine.forget_last()
    await engine.complete(newline)
    assert "typing_reuse" not in engine.last_timings


async def test_typing_reuse_off_builds_every_prompt_afresh(services, workspace):
    services.settings = Settings(**{**services.settings.__dict__, "typing_reuse": False})
    timings = await _typing_timings(services.engine, workspace, ["f", "fr"])
    assert not any(t.get("typing_reuse") for t in timings)
    assert timings[1]["prompt_tokens"] >= timings[0]["prompt_tokens"]  # the whole suffix each time


def _with(services, **changes):
    services.settings = Settings(**{**services.settings.__dict__, **changes})


async def test_a_warm_up_prefills_what_the_first_keystroke_there_reads(services, workspace):
    """Where the cursor rests, a warm-up builds and prefills the prompt a request there would get: the first
    keystroke there keeps that layout, finds all but the prompt's end cached, and gets the very prompt and
    answer it gets after a request made at rest (warm-ups off)."""
    engine = services.engine
    rest, typed = _typed(workspace, ""), _typed(workspace, "frobnicate_widget_cache(widget, ")
    assert await engine.warm(rest) == "warmed"
    assert await engine.warm(rest) == "cached"  # this line's prompt is there already
    warmed = await engine.complete(typed)
    timings = dict(engine.last_timings)
    assert warmed.source == "model" and timings.get("typing_reuse")
    assert timings["reused_tokens"] >= timings["prompt_tokens"] - 60

    _with(services, warm_up=False)
    assert await engine.warm(rest) == "off"
    await engine.complete(_req(workspace, line=4, col=4))  # elsewhere first: that layout is gone
    await engine.complete(rest)  # a request at rest (Alt+\) lays the line out as the warm-up did
    engine.forget_last()
    asked = await engine.complete(typed)
    assert asked.source == "model" and engine.last_timings.get("typing_reuse")
    assert asked.text == warmed.text
    prompt = services.events.generation(warmed.generation_id)["prompt"]
    assert prompt and services.events.generation(asked.generation_id)["prompt"] == prompt


async def test_a_warm_up_starts_nothing_while_a_request_is_answered(services, workspace):
    _with(services, debounce_ms=300)
    pending = asyncio.ensure_future(services.engine.complete(_req(workspace)))
    await asyncio.sleep(0.05)  # in its debounce
    assert await services.engine.warm(_typed(workspace, "")) == "busy"
    assert (await pending).source == "model"  # not superseded: a warm-up is not a keystroke
    assert await services.engine.warm(CompletionRequest(str(workspace / ".env"), "A=1\n", 0, 2)) == "off"


async def test_a_request_waits_for_the_warm_up_of_its_own_start_and_cancels_another(services, workspace):
    """With the model thread busy, a warm-up and then a request queue behind it: a keystroke on the warmed
    line lets the warm-up run (its prefill is that request's start), a request elsewhere cancels it."""
    import threading

    engine = services.engine

    async def warm_up_then(request):
        gate = threading.Event()
        blocker = asyncio.ensure_future(engine.run_on_model(gate.wait, 60))
        warming = asyncio.ensure_future(engine.warm(_typed(workspace, "")))
        await asyncio.sleep(1.0)  # laid out, queued for the model
        answering = asyncio.ensure_future(engine.complete(request))
        await asyncio.sleep(1.0)  # past its debounce and prompt: it has kept or cancelled the warm-up
        gate.set()
        await blocker
        return await warming, await answering

    warmed, answer = await warm_up_then(_typed(workspace, "frobnicate_widget_cache(widget, "))
    timings = engine.last_timings
    assert warmed == "warmed" and answer.source == "model" and timings.get("typing_reuse")
    assert timings["reused_tokens"] >= timings["prompt_tokens"] - 60
    await engine.complete(_req(workspace, line=4, col=4))  # the layout moves off the warmed line
    warmed, answer = await warm_up_then(_req(workspace, line=0, col=5))
    assert warmed == "cancelled" and answer is not None
