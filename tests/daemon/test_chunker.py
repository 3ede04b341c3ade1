import textwrap

import pytest

from growpilot.indexing.chunker import chunk_text


def _covered(text, chunks):
    lines = text.replace("\r\n", "\n").split("\n")
    covered = [False] * len(lines)
    for c in chunks:
        for i in range(c.start_line - 1, c.end_line):
            assert not covered[i], f"line {i + 1} in two chunks"
            covered[i] = True
        assert c.text == "\n".join(lines[c.start_line - 1:c.end_line])
    return all(covered[i] for i, line in enumerate(lines) if line.strip())


PY = textwrap.dedent('''\
    import os

    class Store(Base):
        """Keeps things."""
        limit = 3

        def put(self, key, value):
            self.data[key] = value

        @property
        def size(self):
            return len(self.data)

    def helper(a, b):
        return a + b
    ''')


def test_python_definitions_get_qualified_symbols():
    chunks = chunk_text(PY, "python", max_lines=6)
    symbols = [c.symbol for c in chunks]
    assert symbols == [None, "Store", "Store.put", "Store.size", "helper"]
    assert _covered(PY, chunks)
    assert chunks[2].start_line == 7 and chunks[2].end_line == 8


def test_big_decorated_class_keeps_its_head_together():
    """The chunk that names a split class holds its decorator, declaration, docstring and fields (what a
    prompt needs to use it); methods are members of that class, not of a doubly-qualified one."""
    source = "@dataclass\n" + PY.split("\n\n", 1)[1].split("def helper")[0]
    chunks = chunk_text(source, "python", max_lines=6)
    assert [c.symbol for c in chunks] == ["Store", "Store.put", "Store.size"]
    assert chunks[0].text.startswith("@dataclass\nclass Store(Base):") and "limit = 3" in chunks[0].text
    assert _covered(source, chunks)
    method = "    @property\n    def size(self):\n" + "        x = 1\n" * 8
    chunks = chunk_text("class Store:\n" + method, "python", max_lines=6)
    assert _covered("class Store:\n" + method, chunks)  # a split decorated method keeps its decorator
    assert {c.symbol for c in chunks} == {"Store", "Store.size"}


def test_small_class_stays_whole():
    chunks = chunk_text(PY, "python")
    assert [c.symbol for c in chunks] == [None, "Store", "helper"]


@pytest.mark.parametrize("language,source,expected", [
    ("typescript", "export function add(a: number, b: number) { return a + b }\ninterface Point { x: number }\n",
     ["add", "Point"]),
    ("javascript", "const twice = (x) => x * 2;\nclass Box { open() { return 1 } }\n", ["twice", "Box"]),
    ("go", "package m\n\nfunc (s *S) Run() error {\n\treturn nil\n}\n\ntype S struct{}\n", [None, "Run", "S"]),
    ("rust", "fn main() {\n    println!(\"hi\");\n}\nstruct P { x: i32 }\n", ["main", "P"]),
    ("java", "class A {\n  int f() { return 1; }\n}\n", ["A"]),
    ("csharp", "namespace N {\n  class C {\n    void M() {}\n  }\n}\n", ["N"]),
    ("c", "#include <x.h>\nint add(int a, int b) { return a + b; }\n", [None, "add"]),
    ("cpp", "namespace ns {\nint f() { return 1; }\n}\n", ["ns"]),
    ("markdown", "# Title\n\nIntro.\n\n## Usage\n\nRun it.\n", ["Title"]),
])
def test_languages(language, source, expected):
    chunks = chunk_text(source, language)
    assert [c.symbol for c in chunks] == expected
    assert all(c.language == language for c in chunks)
    assert _covered(source, chunks)


def test_oversized_function_is_split_in_windows_within_limits():
    body = "\n".join(f"    x{i} = {i}" for i in range(130))
    source = f"def big():\n{body}\n    return x0\n"
    chunks = chunk_text(source, "python", max_lines=50)
    assert len(chunks) >= 3
    assert all(c.end_line - c.start_line < 50 for c in chunks)
    assert all(c.symbol == "big" for c in chunks)
    assert _covered(source, chunks)


def test_unknown_language_falls_back_to_line_windows():
    source = "\n".join(f"line {i}" for i in range(120))
    chunks = chunk_text(source, "text", max_lines=50)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 50), (51, 100), (101, 120)]


def test_crlf_and_same_line_statements():
    source = "a = 1; b = 2\r\nc = 3\r\n"
    chunks = chunk_text(source, "python")
    assert _covered(source, chunks) and len(chunks) == 1


def test_hash_depends_on_text_only():
    a = chunk_text("def f():\n    return 1\n", "python")[0]
    b = chunk_text("\n\n\ndef f():\n    return 1\n", "python")[0]
    assert a.hash == b.hash and a.start_line != b.start_line
