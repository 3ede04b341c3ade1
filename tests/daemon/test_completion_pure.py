"""Prompt building, mode detection, stop rules and postprocessing as pure functions (no model)."""

import pytest

from growpilot.completion.context import CursorContext, completion_mode, split_at, stop_rule, within_budget
from growpilot.completion.postprocess import postprocess
from growpilot.completion.prompt import (Budget, build_prompt, retype_prompt, fit_prefix, head_imports, head_lines, snippet_rooms,
                                         tail_lines)
from growpilot.models.fim import TEMPLATES, Snippet, detect_template


def count(text: str) -> int:  # a stand-in tokenizer: one token per 4 characters
    return (len(text) + 3) // 4


def ctx(prefix: str, suffix: str = "", path: str = "m.py") -> CursorContext:
    return CursorContext(path, "python", prefix, suffix, prefix.count("\n"), completion_mode(prefix, suffix))


# ----- templates
@pytest.mark.parametrize("tokens,family", [
    ({"<|fim_prefix|>", "<|fim_suffix|>"}, "qwen"), ({"<fim_prefix>"}, "starcoder"),
    ({"<｜fim▁begin｜>"}, "deepseek"), ({"▁<PRE>"}, "codellama"), ({"<s>", "</s>"}, "plain"),
])
def test_detect_template(tokens, family):
    assert detect_template(tokens).family == family


def test_qwen_repo_level_format_puts_the_best_snippet_last():
    snippets = [Snippet("lib/best.py", "X = 1"), Snippet("lib/other.py", "Y = 2")]
    text = TEMPLATES["qwen"].render("def f(", "):\n", snippets, "src/m.py", "proj", repo_format=True)
    assert text == ("<|fim_prefix|><|repo_name|>proj\n<|file_sep|>lib/other.py\nY = 2\n<|file_sep|>lib/best.py\n"
                    "X = 1\n<|file_sep|>src/m.py\ndef f(<|fim_suffix|>):\n<|fim_middle|>")


def test_comment_format():
    text = TEMPLATES["qwen"].render("def f(", "", [Snippet("lib/a.py", "X = 1\n\nY = 2")], "m.py", "proj",
                                   repo_format=False)
    assert text == "<|fim_prefix|># From lib/a.py:\n# X = 1\n#\n# Y = 2\ndef f(<|fim_suffix|><|fim_middle|>"


def test_families_without_repo_format_get_snippets_as_comments():
    text = TEMPLATES["deepseek"].render("x = ", "", [Snippet("a.ts", "const y = 1;")], "m.ts", "p", comment="//")
    assert text == "<｜fim▁begin｜>// From a.ts:\n// const y = 1;\nx = <｜fim▁hole｜><｜fim▁end｜>"
    assert TEMPLATES["plain"].render("x = ", "ignored", [], "m.py", "p") == "x = "


# ----- budget
def test_prompt_fits_budget_and_keeps_text_nearest_the_cursor():
    prefix = "".join(f"line_{i} = {i}\n" for i in range(200)) + "value = "
    suffix = "".join(f"after_{i}()\n" for i in range(200))
    snippets = [Snippet(f"lib/{i}.py", "def helper():\n    return 1\n" * 10) for i in range(5)]
    built = build_prompt(TEMPLATES["qwen"], count, prefix, suffix, snippets, "m.py", "p", Budget(512, 0.3, 0.2))
    assert count(built.text) <= 512 + 8
    assert built.prefix.endswith("line_199 = 199\nvalue = ") and built.suffix.startswith("after_0()")
    assert 0 < len(built.snippets) < 5 and built.snippets[0].path == "lib/0.py"  # best first
    assert len(built.prefix) > len(built.suffix)


def test_a_retyped_prompt_keeps_everything_before_the_cursor_line_and_cuts_the_suffix():
    prefix = "".join(f"line_{i} = {i}\n" for i in range(200)) + "value = "
    suffix = "\n" + "".join(f"after_{i}()\n" for i in range(200))
    snippets = [Snippet(f"lib/{i}.py", "def helper():\n    return 1\n" * 10) for i in range(3)]
    first = build_prompt(TEMPLATES["qwen"], count, prefix, suffix, snippets, "m.py", "p", Budget(512, 0.3, 0.2),
                         repo_format=True)
    typed = retype_prompt(TEMPLATES["qwen"], count, first, "value = ", "value = comp", suffix, 16, "m.py", "p",
                          repo_format=True)
    head = first.text[:first.text.index("value = ")]
    assert typed.text.startswith(head + "value = comp<|fim_suffix|>")  # all before the line is as it was
    assert typed.snippets == first.snippets and typed.context == first.context
    assert typed.suffix.startswith("\nafter_0()\n") and count(typed.suffix) <= 16 < count(first.suffix)
    assert typed.text.endswith(typed.suffix + "<|fim_middle|>")
    assert typed.tokens < first.tokens
    # a cursor line cut from its left (too long for the budget) has no stable layout
    assert retype_prompt(TEMPLATES["qwen"], count, first, "other = ", "other = x", suffix, 16, "m.py", "p") is None


def test_snippets_take_their_room_from_the_prefix_not_the_suffix():
    prefix = "".join(f"line_{i} = {i}\n" for i in range(300)) + "value = "
    suffix = "".join(f"after_{i}()\n" for i in range(300))
    plain = build_prompt(TEMPLATES["qwen"], count, prefix, suffix, [], "m.py", "p", Budget(512, 0.3, 0.2))
    helped = build_prompt(TEMPLATES["qwen"], count, prefix, suffix, [Snippet("a.py", "y = 2\n" * 100)],
                          "m.py", "p", Budget(512, 0.3, 0.2))
    assert helped.snippets and helped.suffix == plain.suffix and len(helped.prefix) < len(plain.prefix)
    squeezed = build_prompt(TEMPLATES["qwen"], count, prefix, suffix, [Snippet("a.py", "y = 2\n" * 100)],
                            "m.py", "p", Budget(512, 0.8, 0.5))  # the suffix never takes over half the rest
    assert count(squeezed.suffix) <= count(squeezed.prefix) + 8


def test_snippet_rooms_give_a_short_snippets_unused_share_to_the_long_ones():
    assert snippet_rooms([10, 200, 200], 300) == [10, 145, 145]
    assert snippet_rooms([500, 20], 300) == [280, 20]
    assert snippet_rooms([100, 100, 100], 70) == [35, 35, 0]  # room for two at the minimum: the best two
    assert snippet_rooms([], 300) == [] and snippet_rooms([50], 0) == [0]


def test_unused_context_and_suffix_budget_goes_to_the_prefix():
    prefix = "".join(f"line_{i} = {i}\n" for i in range(300))
    alone = build_prompt(TEMPLATES["qwen"], count, prefix, "", [], "m.py", "p", Budget(512, 0.3, 0.2))
    crowded = build_prompt(TEMPLATES["qwen"], count, prefix, "x\n" * 200, [Snippet("a.py", "y = 2\n" * 100)],
                           "m.py", "p", Budget(512, 0.3, 0.2))
    assert len(alone.prefix) > len(crowded.prefix)


def test_a_cut_prefix_keeps_the_files_imports_on_top():
    head = '"""A module."""\nimport os\nfrom lib.helpers import (\n    frobnicate,\n    widget,\n    gizmo,\n)\n\n'
    body = "".join(f"value_{i} = os.path.join('{i}')\n" for i in range(300)) + "result = "
    text, cost = fit_prefix(head + body, 200, count)
    assert text.startswith("import os\nfrom lib.helpers import (\n    frobnicate,\n    widget,\n    gizmo,\n)\nvalue_")
    assert text.endswith("value_299 = os.path.join('299')\nresult = ") and cost <= 200
    assert fit_prefix(head + "result = ", 200, count)[0] == head + "result = "  # nothing cut: nothing repeated
    short = head + "".join(f"v{i} = {i}\n" for i in range(10)) + "x = "
    cut_inside, cost = fit_prefix(short, count(short) - 4, count)  # the cut falls among the imports
    # whole import statements within their share (half the room; the parenthesized one is too long),
    # then the body after the block: never a fragment of it
    assert cut_inside == "import os\n\n" + "".join(f"v{i} = {i}\n" for i in range(10)) + "x = "
    assert cost <= count(short) - 4
    assert fit_prefix(body, 200, count) == tail_lines(body, 200, count)  # no imports: the plain tail


@pytest.mark.parametrize("source,block", [
    ("import os\nimport sys\nx = 1\n", (0, 1)),
    ("// c\nimport { a } from './a';\nconst b = require('b');\nlet y;\n", (1, 2)),
    ('package main\n\nimport (\n\t"fmt"\n)\nfunc main() {}\n', (0, 4)),
    ("use std::io;\nfn main() {}\n", (0, 0)),
    ("#include <stdio.h>\nint main;\n", (0, 0)),
    ("use = 3\npackage_name = 'x'\nfrom_ = 2\n", None),  # Python names, not imports
])
def test_import_block(source, block):
    statements = head_imports(source)
    assert ((statements[0].first, statements[-1].last) if statements else None) == block


def test_head_and_tail_lines_cut_at_line_boundaries():
    assert head_lines("aaaa\nbbbb\ncccc", 4, count) == ("aaaa\nbbbb", 4)
    assert tail_lines("aaaa\nbbbb\ncc", 3, count) == ("bbbb\ncc", 3)
    long_line, cost = tail_lines("x" * 400, 10, count)
    assert cost <= 10 and ("x" * 400).endswith(long_line)


# ----- mode and stop rules
@pytest.mark.parametrize("prefix,suffix,mode", [
    ("def f(x):", "", "block"),
    ("def f(x):\n    ", "\n", "block"),
    ("x = compute(", ")\n", "line"),
    ("result = ", "\nprint(result)", "line"),
    ("if ok {", "}", "block"),
    ("total = price * ", " + tax\n", "line"),
])
def test_completion_mode(prefix, suffix, mode):
    assert completion_mode(prefix, suffix) == mode


def test_line_rule_stops_at_newline():
    rule = stop_rule("line", "x = ")
    assert rule("1 + 2") is None and rule("1 + 2\ny = 3") == 5


def test_block_rule_stops_on_dedent():
    prefix = "def f(x):\n    "
    rule = stop_rule("block", prefix)
    text = "y = x * 2\n    return y\ndef g():\n"
    assert text[: rule(text)] == "y = x * 2\n    return y"
    assert rule("y = 1\n    z = 2") is None  # last line still growing


def test_block_rule_at_top_level_stops_at_the_next_statement():
    rule = stop_rule("block", "\n")
    text = "def helper(a):\n    return a\ndef other():\n"
    assert text[: rule(text)] == "def helper(a):\n    return a"


def test_past_its_decode_budget_a_block_ends_at_its_next_line_end():
    now = [0.0]
    rule = within_budget(stop_rule("block", "def f(x):\n    "), 0.7, clock=lambda: now[0])
    assert rule("y = x") is None  # the clock starts at the first decoded token
    now[0] = 0.5
    assert rule("y = x * 2\n    z") is None  # within the budget the block goes on
    now[0] = 0.8
    assert rule("y = x * 2\n    z = y + 1") == len("y = x * 2")  # past it: the complete lines
    assert rule("y = x * 2\n    return y\ndef g():\n") == len("y = x * 2\n    return y")  # the block's own end first
    assert rule("\n    ") is None  # no line yet: no empty suggestion


# ----- postprocess
def test_cuts_what_the_suffix_already_has():
    assert postprocess("a, b)", ctx("x = compute(", ")\n")) == "a, b"
    assert postprocess("a, b))", ctx("x = compute(", ")\n")) == "a, b"
    assert postprocess("b]);", ctx("f([a, ", "]);\n")) == "b"


def test_short_word_overlap_is_not_cut():
    assert postprocess("self", ctx("x = ", "foo()\n")) == "self"


def test_line_mode_keeps_one_line_and_strips_stop_markers():
    c = ctx("name = ", "\n")
    assert postprocess("user.name\nprint(name)", c) == "user.name"
    assert postprocess("user.name<|endoftext|>junk", c, stops=["<|endoftext|>"]) == "user.name"


def test_block_completion_ends_before_lines_the_suffix_repeats():
    c = ctx("def area(r):\n    ", "\n\nprint(area(2))\n")
    assert postprocess("return 3.14 * r * r\n\nprint(area(2))", c) == "return 3.14 * r * r"


def test_unbalanced_closer_belongs_to_the_suffix():
    assert postprocess("x + 1) * 2", ctx("y = (", "\n")) == "x + 1) * 2"
    assert postprocess("x + 1]", ctx("y = ", "\n")) == "x + 1"


def test_rejects_empty_and_already_present():
    assert postprocess("   \n", ctx("x = ", "\n")) is None
    assert postprocess("return 1", ctx("def f():\n    ", "return 1\n")) is None


def test_split_at_code_points():
    assert split_at("ab\ncdé\nf", 1, 3) == ("ab\ncdé", "\nf")
    assert split_at("ab", 5, 9) == ("ab", "")
