"""Learned and explicit coding preferences (learning/preferences.py): the detectors on small texts, the
weighing, the setting over what was learned, the CLI, the LSP command, and the code actions' prompts."""

import json
import logging
import sqlite3
import sys
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import run_cli, write_files
from growpilot.config import settings_from
from growpilot.learning import preferences as p
from lsp_fixtures import Recorder, command, init_params, open_doc, plain

SINGLE = ("import logging\n\nlog = logging.getLogger(__name__)\n\n\n"
          "def load_rows(file_name: str) -> list:\n"
          "    log.info('loading %s', file_name)\n"
          "    with open(file_name, 'r') as handle:\n"
          "        raw_rows = handle.read().split('\\n')\n"
          "    return [row for row in raw_rows if row != '']\n")
DOUBLE = SINGLE.replace("'", '"')
CAMEL = "def loadRows(fileName):\n  rawRows = open(fileName).read()\n  print(rawRows)\n  return rawRows\n"


# ----- detectors
def test_indentation_is_counted_per_deeper_line():
    assert p.indent_counts(SINGLE) == {4: 2}
    assert p.indent_counts(CAMEL) == {2: 1}
    assert p.indent_counts("def f():\n\treturn 1\n") == {"tabs": 1}
    assert p.indent_counts("") == {}


def test_quotes_count_one_line_literals_not_docstrings_or_forced_ones():
    assert p.python_quote_counts(SINGLE) == {"single": 4}
    assert p.python_quote_counts(DOUBLE) == {"double": 4}
    text = 'def f():\n    """Doc."""\n    return "it\'s" + \'x\'\n'
    assert p.python_quote_counts(text) == {"single": 1}  # the docstring and "it's" say nothing
    assert p.python_quote_counts("x = 'a' + (") == {"single": 1}  # a fragment keeps what it saw
    assert p.js_quote_counts("const a = 'x';\nconst b = \"y\"; // 'c'\nconst c = 'z';\n") == {"single": 2, "double": 1}


def test_naming_sees_functions_parameters_and_variables():
    assert p.python_naming_counts(SINGLE) == {"snake_case": 3}  # load_rows, file_name, raw_rows
    assert p.python_naming_counts(CAMEL) == {"camelCase": 3}
    assert p.python_naming_counts("def loadRows(x):\n  y =") == {"camelCase": 1}  # a fragment: regex
    assert p.js_naming_counts("function loadRows() {}\nconst row_count = 1;\nlet x = 2;\n") == {
        "camelCase": 1, "snake_case": 1}
    assert [p.name_style(n) for n in ("x", "MAX_ROWS", "__init__", "Widget")] == [None] * 4


def test_logging_print_and_type_hints():
    assert p.logging_counts(SINGLE) == {"logging": 1}
    assert p.logging_counts(CAMEL) == {"print": 1}
    assert p.logging_counts("logger.warning('x')\nprint('y')\nself.print('z')\n") == {"logging": 1, "print": 1}
    assert p.type_hint_counts(SINGLE) == {"annotated": 1}
    assert p.type_hint_counts(CAMEL) == {"plain": 1}
    assert p.type_hint_counts("def f(:") == {}


def test_scripts_and_tests_do_not_vote_on_logging():
    script = "def main():\n    print('hi')\n\n\nif __name__ == '__main__':\n    main()\n"
    prefs, _ = p.learn([("pkg/core.py", SINGLE), ("tool.py", script), ("scripts/run.py", CAMEL),
                        ("tests/test_core.py", "def test_x():\n    print('x')\n")])
    assert prefs["logging"].value == "logging" and prefs["logging"].evidence["codebase"] == {"logging": 1}
    assert prefs["testFramework"].value == "pytest"


# ----- weighing
def test_a_tie_or_no_evidence_is_no_preference():
    assert p.decide(p.Counter(), p.Counter()).value is None
    tie = p.decide(p.Counter(single=3, double=3), p.Counter())
    assert tie.value is None and tie.share == 0.5
    assert p.learn([])[0]["quotes"].value is None


def test_kept_suggestions_weigh_more_than_the_files():
    files = [("a.py", DOUBLE), ("b.py", "x = 'one'\n")]  # 4 double, 1 single literal in the files
    assert p.learn(files)[0]["quotes"].value == "double"
    kept = [("a.py", "name = 'x'\n")]  # one kept single-quoted literal counts ACCEPTED_WEIGHT times
    quotes = p.learn(files, kept)[0]["quotes"]
    assert (quotes.value, quotes.source) == ("single", "accepted")
    assert quotes.evidence == {"codebase": {"double": 4, "single": 1}, "accepted": {"single": 1}}
    assert quotes.share == pytest.approx(6 / 10)


def test_the_setting_overrides_what_was_learned_and_bad_entries_are_ignored():
    learned = p.learn([("a.py", SINGLE)])[0]
    assert learned["quotes"].value == "single" and learned["docstringStyle"].value is None
    prefs, notes = p.learn([("a.py", SINGLE)], explicit={"quotes": "double", "docstringStyle": "numpy",
                                                        "typeHints": False, "notes": "no walrus", "indent": 3,
                                                        "colour": "blue"})
    assert (prefs["quotes"].value, prefs["quotes"].source, prefs["quotes"].share) == ("double", "settings", 1.0)
    assert prefs["quotes"].evidence["codebase"] == {"single": 4}  # what the files say stays visible
    assert prefs["docstringStyle"].value == "numpy" and prefs["typeHints"].value is False
    assert prefs["indent"].source == "codebase" and notes == "no walrus"
    ok, problems = p.parse_explicit({"indent": 3, "colour": "blue", "typeHints": "yes", "notes": 4, "indent2": 1})
    assert ok == {} and len(problems) == 5 and any("colour is unknown" in x for x in problems)
    assert p.parse_explicit("single") == ({}, ["setting preferences must be an object, got str; ignored"])


def test_the_setting_is_an_object_in_the_settings():
    settings, problems = settings_from({"preferences": {"quotes": "single"}})
    assert settings.preferences == {"quotes": "single"} and problems == []
    settings, problems = settings_from({"preferences": "single"})
    assert settings.preferences == {} and "expected an object" in problems[0]


def test_the_conventions_block_names_what_is_clear_and_the_notes():
    prefs, notes = p.learn([(f"{n}.py", SINGLE) for n in "abc"], explicit={"notes": "Prefer pathlib."})
    block = p.conventions_block(prefs, notes, "python")
    assert block.startswith("Follow this project's conventions: single quotes for strings; 4-space indentation; "
                            "snake_case names")
    assert "the logging module" in block and "type hints" in block and block.endswith("The user's rules: Prefer pathlib.")
    assert p.conventions_block(p.learn([])[0], "", "python") == ""
    weak = p.learn([("a.py", "x = 'a'\n")])[0]  # one literal: too little to tell the model
    assert "quotes" not in p.conventions_block(weak, "", "python")


def test_the_cache_recomputes_when_a_file_changes(workspace, caplog):
    write_files(workspace, {"a.py": SINGLE, "b.py": SINGLE})
    settings, _ = settings_from({"preferences": {"bogus": 1}})
    cache = p.PreferenceCache()
    with caplog.at_level(logging.WARNING):
        first, _ = cache.get(workspace, settings)
        again, _ = cache.get(workspace, settings)
    assert again is first and first["quotes"].value == "single"
    assert sum("preferences.bogus is unknown" in r.message for r in caplog.records) == 1
    time.sleep(0.01)
    write_files(workspace, {"a.py": DOUBLE, "b.py": DOUBLE, "c.py": DOUBLE})
    assert cache.get(workspace, settings)[0]["quotes"].value == "double"


def test_a_large_workspace_is_sampled_quickly(workspace):
    write_files(workspace, {f"pkg{i // 100}/mod_{i}.py": SINGLE for i in range(1500)})
    started = time.perf_counter()
    prefs, _ = p.PreferenceCache().get(workspace, settings_from({})[0])
    assert time.perf_counter() - started < 5.0  # 2 busy cores, under nice; ~0.5 s idle
    assert prefs["quotes"].evidence["codebase"]["single"] == 4 * p.MAX_FILES


# ----- the CLI
def test_cli_prints_the_preferences_as_json(workspace):
    write_files(workspace, {"a.py": SINGLE, "b.py": SINGLE, "tests/test_a.py": "import unittest\n\n\n"
                            "class T(unittest.TestCase):\n    def test_x(self):\n        self.assertTrue(1)\n"})
    out = run_cli("preferences", "--workspace", str(workspace), "--json",
                  env={"GROWPILOT_SETTINGS": json.dumps({"preferences": {"naming": "camelCase", "nope": 1}})})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["workspace"] == str(workspace.resolve())
    prefs = result["preferences"]
    assert prefs["quotes"] == {"value": "single", "source": "codebase", "evidence": {
        "codebase": {"single": 8}, "accepted": {}}, "share": 1.0}
    assert prefs["naming"]["value"] == "camelCase" and prefs["naming"]["source"] == "settings"
    assert prefs["testFramework"]["value"] == "unittest" and "preferences.nope is unknown" in out.stderr
    text = run_cli("preferences", "--workspace", str(workspace))
    assert text.returncode == 0 and "quotes: single  [codebase, share 100%]" in text.stdout


# ----- over LSP
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])
FILES = {"inventory/__init__.py": "", "inventory/rows.py": SINGLE, "inventory/more.py": SINGLE.replace("load_", "read_"),
         "inventory/models.py": "class Widget:\n    def __init__(self, widget_id, name):\n        self.widget_id = widget_id\n"
                                "        self.name = name\n"}


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, workspace, tiny_model):
    write_files(workspace, FILES)
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    await lsp_client.initialize_session(init_params(workspace, {
        "modelPath": str(tiny_model), "debounceMs": 0, "preferences": {"notes": "Prefer pathlib over os.path."}}))
    await lsp_client.rec.wait("growpilot/indexReady")
    await lsp_client.rec.wait("growpilot/modelReady")
    yield
    await lsp_client.shutdown_session()


async def test_the_command_answers_as_the_cli_does(client: LanguageClient, workspace):
    result = await command(client, "growpilot.preferences", {"folderUri": workspace.as_uri()})
    assert result["workspace"] == str(workspace.resolve())
    prefs = result["preferences"]
    assert prefs["quotes"]["value"] == "single" and prefs["quotes"]["evidence"]["codebase"] == {"single": 8}
    assert prefs["notes"] == {"value": "Prefer pathlib over os.path.", "source": "settings", "evidence": {}, "share": 1.0}
    assert (await command(client, "growpilot.preferences"))["preferences"] == prefs  # the only folder


async def test_a_code_action_prompt_holds_the_conventions(client: LanguageClient, workspace, growpilot_home):
    uri = open_doc(client, workspace, "inventory/models.py")
    result = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), types.Range(types.Position(1, 8), types.Position(1, 8)),
        types.CodeActionContext(diagnostics=[], trigger_kind=types.CodeActionTriggerKind.Invoked)))
    action = next(a for a in result if a.title == "Growpilot: Add docstring")
    try:
        generation = plain((await client.code_action_resolve_async(action)).data)["generationId"]
    except Exception as exc:  # a tiny model's answer may be refused: its prompt is recorded all the same
        generation = plain(exc.data)["generationId"]
    db = sqlite3.connect(growpilot_home / "events.sqlite")
    deadline = time.monotonic() + 10
    while (row := db.execute("SELECT prompt, timings FROM generations WHERE id=?", (generation,)).fetchone()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "Follow this project's conventions: single quotes for strings; 4-space indentation" in row[0]
    assert "The user's rules: Prefer pathlib over os.path." in row[0]
    assert "single quotes" in json.loads(row[1])["conventions"]
