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
    "shop/cart.py": ("@dataclass\nclass Cart:\n    \"\"\"A basket.\n\n    Long story.\n    \"\"\"\n    owner: str\n"
                     + "".join(f"\n    def step_{i}(self):\n        return {i}\n" for i in range(30))
                     + "\n    def _hidden(self):\n        pass\n\n    def checkout(\n        self,\n        coupon: str = '',\n    ) -> float:\n"
                     "        return 0.0\n"),
    "trips.py": ("from geo.distance import haversine_km\nfrom geo.units import km_to_miles\n\n\n"
                "def trip_miles(stops):\n    total = sum(haversine_km(a, b) for a, b in zip(stops, stops[1:]))\n"
                "    return "),
}


@pytest.fixture
def engine_and_ws(workspace, embedder):
    write_files(workspace, FILES)
    index = WorkspaceIndex(workspace, embedder, Settings())
    index.refresh()
    settings = {"now": Settings(retrieval_snippets=3)}
    engine = CompletionEngine(ModelHolder(), EventStore(), lambda: settings["now"])
    engine.use = lambda **changes: settings.update(now=Settings(**changes))  # the test's settings owner
    yield engine, Workspace(str(workspace), index.search, index.definitions, index.members)
    index.close()


def _ctx(text: str, path: str = "trips.py") -> CursorContext:
    return CursorContext(path, "python", text, "", text.count("\n"), completion_mode(text, ""))


def test_imported_unused_names_come_first_then_names_near_the_cursor(engine_and_ws):
    engine, ws = engine_and_ws
    snippets = engine.retrieve(ws, _ctx(FILES["trips.py"]))
    paths = [s.path for s in snippets]
    assert paths[:2] == ["geo/units.py", "geo/distance.py"]  # imported, not used yet; then used just above
    assert "trips.py" not in paths  # the prompt already shows this file


def test_imported_names_not_used_yet_come_first_those_the_code_talks_about_before_others(engine_and_ws):
    engine, ws = engine_and_ws
    text = ("from report.format import pretty_table as table\nfrom geo.units import km_to_miles, miles_to_km\n"
            "from geo.distance import haversine_km\n\n\ndef show(rows):\n    print(km_to_miles(1))\n    return ")
    chosen = [d.symbol for d, _ in engine._definitions(ws, _ctx(text, "show.py"), 4)]
    # all words of miles_to_km are on the lines above, half of haversine_km's, none of pretty_table's
    # (imported as `table`, unused); km_to_miles is imported too but already used
    assert chosen == ["miles_to_km", "haversine_km", "pretty_table", "km_to_miles"]
    plain = text.split("def ")[0] + "def f(r):\n    return "  # nothing used, no word in common: import order
    assert [d.symbol for d, _ in engine._definitions(ws, _ctx(plain, "show.py"), 3)] == [
        "pretty_table", "km_to_miles", "miles_to_km"]


def test_an_import_inside_the_function_comes_first_and_one_used_mid_file_is_not_pending(engine_and_ws):
    engine, ws = engine_and_ws
    head = "from geo.units import km_to_miles, miles_to_km\nfrom report.format import pretty_table\n\n\n"
    filler = "".join(f"def filler_{i}():\n    return {i}\n\n\n" for i in range(60))  # 240 lines
    # pretty_table is used past the file's head and before the lines near the cursor (HEAD_LINES, NAME_LINES)
    used_mid = filler + "def early(rows):\n    return pretty_table(rows)\n\n\n" + filler
    text = head + used_mid + "def show(stops):\n    from geo.distance import haversine_km\n    miles = "
    chosen = [(d.symbol, why) for d, why in engine._definitions(ws, _ctx(text, "show.py"), 4)]
    assert chosen[0] == ("haversine_km", "imported")  # imported right here, for the lines below
    assert ("pretty_table", "imported") not in chosen  # used far up the file: the model has seen it in use
    assert {"km_to_miles", "miles_to_km"} <= {name for name, why in chosen if why == "imported"}


def test_no_workspace_or_zero_snippets_means_no_retrieval(engine_and_ws):
    engine, ws = engine_and_ws
    assert engine.retrieve(None, _ctx(FILES["trips.py"])) == []
    engine.use(retrieval_snippets=0)
    assert engine.retrieve(ws, _ctx(FILES["trips.py"])) == []


def test_search_hits_fill_the_remaining_slots(engine_and_ws):
    engine, ws = engine_and_ws
    snippets = engine.retrieve(ws, _ctx("# print the rows as a pretty table\nrows = load()\n", "new.py"))
    assert "report/format.py" in [s.path for s in snippets]


def test_imports_far_above_the_cursor_still_count(engine_and_ws):
    engine, ws = engine_and_ws
    body = "".join(f"value_{i} = {i}\n" for i in range(300))  # the import is 300 lines up
    text = "from report.format import pretty_table\n\n" + body + "print("
    engine.use(retrieval_snippets=1)
    assert [s.path for s in engine.retrieve(ws, _ctx(text, "long.py"))] == ["report/format.py"]


def test_a_big_class_is_shown_as_its_head_and_public_signatures(engine_and_ws):
    engine, ws = engine_and_ws
    engine.use(retrieval_snippets=1)
    text = "from shop.cart import Cart\n\n\ndef pay(owner):\n    return Cart(owner)."
    [snippet] = engine.retrieve(ws, _ctx(text, "pay.py"))
    assert snippet.path == "shop/cart.py"
    assert snippet.text.startswith('@dataclass\nclass Cart:\n    """A basket."""\n    owner: str')
    assert "    def checkout(self, coupon: str = '') -> float: ..." in snippet.text  # one line, from three
    assert "_hidden" not in snippet.text and "return 0.0" not in snippet.text
