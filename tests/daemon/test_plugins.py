"""Plugins (growpilot.plugins): the host's discovery and failure isolation, the built-in python-syntax
post-processor, the plugins' share of the prompt, and, through the real LSP server with the tiny model,
the example package (examples/growpilot-plugin-example) and a plugin that raises."""

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import ROOT, write_files
from lsp_fixtures import LSP_FILES, Recorder, command, end_of, init_params, open_doc

from growpilot.completion.prompt import Budget, build_prompt
from growpilot.models.fim import TEMPLATES
from growpilot.plugins import GROUP, Request, Snippet
from growpilot.plugins.host import BUILTINS, MAX_CONSECUTIVE_FAILURES, PluginHost
from growpilot.plugins.python_syntax import PythonSyntax, cut_to_parse

EXAMPLE = ROOT / "examples" / "growpilot-plugin-example"
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])


def req(prefix="", suffix="", language="python", kind="inline", mode="block", workspace=None, path="m.py"):
    return Request(path, f"/ws/{path}", workspace, language, prefix, suffix, kind, mode)


def fake_install(site: Path, dist: str, version: str, entry_points: dict[str, str]) -> Path:
    """What `pip install` leaves for importlib.metadata: a dist-info folder with the entry points."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    return site


def install_example(site: Path) -> Path:
    """The example package as its own pyproject.toml declares it: its packages and its entry points."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    for package in project["tool"]["setuptools"]["packages"]:
        shutil.copytree(EXAMPLE / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    meta = project["project"]
    return fake_install(site, meta["name"], meta["version"], meta["entry-points"][GROUP])


def eps(**targets) -> list:
    return [importlib.metadata.EntryPoint(name, target, GROUP) for name, target in targets.items()]


PLUGINS_MODULE = '''
from growpilot.plugins import Snippet

class Upper:
    name = "upper"
    def postprocess(self, request, text):
        return text.upper()

class Veto:
    def postprocess(self, request, text):
        return None if "VETO" in text else text

class Flaky:
    name = "flaky"
    failing = True
    def postprocess(self, request, text):
        if Flaky.failing:
            raise ValueError("flaky says no")
        return text + "!"

class Notes:
    def context(self, request):
        return [Snippet("NOTES.md", "note for " + request.path), Snippet("EMPTY.md", "  ")]

def notes_factory():
    return Notes()

class WrongTypes:
    def context(self, request):
        return "a string is not snippets"
    def postprocess(self, request, text):
        return 42

class Nothing:
    pass

class Printer:
    def postprocess(self, request, text):
        print("a plugin printing")
        return text
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "gp_test_plugins.py").write_text(PLUGINS_MODULE)
    (tmp_path / "gp_bad_import.py").write_text("raise ImportError('this plugin needs numpy 9')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "gp_test_plugins"
    for name in ("gp_test_plugins", "gp_bad_import"):
        sys.modules.pop(name, None)


# ----- the host
def test_discovery_loads_classes_factories_and_keeps_load_failures_out(plugin_module, caplog):
    host = PluginHost.discover(eps(upper=f"{plugin_module}:Upper", notes=f"{plugin_module}:notes_factory",
                                   bad="gp_bad_import:Plugin", missing=f"{plugin_module}:NoSuchThing",
                                   nothing=f"{plugin_module}:Nothing"), disabled="")
    states = {p["name"]: (p["state"], p["kinds"]) for p in host.describe()}
    assert states == {"upper": ("active", ["postprocess"]), "notes": ("active", ["context"]),
                      "bad": ("failed", []), "missing": ("failed", []), "nothing": ("failed", [])}
    errors = {p["name"]: p["error"] for p in host.describe()}
    assert "numpy 9" in errors["bad"] and "NoSuchThing" in errors["missing"] and "neither" in errors["nothing"]
    assert any("plugin bad" in r.getMessage() and "failed to load" in r.getMessage() for r in caplog.records)
    assert host.has_context and host.has_postprocessors
    assert host.postprocess(req(), "x = 1").text == "X = 1"
    assert host.context(req(path="pkg/a.py")) == [Snippet("NOTES.md", "note for pkg/a.py")]  # blank ones dropped


def test_post_processors_run_in_order_until_one_vetoes(plugin_module):
    host = PluginHost.discover(eps(upper=f"{plugin_module}:Upper", veto=f"{plugin_module}:Veto"), disabled="")
    assert [p.name for p in host.plugins] == ["upper", "veto"]  # by name; Growpilot's own would come first
    kept = host.postprocess(req(), "a = b")
    assert (kept.text, kept.changed_by, kept.vetoed_by) == ("A = B", ["upper"], None)
    vetoed = host.postprocess(req(), "veto = 1")  # upper makes it VETO, then veto says no
    assert (vetoed.text, vetoed.vetoed_by) == (None, "veto") and vetoed.notes()["plugins_vetoed"] == "veto"


def test_a_failing_plugin_is_skipped_and_disabled_after_failures_in_a_row(plugin_module, caplog):
    from gp_test_plugins import Flaky

    host = PluginHost.discover(eps(flaky=f"{plugin_module}:Flaky", upper=f"{plugin_module}:Upper"), disabled="")
    for _ in range(MAX_CONSECUTIVE_FAILURES - 1):
        assert host.postprocess(req(), "y = 2").text == "Y = 2"  # the others still run
    Flaky.failing = False
    assert host.postprocess(req(), "y = 2").text == "Y = 2!"  # a success resets the count
    Flaky.failing = True
    try:
        for _ in range(MAX_CONSECUTIVE_FAILURES):
            assert host.postprocess(req(), "z").text == "Z"
    finally:
        Flaky.failing = True
    flaky = next(p for p in host.describe() if p["name"] == "flaky")
    assert flaky["state"] == "disabled" and flaky["failures"] == 2 * MAX_CONSECUTIVE_FAILURES - 1
    assert "flaky says no" in flaky["error"]
    calls = flaky["calls"]
    host.postprocess(req(), "z")
    assert next(p for p in host.describe() if p["name"] == "flaky")["calls"] == calls  # no longer called
    messages = [r.getMessage() for r in caplog.records if r.name == "growpilot.plugins.host"]
    assert any(m.startswith("plugin flaky failed in postprocess") for m in messages)
    assert any("plugin flaky disabled after" in m for m in messages)
    assert sum(bool(r.exc_info) for r in caplog.records if "flaky failed" in r.getMessage()) == 1  # one traceback


def test_wrong_return_types_are_failures_and_change_nothing(plugin_module):
    host = PluginHost.discover(eps(wrong=f"{plugin_module}:WrongTypes"), disabled="")
    assert host.context(req()) == [] and host.postprocess(req(), "keep me").text == "keep me"
    wrong = host.describe()[0]
    assert wrong["failures"] == 2 and "int" in wrong["error"]


def test_plugins_can_be_turned_off_by_name_or_all(plugin_module, monkeypatch):
    targets = dict(upper=f"{plugin_module}:Upper", veto=f"{plugin_module}:Veto")
    assert [p["state"] for p in PluginHost.discover(eps(**targets), disabled="upper").describe()] == ["off", "active"]
    monkeypatch.setenv("GROWPILOT_DISABLE_PLUGINS", "*")
    assert [p["state"] for p in PluginHost.discover(eps(**targets)).describe()] == ["off", "off"]
    assert not PluginHost.discover(eps(**targets)).has_postprocessors


def test_a_plugin_printing_writes_to_stderr_never_stdout(plugin_module, capfd):
    host = PluginHost.discover(eps(printer=f"{plugin_module}:Printer"), disabled="")
    stdout = sys.stdout
    assert host.postprocess(req(), "x").text == "x"
    out, err = capfd.readouterr()
    assert "a plugin printing" in err and "a plugin printing" not in out and sys.stdout is stdout


def test_growpilots_own_plugin_comes_through_its_declared_entry_point(tmp_path, monkeypatch):
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][GROUP]
    assert declared == BUILTINS
    # Growpilot installed as pyproject.toml declares it (a dist-info ahead of the venv's on sys.path).
    monkeypatch.syspath_prepend(str(fake_install(tmp_path / "site", "growpilot", "0.1.0", declared)))
    host = PluginHost.discover(disabled="")
    builtin = next(p for p in host.plugins if p.name == "python-syntax")
    assert builtin.builtin and builtin.source == "growpilot 0.1.0" and isinstance(builtin.obj, PythonSyntax)


def test_growpilots_own_plugin_loads_when_the_installed_metadata_predates_it(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(fake_install(tmp_path / "site", "growpilot", "0.0.9", {})))
    host = PluginHost.discover(disabled="")
    assert [(p.name, p.builtin, p.state) for p in host.plugins] == [("python-syntax", True, "active")]


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="building needs setuptools")
def test_the_example_package_installs_with_pip_and_declares_both_plugins(tmp_path):
    source = shutil.copytree(EXAMPLE, tmp_path / "src")  # pip builds in place: not in the repository
    target = tmp_path / "target"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(source)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    found = [ep for dist in importlib.metadata.distributions(path=[str(target)]) for ep in dist.entry_points
             if ep.group == GROUP]
    assert {ep.name: ep.value for ep in found} == {"style-note": "growpilot_plugin_example:StyleNote",
                                                   "banned-words": "growpilot_plugin_example:BannedWords"}
    assert (target / "growpilot_plugin_example" / "__init__.py").is_file()


# ----- the example's plugins, called directly
def test_example_style_note_and_banned_words(tmp_path, monkeypatch):
    site = str(install_example(tmp_path / "site"))
    monkeypatch.syspath_prepend(site)
    ws = write_files(tmp_path / "ws", {"CONTRIBUTING.md": "# Contributing\n\nHi.\n\n## Code style\n\n"
                                                         "Use quokka_log().\n### Names\n\nsnake_case.\n\n"
                                                         "## Releases\n\nTag them.\n"})
    host = PluginHost.discover([ep for dist in importlib.metadata.distributions(path=[site])
                                for ep in dist.entry_points if ep.group == GROUP], disabled="")
    at = req(workspace=str(ws))
    note = "## Code style\n\nUse quokka_log().\n### Names\n\nsnake_case."  # down to the next `##`
    assert host.context(at) == [Snippet("CONTRIBUTING.md", note)]
    assert host.context(req()) == []  # outside every workspace folder
    assert host.postprocess(at, "frobnicate_widget_cache(w)").text == "frobnicate_widget_cache(w)"
    (ws / ".growpilot-banned-words").write_text("# words we do not write\nFrobnicate\nprint\n")
    assert host.postprocess(at, "frobnicate_widget_cache(w)").vetoed_by == "banned-words"  # part of a name, any case
    assert host.postprocess(at, "fingerprint(w)").text == "fingerprint(w)"  # never inside a longer word
    sys.modules.pop("growpilot_plugin_example", None)


# ----- the built-in post-processor
BELOW = "\n\n\ndef after():\n    return 0\n"


@pytest.mark.parametrize("prefix,text,suffix,expected", [
    # parses in place: unchanged
    ("def f(x):\n    ", "y = x + 1\n    return y", BELOW, "y = x + 1\n    return y"),
    ("class A:\n    def f(self):", "\n        x = 1\n        return x", "\n\n    def g(self):\n        pass\n",
     "\n        x = 1\n        return x"),
    # cut to the lines that parse: an unclosed bracket, a header without its body, a bad dedent, a closer too many
    ("def f(x):\n    ", "y = x + 1\n    return (y", BELOW, "y = x + 1"),
    ("def f(x):\n    ", "y = x + 1\n    if y:", BELOW, "y = x + 1"),
    ("def f(x):\n    ", "y = 1\n      return y", "\n", "y = 1"),
    ("x = foo(\n    ", "a,\n    b)", "\n)\n", "a,"),
    # nothing parses: dropped; `try:` without its `except` before the suffix goes on
    ("def f(x):\n    ", "y = (\n    z = [", "\n", None),
    ("def f(x):\n    ", "try:\n        y = 1", "\n    return 2\n", None),
    # the file is broken above the cursor: nothing can be told, kept
    ("def f(x:\n    a = 1\n    ", "y = (\n    z = [", "\n", "y = (\n    z = ["),
    # an error the suffix has anyway, with or without the suggestion: not the suggestion's
    ("def f(x):\n    ", "y = 1\n    return y", "\n\n    z = = 3\n", "y = 1\n    return y"),
    # errors in other top-level blocks do not count
    ("def broken(:\n    pass\n\n\ndef f(x):\n    ", "y = 1\n    return y", "\n\n\ndef g(:\n", "y = 1\n    return y"),
])
def test_python_syntax_cuts_what_does_not_parse_in_place(prefix, text, suffix, expected):
    assert cut_to_parse(prefix, text, suffix) == expected
    assert PythonSyntax().postprocess(req(prefix, suffix), text) == expected


def test_python_syntax_leaves_single_lines_other_languages_and_actions_alone():
    plugin = PythonSyntax()
    assert plugin.postprocess(req("x = foo(", ""), "a, b") == "a, b"  # one line: the user may go on typing
    assert plugin.postprocess(req("function f() {\n  ", "\n}", language="javascript"), "x = (\n  y") == "x = (\n  y"
    assert plugin.postprocess(req("def f():\n    ", "", kind="action"), "y = (\n    z") == "y = (\n    z"
    assert plugin.postprocess(req("def f():\n    ", ""), "y = (\n    z") is None


def test_python_syntax_stays_fast_on_a_big_file():
    big = "".join(f"def f{i}(a, b):\n    return a + b * {i}\n\n\n" for i in range(3000))  # ~130 kB
    started = time.perf_counter()
    assert cut_to_parse(big + "def g(x):\n    ", "y = x\n" + "    y += 1\n" * 14 + "    return (y", "\n\n\n" + big) == \
        "y = x\n" + "    y += 1\n" * 13 + "    y += 1"
    assert time.perf_counter() - started < 0.5  # the enclosing block is parsed, not the whole file


# ----- the prompt
def count(text: str) -> int:
    return (len(text) + 3) // 4


def test_plugin_snippets_have_their_own_share_and_leave_retrievals_alone():
    prefix = "".join(f"line_{i} = {i}\n" for i in range(300)) + "value = "
    retrieved = [Snippet("lib/a.py", "def helper():\n    return 1\n" * 40)]
    note = Snippet("STYLE.md", "".join(f"rule {i}: be kind\n" for i in range(200)))
    budget = Budget(1024, 0.3, 0.2, 0.1)
    plain = build_prompt(TEMPLATES["qwen"], count, prefix, "", retrieved, "m.py", "p", budget)
    with_note = build_prompt(TEMPLATES["qwen"], count, prefix, "", retrieved, "m.py", "p", budget, extra=[note])
    assert with_note.snippets[0] == plain.snippets[0] and with_note.snippets[1].path == "STYLE.md"
    assert 0 < count(with_note.snippets[1].text) <= 0.1 * 1024 and "rule 0: be kind" in with_note.text
    assert with_note.text.index("STYLE.md") < with_note.text.index("lib/a.py")  # farthest from the cursor
    assert count(with_note.text) <= 1024 + 8 and len(with_note.prefix) < len(plain.prefix)
    assert build_prompt(TEMPLATES["qwen"], count, prefix, "", retrieved, "m.py", "p", Budget(1024, 0.3, 0.2),
                        extra=[note]).snippets == plain.snippets  # no share: no room


# ----- end to end: the LSP server with the tiny model
CONTRIBUTING = ("# Contributing\n\n## Code style\n\nLog with quokka_journal(), never print().\n\n"
                "## Releases\n\nTag them.\n")
RAISING_MODULE = '''
class Raising:
    name = "raiser"
    def context(self, request):
        raise RuntimeError("context boom")
    def postprocess(self, request, text):
        raise RuntimeError("postprocess boom")


class Printing:  # stdout is the LSP stream: this must not break it
    name = "printer"
    def postprocess(self, request, text):
        print("hello from a plugin", flush=True)
        return text
'''


async def _start(client: LanguageClient, root: Path, model: Path) -> None:
    client.rec = Recorder(client, "growpilot/indexReady", "growpilot/modelReady")
    await client.initialize_session(init_params(root, {"modelPath": str(model), "debounceMs": 0, "maxTokens": 12}))
    await client.rec.wait("growpilot/indexReady")
    await client.rec.wait("growpilot/modelReady")


async def _inline(client: LanguageClient, uri: str, pos: types.Position) -> list:
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=pos))
    return list(result.items)


def _uncached(client: LanguageClient, n: int) -> None:
    """A settings change that does not change the answer, only the cache key: the next request is modelled."""
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams({"growpilot": {"debounceMs": n}}))


async def _logged(client: LanguageClient, pattern: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in client.log_messages:
            if re.search(pattern, m.message):
                return m.message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no log message matching {pattern!r} in {[m.message for m in client.log_messages]}")


def _prompt_of(home: Path, generation_id: str) -> tuple[str, str]:
    db = sqlite3.connect(home / "events.sqlite")
    deadline = time.monotonic() + 10
    query = "SELECT prompt, timings FROM generations WHERE id=?"
    while (row := db.execute(query, (generation_id,)).fetchone()) is None:
        assert time.monotonic() < deadline, "the generation was never recorded"
        time.sleep(0.05)
    return row


@pytest.fixture
def example_root(workspace, tmp_path):
    """The LSP workspace with a CONTRIBUTING.md the index never sees (only the plugin can bring it into a
    prompt), and a site folder holding the installed example package."""
    site = install_example(tmp_path / "site")
    files = {**LSP_FILES, "CONTRIBUTING.md": CONTRIBUTING, ".growpilotignore": "CONTRIBUTING.md\n"}
    return write_files(workspace, files), site


@pytest.fixture
def raising_root(workspace, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "gp_raising_plugin.py").write_text(RAISING_MODULE)
    fake_install(site, "gp-raising-plugin", "1.0", {"raiser": "gp_raising_plugin:Raising",
                                                    "broken": "gp_raising_plugin:NotThere",
                                                    "printer": "gp_raising_plugin:Printing"})
    return write_files(workspace, LSP_FILES), site


@contextlib.asynccontextmanager
async def _daemon(root: Path, site: Path, model: Path):
    """`growpilot serve` whose Python finds the plugins installed in `site` (as on its PYTHONPATH)."""
    client = pytest_lsp.make_test_lsp_client()
    await client.start_io(*SERVER.server_command, env={**os.environ, "PYTHONPATH": str(site)})
    try:
        await _start(client, root, model)
        yield client
        await asyncio.wait_for(client.shutdown_session(), 30)
    finally:
        await client.stop()


@pytest.fixture(scope="session")
def paren_model(tmp_path_factory):
    """A model that only ever writes `(((( …` (as in test_actions.py): its Explain is never empty."""
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("paren-model"), ["(((( (((( (((( ((((<|endoftext|>" * 300],
                            steps=60)


@pytest_asyncio.fixture
async def example(example_root, tiny_model):
    async with _daemon(*example_root, tiny_model) as client:
        yield client


@pytest_asyncio.fixture
async def raising(raising_root, tiny_model):
    async with _daemon(*raising_root, tiny_model) as client:
        yield client


async def test_the_example_plugin_adds_the_style_note_and_vetoes_banned_words(example: LanguageClient, example_root,
                                                                              growpilot_home):
    example_root, _ = example_root
    status = await command(example, "growpilot.status")
    plugins = {p["name"]: p for p in status["plugins"]}
    assert plugins["style-note"]["state"] == plugins["banned-words"]["state"] == "active"
    assert plugins["style-note"]["source"] == "growpilot-plugin-example 0.1.0" and plugins["python-syntax"]["builtin"]
    uri = open_doc(example, example_root, "app.py")
    pos = end_of(LSP_FILES["app.py"])
    first = await _inline(example, uri, pos)
    assert len(first) == 1 and first[0].insert_text.strip()
    prompt, timings = _prompt_of(growpilot_home, first[0].command.arguments[0]["generationId"])
    assert "<|file_sep|>CONTRIBUTING.md\n## Code style\n\nLog with quokka_journal(), never print()." in prompt
    assert "Tag them" not in prompt and '"plugin_snippets": ["CONTRIBUTING.md"]' in timings
    # Ban a word of that very suggestion: the same request now shows nothing …
    word = re.search(r"[A-Za-z0-9]{3,}", first[0].insert_text).group(0)
    (example_root / ".growpilot-banned-words").write_text(f"{word}\n")
    _uncached(example, 1)
    assert await _inline(example, uri, pos) == []
    assert word in await _logged(example, r"banned-words: vetoed a suggestion for app\.py")
    # … and with the word allowed again, the suggestion is back.
    (example_root / ".growpilot-banned-words").write_text("# nothing banned\n")
    _uncached(example, 2)
    again = await _inline(example, uri, pos)
    assert [i.insert_text for i in again] == [first[0].insert_text]


async def test_a_plugin_that_raises_does_not_break_completions(raising: LanguageClient, raising_root):
    raising_root, _ = raising_root
    uri = open_doc(raising, raising_root, "app.py")
    pos = end_of(LSP_FILES["app.py"])
    answers = []
    for n in range(3):
        _uncached(raising, n + 1)
        items = await _inline(raising, uri, pos)
        assert len(items) == 1 and items[0].insert_text.strip(), f"request {n}: no completion"
        answers.append(items[0].insert_text)
    assert len(set(answers)) == 1
    await _logged(raising, r"plugin raiser failed in context .*RuntimeError: context boom")
    await _logged(raising, r"plugin raiser failed in postprocess .*RuntimeError: postprocess boom")
    await _logged(raising, r"plugin raiser disabled after 3 failures in a row")
    await _logged(raising, r"plugin broken .*failed to load")
    plugins = {p["name"]: p for p in (await command(raising, "growpilot.status"))["plugins"]}
    assert plugins["raiser"]["state"] == "disabled" and plugins["raiser"]["failures"] == MAX_CONSECUTIVE_FAILURES
    assert plugins["broken"]["state"] == "failed" and "NotThere" in plugins["broken"]["error"]
    assert plugins["printer"]["state"] == "active" and plugins["printer"]["calls"] == 3  # its print went to stderr
    assert plugins["python-syntax"]["state"] == "active"


async def test_code_actions_get_the_style_note_and_a_vetoed_answer_is_refused(example_root, paren_model,
                                                                              growpilot_home):
    root, site = example_root
    async with _daemon(root, site, paren_model) as client:
        uri = open_doc(client, root, "inventory/helpers.py")

        async def explain():
            result = await client.text_document_code_action_async(types.CodeActionParams(
                types.TextDocumentIdentifier(uri), types.Range(types.Position(3, 4), types.Position(3, 4)),
                types.CodeActionContext(diagnostics=[], trigger_kind=types.CodeActionTriggerKind.Invoked)))
            action = next(a for a in result if a.title == "Growpilot: Explain")
            return await client.code_action_resolve_async(action)

        shown = await explain()
        assert shown.command.command == "growpilot.showExplanation"
        db = sqlite3.connect(growpilot_home / "events.sqlite")
        deadline = time.monotonic() + 10
        while (row := db.execute("SELECT prompt FROM generations WHERE kind='action'").fetchone()) is None:
            assert time.monotonic() < deadline, "the action was never recorded"
            await asyncio.sleep(0.05)
        assert "Log with quokka_journal(), never print()." in row[0] and "Tag them" not in row[0]
        (root / ".growpilot-banned-words").write_text("((((\n")
        with pytest.raises(Exception, match="the plugin banned-words vetoed the answer; nothing was changed"):
            await explain()
