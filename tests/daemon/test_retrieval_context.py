"""What the engine retrieves for a prompt: definitions of names near the cursor, other files first,
never the part of the current file the prompt already shows."""

import pytest

from conftest import write_files
from growpilot.completion.context import CursorContext, completion_mode
from growpilot.completion.engine import CompletionEngine, Workspace
from growpilot.config import Settings
from growpilot.indexing.indexer import WorkspaceIndex
from growpilot.learning.events import EventStore
from growpilot.models.holder import ModelHolder

FILES = {
    "geo/distance.py": "def haversine_km(a, b):\n    \"\"\"Great-circle distance.\"\"\"\n    return 0.0\n",
    "geo/units.py": "def km_to_miles(km):\n    return km * 0.621\n\n\ndef miles_to_km(mi):\n    return mi / 0.621\n",
    "report/format.py": "def pretty_table(rows):\n    return '\\n'.join(map(str, rows))\n",
    "trips.py": ("from geo.distance import haversine_km\nfrom geo.units import km_to_miles\n\n\n"
                "def trip_miles(stops):\n    total = sum(haversine_km(a, b) for a, b in zip(stops, stops[1:]))\n"
                "    return "),
}


@pytest.fixture
def engine_and_ws(workspace, embedder):
    write_files(workspace, FILES)
    index = WorkspaceIndex(workspace, embedder, Settings())
    index.refresh()
    engine = CompletionEngine(ModelHolder(), EventStore(), Settings(retrieval_snippets=3))
    yield engine, Workspace(str(workspace), index.search, index.definitions)
    index.close()


def _ctx(text: str, path: str = "trips.py") -> CursorContext:
    return CursorContext(path, "python", text, "", text.count("\n"), completion_mode(text, ""))


def test_definitions_of_names_near_the_cursor_come_first(engine_and_ws):
    engine, ws = engine_and_ws
    snippets = engine.retrieve(ws, _ctx(FILES["trips.py"]))
    paths = [s.path for s in snippets]
    assert paths[0] == "geo/distance.py"  # used on the line above the cursor
    assert "geo/units.py" in paths  # imported, not used yet: about to be
    assert "trips.py" not in paths  # the prompt already shows this file


def test_no_workspace_or_zero_snippets_means_no_retrieval(engine_and_ws):
    engine, ws = engine_and_ws
    assert engine.retrieve(None, _ctx(FILES["trips.py"])) == []
    engine.settings = Settings(retrieval_snippets=0)
    assert engine.retrieve(ws, _ctx(FILES["trips.py"])) == []


def test_search_hits_fill_the_remaining_slots(engine_and_ws):
    engine, ws = engine_and_ws
    snippets = engine.retrieve(ws, _ctx("# print the rows as a pretty table\nrows = load()\n", "new.py"))
    assert "report/format.py" in [s.path for s in snippets]


def test_imports_far_above_the_cursor_still_count(engine_and_ws):
    engine, ws = engine_and_ws
    body = "".join(f"value_{i} = {i}\n" for i in range(300))  # the import is 300 lines up
    text = "from report.format import pretty_table\n\n" + body + "print("
    engine.settings = Settings(retrieval_snippets=1)
    assert [s.path for s in engine.retrieve(ws, _ctx(text, "long.py"))] == ["report/format.py"]
