"""Compact definition views for the prompt (pure functions)."""

from growpilot.completion.outline import definition_view, docstring_summaries, is_class, is_overload, signature


def test_signature_joins_a_multiline_declaration_and_keeps_decorators_apart():
    text = "@classmethod\nasync def run(\n    cls,\n    agent: Agent,\n    *,\n    turns: int = 3,\n) -> Result:\n    pass"
    assert signature(text) == ("@classmethod\nasync def run(cls, agent: Agent, *, turns: int = 3) -> Result:", 7)
    assert signature("int add(int a,\n        int b) {\n  return a + b;\n}") == ("int add(int a, int b) {", 2)


def test_signature_without_an_end_is_the_first_line():
    assert signature("x = compute(\n" + "    1,\n" * 40) == ("x = compute(", 1)


def test_docstrings_keep_their_summary_line():
    text = 'def f():\n    """Sum it.\n\n    More words.\n    """\n    return 1\n    s = """not a docstring"""'
    assert docstring_summaries(text).split("\n")[:3] == ["def f():", '    """Sum it."""', "    return 1"]


def test_class_and_overload_detection():
    assert is_class("@dataclass(frozen=True)\nclass A:\n    x: int")
    assert is_class("export abstract class Shape {")
    assert not is_class("def classify(x):\n    return x")
    assert is_overload("@overload\ndef f(x: int) -> int: ...")
    assert not is_overload("def f(x):\n    return x")


def test_definition_view_of_a_function_and_a_class():
    fn = 'def area(\n    w: float,\n    h: float,\n) -> float:\n    """Area.\n\n    Details.\n    """\n    return w * h'
    assert definition_view(fn) == 'def area(w: float, h: float) -> float:\n    """Area."""\n    return w * h'
    head = 'class Box:\n    """A box."""\n    size: int'
    members = ["    def open(self, force: bool = False):\n        pass", "    def _seal(self):\n        pass",
               "    def __init__(self, size):\n        self.size = size"]
    assert definition_view(head, members) == ('class Box:\n    """A box."""\n    size: int\n'
                                              "    def open(self, force: bool = False): ...\n"
                                              "    def __init__(self, size): ...")
