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
