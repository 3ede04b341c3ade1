"""Code actions as pure functions (no model): what an action is about (targets), the project's conventions,
the prompts, and the way a model's answer becomes edits — with answers written the way the default Instruct
model writes them — plus the listing of the service and its refusals before any model call."""

import ast
import asyncio
import textwrap

import pytest

from growpilot.actions import conventions, edits, prompts, targets
from growpilot.actions.service import (ActionError, ActionRequest, ActionService, Problem, build_docstring,
                                       build_explain, build_region, build_tests, generated_tests_header)
from growpilot.models.chat import CHATML, render_chat, stop_at, template_in_folder
from growpilot.models.fim import Snippet

MODULE = textwrap.dedent('''\
    """Widgets."""
    import os


    class Store:
        """Keeps widgets."""

        @staticmethod
        def make(kind, *parts, size: dict[str, int] = {"a": 1}, key=lambda w: w.id, **options) -> "Store":
            if kind is None:
                raise ValueError("no kind")
            return Store()

        def put(self, key, value):
            self.items[key] = value

        def __init__(self, root):
            self.root = root


    def total(items): return sum(items)


    def café(naïve, *, flag=False):
        """Old text."""
        yield naïve
''')


def apply_and_parse(text, built):
    assert built.problem is None, built.problem
    after = edits.apply(text, list(built.files[0].edits))
    assert after == built.files[0].text_after
    ast.parse(after)
    return after


# ----- targets
def test_target_at_finds_the_innermost_def_with_its_params_and_flow():
    make = targets.target_at(MODULE, 7)  # the decorator line counts
    assert (make.kind, make.qualname, make.owner, make.start, make.def_line) == ("method", "Store.make", "Store", 7, 8)
    assert make.params == ("kind", "*parts", "size", "key", "**options")  # a staticmethod has no self
    assert make.returns and not make.yields and make.raises == ("ValueError",)
    assert make.colon == (8, MODULE.split("\n")[8].rindex(":"))  # not a colon inside the annotations or lambda
    store = targets.target_at(MODULE, 5)
    assert store.kind == "class" and store.params == ("root",) and store.docstring is not None
    cafe = targets.target_at(MODULE, 25)
    assert cafe.params == ("naïve", "flag") and cafe.yields and cafe.docstring == (24, 4, 24, 19)
    assert targets.target_at(MODULE, 2) is None
    assert targets.target_at("def broken(:\n    pass\n", 0) is None


def test_selection_is_whole_lines_and_an_empty_one_is_none():
    assert targets.selection_region(MODULE, (14, 4), (15, 0)) == targets.Region(14, 14)
    assert targets.selection_region(MODULE, (16, 8), (15, 2)) == targets.Region(15, 16)
    assert targets.selection_region(MODULE, (14, 4), (14, 4)) is None
    assert targets.selection_region(MODULE, (2, 0), (4, 0)) is None  # blank lines only


def test_fix_region_is_the_enclosing_function_or_a_window():
    assert targets.fix_region(MODULE, 10) == targets.Region(7, 11)
    long = "x = 1\n" * 100
    assert targets.fix_region(long, 50) == targets.Region(50 - targets.FIX_WINDOW, 50 + targets.FIX_WINDOW)


# ----- docstrings
QWEN_DOCSTRING = ("Store a value under a key.\n\n        Args:\n            key: The key to store under.\n"
                  "            value: The value to keep.\n        ")


def test_a_docstring_goes_after_the_signature_at_the_body_indentation():
    put = targets.target_at(MODULE, 13)
    built = build_docstring(MODULE, "/w/m.py", put, QWEN_DOCSTRING, "stop")
    after = apply_and_parse(MODULE, built)
    lines = after.split("\n")
    assert lines[13].strip().startswith("def put") and lines[14] == '        """Store a value under a key.'
    assert lines[16] == "        Args:" and lines[19] == '        """' and lines[20].startswith("        self.items")
    assert built.notes["params_missing"] == [] and built.focus == ("/w/m.py", 13)
    assert ast.get_docstring(ast.parse(after).body[2].body[2]).startswith("Store a value")


def test_an_existing_docstring_is_replaced_and_unicode_columns_hold():
    cafe = targets.target_at(MODULE, 23)
    built = build_docstring(MODULE, "/w/m.py", cafe, "Yield naïve back.", "stop")
    after = apply_and_parse(MODULE, built)
    assert '    """Yield naïve back."""' in after and "Old text" not in after
    assert built.notes["params_missing"] == ["flag"]


def test_a_one_line_def_gets_its_body_moved_below_the_docstring():
    total = targets.target_at(MODULE, 20)
    after = apply_and_parse(MODULE, build_docstring(MODULE, "/w/m.py", total, "Sum the items.", "stop"))
    assert 'def total(items):\n    """Sum the items."""\n    return sum(items)' in after


@pytest.mark.parametrize("answer", ['Says "hi" and \\"ends\\" with a quote"', "Matches C:\\path\\ and \\d+"])
def test_quotes_and_backslashes_in_the_answer_cannot_break_the_literal(answer):
    put = targets.target_at(MODULE, 13)
    after = apply_and_parse(MODULE, build_docstring(MODULE, "/w/m.py", put, answer, "stop"))
    doc = ast.get_docstring(ast.parse(after).body[2].body[2])
    assert doc.replace("\\", "") .replace('"', "") == answer.replace("\\", "").replace('"', "")


def test_an_empty_docstring_answer_is_bad():
    with pytest.raises(edits.BadAnswer):
        build_docstring(MODULE, "/w/m.py", targets.target_at(MODULE, 13), '  \n   ', "stop")


# ----- refactor / fix
def test_a_refactor_is_the_fewest_line_edits_reindented():
    region = targets.Region(13, 14)  # put
    answer = "def put(self, key, value):\n    self.items[key] = value\n    return value\n"
    built = build_region(MODULE, "/w/m.py", region, "    ", True, "refactored code", answer, "stop")
    after = apply_and_parse(MODULE, built)
    assert "        self.items[key] = value\n        return value\n" in after
    assert len(built.files[0].edits) == 1 and built.files[0].edits[0].start == (15, 0)  # only the new line


def test_a_nonparsing_refactor_is_refused_with_the_syntax_error():
    answer = "def put(self, key, value)\n    self.items[key] = value\n"
    built = build_region(MODULE, "/w/m.py", targets.Region(13, 14), "    ", True, "refactored code", answer, "stop")
    assert built.problem.startswith("the refactored code does not parse: ") and "line 14" in built.problem
    assert built.syntax  # worth the one repair


@pytest.mark.parametrize("answer,stop,why", [
    ("def put(self, key, value):\n    self.items[key] = value\n", "stop", "same as the original"),
    ("def put(self, key, value):\n    self.items[key] =", "max_tokens", "cut off"),
])
def test_unchanged_or_cut_off_rewrites_are_refused(answer, stop, why):
    built = build_region(MODULE, "/w/m.py", targets.Region(13, 14), "    ", True, "refactored code", answer, stop)
    assert why in built.problem and not built.syntax


def test_an_edit_of_a_file_that_did_not_parse_is_judged_on_its_own_lines():
    text = "def a(:\n    pass\n\n\ndef b(x):\n    return x\n"
    fixed = build_region(text, "/w/m.py", targets.Region(0, 1), "", True, "fixed code", "def a():\n    pass\n", "stop")
    assert fixed.problem is None and ast.parse(fixed.files[0].text_after)
    other = build_region(text, "/w/m.py", targets.Region(4, 5), "", True, "refactored code",
                         "def b(x):\n    return x + 1\n", "stop")
    assert other.problem is None  # `def a(:` is still broken, but that error was there before
    # The file's first error (line 1) hides the new one: the new code is checked on its own.
    broken = build_region(text, "/w/m.py", targets.Region(4, 5), "", True, "refactored code",
                          "def b(x):\n    return (\n", "stop")
    assert broken.problem.startswith("the refactored code does not parse") and "line 6" in broken.problem


def test_code_of_takes_the_first_code_block():
    assert edits.code_of("```python\nx = 1\n```\nSome prose") == "x = 1"
    with pytest.raises(edits.BadAnswer):
        edits.code_of("```\n\n```")


# ----- tests
def test_generated_tests_make_a_new_module_that_parses():
    target = targets.target_at(MODULE, 13)
    header = generated_tests_header("pytest", "shop.store", target)
    answer = ("put_keeps_the_value():\n    store = Store.__new__(Store)\n    store.items = {}\n"
              "    store.put('a', 1)\n    assert store.items == {'a': 1}\n")
    built = build_tests("/w/tests/test_store.py", None, header, answer, "stop")
    fe = built.files[0]
    assert fe.create and fe.text_after.startswith("import pytest\n\nfrom shop.store import Store\n\n\ndef test_put")
    ast.parse(fe.text_after)
    assert built.focus == ("/w/tests/test_store.py", 5)


def test_generated_tests_append_to_an_existing_file_with_missing_imports():
    existing = "import os\n\nfrom shop.store import Store\n\n\ndef test_old():\n    assert os.sep\n"
    header = generated_tests_header("pytest", "shop.store", targets.target_at(MODULE, 13))
    built = build_tests("/w/tests/test_store.py", existing, header, "new():\n    assert Store\n", "stop")
    after = built.files[0].text_after
    assert after.count("from shop.store import Store") == 1 and after.startswith("import os\n\nfrom shop")
    assert "import pytest\n" in after and after.rstrip().endswith("def test_new():\n    assert Store")
    ast.parse(after)
    assert after.split("\n")[built.focus[1]].startswith("def test_new")


def test_tests_cut_off_keep_their_complete_functions_and_broken_ones_are_refused():
    header = generated_tests_header("unittest", "shop.store", targets.target_at(MODULE, 13))
    assert header.endswith("class TestPut(unittest.TestCase):\n    def test_")
    cut = "a(self):\n        self.assertTrue(True)\n\n\ndef test_b():\n    assert (1,"
    built = build_tests("/w/test_store.py", None, header, cut, "max_tokens")
    assert built.problem is None and "test_b" not in built.files[0].text_after
    broken = build_tests("/w/test_store.py", None, generated_tests_header("pytest", "m", targets.target_at(MODULE, 13)),
                         "x(:\n    pass\n", "stop")
    assert broken.problem.startswith("the generated tests do not parse") and broken.syntax


# ----- conventions
GOOGLE = 'def f(a):\n    """Do.\n\n    Args:\n        a: A.\n    """\n'
NUMPY = 'def f(a):\n    """Do.\n\n    Parameters\n    ----------\n    a : int\n    """\n'
REST = 'def f(a):\n    """Do.\n\n    :param a: A.\n    """\n'
PLAIN = 'def f(a):\n    """Do a thing."""\n'


@pytest.mark.parametrize("file,others,style,source", [
    (NUMPY, [GOOGLE], "numpy", "file"), (PLAIN, [REST, REST, GOOGLE], "rest", "workspace"),
    (PLAIN, [PLAIN], "plain", "file"), ("x = 1\n", [], "google", "default"),
])
def test_docstring_style_is_the_files_then_the_projects(file, others, style, source):
    found = conventions.docstring_style(file, others)
    assert (found.style, found.source) == (style, source)


def test_test_style_and_place_and_module_names():
    assert conventions.test_style(["import unittest\nclass T(unittest.TestCase): pass", "import unittest"]) == "unittest"
    assert conventions.test_style(["def test_x():\n    assert 1"]) == "pytest"
    files = ["tests/test_agents.py", "tests/utils/test_io.py"]
    assert conventions.test_place("src/pkg/agents.py", files, {"tests"}) == conventions.TestPlace("tests/test_agents.py", True)
    assert conventions.test_place("src/pkg/utils/io2.py", files, {"tests", "tests/utils"}).rel == "tests/utils/test_io2.py"
    assert conventions.test_place("tools/run.py", [], {"tools"}) == conventions.TestPlace("tools/test_run.py", False)
    assert conventions.module_name("src/pkg/sub/mod.py", {"src/pkg", "src/pkg/sub"}) == ("pkg.sub.mod", "src")
    assert conventions.module_name("pkg/__init__.py", {"pkg"}) == ("pkg", "")
    assert conventions.module_name("scripts/run.py", set()) == ("run", "scripts")


# ----- prompts and chat
def count(text: str) -> int:
    return (len(text) + 3) // 4


def test_the_docstring_prompt_starts_the_answer_and_keeps_to_its_budget():
    ctx = prompts.Context("shop/store.py", "python", "import os\n" + "x = 1\n" * 3000, "y = 2\n",
                          [Snippet("shop/items.py", "class Item:\n    price: int\n")])
    put = targets.target_at(MODULE, 13)
    p = prompts.docstring("def put(self, key, value):\n    self.items[key] = value", "def put(self, key, value):",
                          put.kind, put.qualname, put.params, False, False, (), "google", ctx, count, 2048, 0.35)
    text = render_chat(p.messages, None, p.answer_prefix)
    assert text.endswith('<|im_start|>assistant\n```python\ndef put(self, key, value):\n    """')
    assert count(text) <= 2048 + 64 and "class Item" in text and "`key`, `value`" in text
    assert "Args:\n    key: <what key is>" in p.messages[1]["content"]
    with pytest.raises(prompts.TooLong):
        prompts.rewrite("x = 1\n" * 5000, None, ctx, count, 2048, 0.35)


def test_a_refactor_is_shown_the_selection_and_definitions_but_not_the_rest_of_its_file():
    ctx = prompts.Context("shop/store.py", "python", "import os\nimport sys\n\n\ndef other():\n    pass\n", "z = 3\n",
                          [Snippet("shop/items.py", "class Item:\n    price: int\n")])
    code = "def put(self, key, value):\n    self.items[key] = value"
    refactor = prompts.rewrite(code, None, ctx, count, 2048, 0.35).messages[1]["content"]
    assert code in refactor and "class Item" in refactor
    assert "import sys" not in refactor and "def other" not in refactor and "z = 3" not in refactor
    fix = prompts.fix(code, 10, "undefined name", 11, code.split("\n")[1], ctx, count, 2048, 0.35).messages[1]["content"]
    assert "import sys" in fix and "class Item" in fix  # a fix may need the file's imports


def test_chat_rendering_and_stop_rules():
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert render_chat(messages, CHATML, "```") == ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
                                                     "<|im_start|>assistant\n```")
    broken = "{{ raise_exception('no system role') }}"
    assert render_chat(messages, broken).endswith("<|im_start|>assistant\n")  # falls back to ChatML
    fence = stop_at("```", at_line_start=True)
    assert fence("x = 1\n```\nmore") == 5 and fence("x = '```'") is None and fence("a<|im_end|>") == 1
    assert stop_at('"""')('Sum it."""\n') == 7


def test_the_default_models_template_is_found_in_its_folder(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": [{"name": "default", "template": "T"}]}')
    assert template_in_folder(tmp_path) == "T"
    (tmp_path / "chat_template.jinja").write_text("J")
    assert template_in_folder(tmp_path) == "J"


def test_explain_needs_text():
    assert build_explain("  **Sums** things.\n", "eos").markdown == "**Sums** things."
    with pytest.raises(edits.BadAnswer):
        build_explain(" \n", "eos")


# ----- the service before any model call: listing, and refusals
@pytest.fixture
def service(tmp_path):
    from growpilot.completion.engine import CompletionEngine, Workspace
    from growpilot.config import Settings
    from growpilot.learning.events import EventStore
    from growpilot.models.holder import ModelHolder

    root = tmp_path / "ws"
    root.mkdir()
    settings = Settings()
    model = ModelHolder()
    model.state = "loading"  # as load_async leaves it until the model is there
    events = EventStore(tmp_path / "events.sqlite")

    def workspace_for(path):
        return Workspace(str(root), None, None, None) if path.startswith(str(root) + "/") else None

    engine = CompletionEngine(model, events, lambda: settings, workspace_for)
    svc = ActionService(engine, events, lambda: settings)
    svc.root = root
    yield svc
    svc.shutdown()
    engine.shutdown()
    events.close()


def test_offers_while_the_model_loads_are_greyed_out_with_the_reason(service):
    path = str(service.root / "m.py")
    offers = service.offers(path, MODULE, (13, 4), (13, 4))
    assert [o.title for o in offers] == ["Growpilot: Explain", "Growpilot: Add docstring", "Growpilot: Generate tests",
                                         "Growpilot: Refactor selection"]
    assert all("still loading" in o.disabled for o in offers)
    assert service.offers(path, MODULE, (13, 4), (13, 4), invoked=False) == []
    with pytest.raises(ActionError, match="still loading") as err:
        asyncio.run(service.resolve(ActionRequest("docstring", path, MODULE, (13, 4), (13, 4))))
    assert err.value.kind == "unavailable"


def test_offers_follow_the_cursor_the_selection_and_the_diagnostics(service):
    service.engine.model.state, service.engine.model.backend = "ready", object()  # any loaded model
    path = str(service.root / "m.py")
    body = service.offers(path, MODULE, (14, 8), (14, 8), invoked=False)
    assert body == []  # the lightbulb does not follow the cursor through a body
    header = service.offers(path, MODULE, (13, 4), (13, 4), invoked=False)
    assert [o.action for o in header] == ["explain", "docstring", "tests"]
    chosen = service.offers(path, MODULE, (13, 0), (15, 0), [Problem("undefined name 'items'", (14, 8), (14, 13))])
    assert [(o.action, o.kind, o.disabled) for o in chosen] == [
        ("fix", "quickfix", None), ("explain", "refactor.growpilot.explain", None),
        ("docstring", "refactor.rewrite", None), ("tests", "refactor.growpilot.tests", None),
        ("refactor", "refactor.rewrite", None)]
    assert chosen[0].title == "Growpilot: Fix \"undefined name 'items'\"" and chosen[0].problem == 0
    assert [o.action for o in service.offers(path, MODULE, (5, 4), (5, 4))][1] == "docstring"
    assert service.offers(path, MODULE, (24, 0), (24, 0))[1].title == "Growpilot: Rewrite docstring"
    assert [o.action for o in service.offers(path, MODULE, (13, 0), (15, 0), only=["quickfix"])] == []
    assert [o.action for o in service.offers(path, MODULE, (13, 0), (15, 0), only=["refactor"])] == [
        "explain", "docstring", "tests", "refactor"]
    outside = service.offers("/elsewhere/m.py", MODULE, (13, 0), (15, 0))
    assert {o.action for o in outside} == {"explain", "refactor"} and all("no workspace folder" in o.disabled
                                                                        for o in outside)
    tests_file = service.offers(str(service.root / "tests/test_m.py"), MODULE, (13, 4), (13, 4))
    assert "tests" not in [o.action for o in tests_file]


def test_resolve_refuses_bad_input_before_the_model(service):
    service.engine.model.state, service.engine.model.backend = "ready", object()
    path = str(service.root / "m.py")
    with pytest.raises(ActionError, match="no workspace folder"):
        asyncio.run(service.resolve(ActionRequest("explain", "/elsewhere/m.py", MODULE, (0, 0), (1, 0))))
    with pytest.raises(ActionError, match="Python files only"):
        asyncio.run(service.resolve(ActionRequest("docstring", str(service.root / "a.ts"), "let x = 1\n", (0, 0), (0, 0))))
    with pytest.raises(ActionError, match="unknown action"):
        asyncio.run(service.resolve(ActionRequest("poem", path, MODULE, (0, 0), (0, 0))))


# ----- the evaluation's own pure parts
def test_eval_samples_functions_and_strips_their_docstrings():
    from growpilot.eval.actions import function_tasks, generated_tests, summarize, without_docstring

    files = {"pkg/m.py": MODULE, "tests/test_m.py": "def test_x(a):\n    x = 1\n    y = 2\n    assert a\n"}
    tasks = function_tasks(files, 10)
    assert [t.qualname for t in tasks] == ["Store.make"]  # put/total/café: bodies under 3 lines; tests skipped
    stripped = without_docstring(MODULE, 23)
    assert '"""Old text."""' not in stripped and "    yield naïve" in stripped and ast.parse(stripped)
    only_doc = 'def f(a):\n    """Only this."""\n'
    assert without_docstring(only_doc, 0) == "def f(a):\n    pass\n"
    assert generated_tests("import pytest\n\ndef test_a():\n    pass\n\nclass TestB:\n    pass\n\ndef helper():\n"
                           "    pass\n") == ["test_a", "TestB"]
    row = {"docstring": {"latency_ms": 10, "parses": True, "all_params": False},
           "tests": {"latency_ms": 30, "collected": True, "passed": False, "alone_collected": False,
                     "alone_passed": False, "module_imports": False},
           "refactor": {"latency_ms": 20, "parses": False, "refused": "the refactored code does not parse: x; y"}}
    result = summarize([row, {**row, "docstring": {"latency_ms": 30, "parses": True, "all_params": True}}], "w", "m", 1, 2)
    assert result["docstring"]["parses_and_names_every_parameter"]["rate"] == 0.5
    assert result["docstring"]["latency"]["median_ms"] == 20
    assert result["tests"]["module_imports_here"] == {"n": 0, "collected_without_error": {"rate": None, "ci95": None,
                                                                                        "n": 0},
                                                      "passed": {"rate": None, "ci95": None, "n": 0}}
    assert result["refactor"]["refused"] == {"the refactored code does not parse": 2}
