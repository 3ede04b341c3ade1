"""Which names a file imports (as their definitions spell them) and what it has written besides."""

from growpilot.completion.names import Imported, overlap, split_imports, subwords


def test_python_from_imports_aliases_and_parentheses():
    text = ('"""Doc."""\nimport os, sys as system\nfrom .items import ItemHelpers, ModelResponse as MR  # why\n'
            "from agents import (\n    Agent,  # the agent\n    Runner as R,  # the runner\n)\n\nx = Agent()\nR.run(")
    names, rest = split_imports(text)
    assert names == [Imported("ItemHelpers", "ItemHelpers"), Imported("ModelResponse", "MR"),
                     Imported("Agent", "Agent"), Imported("Runner", "R")]
    assert rest == '"""Doc."""\n\nx = Agent()\nR.run('  # module imports name no definition: dropped too


def test_javascript_java_and_rust_imports():
    text = ('import React, { useState, type Props, bar as baz } from "react";\n'
            "import {\n  alpha,\n  beta as gamma,\n} from './x';\n"
            "import java.util.List;\nuse crate::shapes::{Circle, Square as Sq};\nconst y = 1;")
    names, rest = split_imports(text)
    assert [(i.name, i.local) for i in names] == [
        ("React", "React"), ("useState", "useState"), ("Props", "Props"), ("bar", "baz"), ("alpha", "alpha"),
        ("beta", "gamma"), ("List", "List"), ("Circle", "Circle"), ("Square", "Sq")]
    assert rest == "const y = 1;"


def test_an_unfinished_parenthesized_import_swallows_nothing_after_the_cursor():
    names, rest = split_imports("from lib import (\n    first,\n    sec")
    assert names == [] and rest == ""  # still being typed: not a statement yet, and not code either


def test_text_without_imports_is_unchanged():
    assert split_imports("def f():\n    return 1\n") == ([], "def f():\n    return 1\n")


def test_subwords_split_camel_and_snake_case_and_overlap_is_a_share_of_the_names_words():
    assert subwords("RealtimeHistoryUpdated gen_trace_id HTTPServer parseURL v2") == {
        "realtime", "history", "updated", "gen", "trace", "id", "http", "server", "parse", "url"}
    assert overlap("gen_trace_id", subwords("    trace_id = ")) == 2 / 3
    assert overlap("Runner", subwords("x = 1")) == 0.0 and overlap("_", set()) == 0.0
