"""A project's conventions, read from its files: the docstring style (Google, NumPy, reST or plain
prose), the test framework (pytest or unittest), where tests live, and how a module is imported. The
detectors are pure functions of texts and paths; `python_files` and `read_head` are the only I/O."""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

STYLES = ("google", "numpy", "rest", "plain")
DEFAULT_STYLE = "google"  # when the project has no docstring to learn from: the most common one
_GOOGLE = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Return|Yields|Raises|Attributes|Examples?|Notes?):\s*$", re.M)
_NUMPY = re.compile(r"^\s*(Parameters|Returns|Yields|Raises|Attributes|See Also|Notes|Examples)\s*\n\s*-{3,}\s*$", re.M)
_REST = re.compile(r"^\s*:(param|type|returns?|rtype|raises?|ivar|cvar)\b[^:]*:", re.M)
_UNITTEST = re.compile(r"^\s*(import unittest|from unittest import)|\bunittest\.TestCase\b|\(TestCase\)", re.M)
_PYTEST = re.compile(r"^\s*(import pytest|from pytest import)|^def test_\w*\(|@pytest\.", re.M)
MAX_FILES = 3000
HEAD_BYTES = 16_384


@dataclass(frozen=True)
class DocstringStyle:
    style: str  # google | numpy | rest | plain
    example: str | None  # a docstring of the project in that style (shown to the model)
    source: str  # "file" | "workspace" | "default": where the style was read


def classify_docstring(doc: str) -> str:
    if _NUMPY.search(doc):
        return "numpy"
    if _REST.search(doc):
        return "rest"
    if _GOOGLE.search(doc):
        return "google"
    return "plain"


def docstrings(text: str) -> list[str]:
    """The docstrings of a module's functions and classes (raw, as written)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc and doc.strip():
                out.append(doc)
    return out


def style_of(docs: Sequence[str]) -> tuple[str, str | None] | None:
    """The style most of `docs` follow — sectioned styles win over plain prose as soon as a docstring has
    sections (a one-line docstring says nothing about sections) — with its longest example; None when
    there are no docstrings."""
    if not docs:
        return None
    by_style: dict[str, list[str]] = {}
    for d in docs:
        by_style.setdefault(classify_docstring(d), []).append(d)
    sectioned = [s for s in ("google", "numpy", "rest") if s in by_style]
    style = max(sectioned, key=lambda s: len(by_style[s])) if sectioned else "plain"
    examples = [d for d in by_style[style] if len(d) < 1200] or by_style[style]
    return style, max(examples, key=len)


def docstring_style(file_text: str, others: Iterable[str] = ()) -> DocstringStyle:
    """The file's own style; when it has no docstring with sections, the project's (`others`: texts of
    other Python files); plain prose only when the project writes nothing else; DEFAULT_STYLE when it
    has no docstrings at all."""
    own = style_of(docstrings(file_text))
    if own is not None and own[0] != "plain":
        return DocstringStyle(own[0], own[1], "file")
    found = style_of([d for text in others for d in docstrings(text)])
    if found is not None and found[0] != "plain":
        return DocstringStyle(found[0], found[1], "workspace")
    if own is not None:
        return DocstringStyle("plain", own[1], "file")
    if found is not None:
        return DocstringStyle("plain", found[1], "workspace")
    return DocstringStyle(DEFAULT_STYLE, None, "default")


# ----- tests
_TEST_DIRS = ("tests", "test", "testing")


def is_test_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def is_test_code(rel: str) -> bool:
    """A test file, or any file under a tests folder (fixtures, helpers): not the project's own code."""
    return is_test_file(rel) or any(part in _TEST_DIRS for part in rel.split("/")[:-1])


def test_style(test_texts: Iterable[str]) -> str:
    """"pytest" or "unittest": what most of the project's test files use (pytest when none says)."""
    unit = py = 0
    for text in test_texts:
        if _UNITTEST.search(text):
            unit += 1
        elif _PYTEST.search(text) or "def test_" in text:
            py += 1
    return "unittest" if unit > py else "pytest"


@dataclass(frozen=True)
class TestPlace:
    rel: str  # workspace-relative path of the test file
    exists: bool


def test_place(rel: str, test_files: Sequence[str], dirs: set[str]) -> TestPlace:
    """Where the tests of module `rel` go: its existing test file (`test_<stem>.py` or `<stem>_test.py`,
    nearest the project's tests first), else a new `test_<stem>.py` in the tests folder the project has
    (`tests/`, `test/`; mirroring the module's subfolder when the project's tests do), else beside it.
    `dirs`: the workspace's folders (relative)."""
    stem = rel.rsplit("/", 1)[-1].removesuffix(".py")
    names = {f"test_{stem}.py", f"{stem}_test.py"}
    found = [t for t in test_files if t.rsplit("/", 1)[-1] in names]
    if found:
        here = rel.rsplit("/", 1)[0] if "/" in rel else ""
        return TestPlace(min(found, key=lambda t: (distance(t, here), t)), True)
    root = next((d for d in ("tests", "test") if d in dirs), None)
    if root is None:
        folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
        return TestPlace(f"{folder}test_{stem}.py", False)
    package = _package_dirs(rel)
    nested = [t for t in test_files if t.startswith(root + "/") and t.count("/") > 1]
    if package and nested:  # tests/<subpackage>/test_x.py: keep to it when that folder exists
        sub = f"{root}/{package[-1]}"
        if sub in dirs:
            return TestPlace(f"{sub}/test_{stem}.py", False)
    return TestPlace(f"{root}/test_{stem}.py", False)


def distance(a: str, folder: str) -> int:
    parts_a, parts_b = a.split("/")[:-1], folder.split("/") if folder else []
    common = 0
    while common < min(len(parts_a), len(parts_b)) and parts_a[common] == parts_b[common]:
        common += 1
    return len(parts_a) + len(parts_b) - 2 * common


def _package_dirs(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return [p for p in parts if p not in ("src", "lib")]


def module_name(rel: str, package_dirs: set[str]) -> tuple[str, str]:
    """(dotted module name, the folder it is imported from — what must be on sys.path) of the Python file
    `rel`, given the folders holding an `__init__.py` (relative). A file outside any package is imported
    by its stem from its own folder."""
    parts = rel.removesuffix(".py").split("/")
    folders = parts[:-1]
    k = len(folders)
    while k > 0 and "/".join(folders[:k]) in package_dirs:
        k -= 1
    module = parts[k:]
    if module[-1] == "__init__":
        module = module[:-1] or module
    return ".".join(module), "/".join(folders[:k])


# ----- reading the workspace
def python_files(root: Path, exclude_dirs: Iterable[str], limit: int = MAX_FILES) -> tuple[list[str], set[str], set[str]]:
    """(the workspace's Python files, its folders, the folders with an `__init__.py`), relative with "/",
    skipping vendored and hidden folders; at most `limit` files."""
    skip = set(exclude_dirs)
    files: list[str] = []
    dirs: set[str] = set()
    packages: set[str] = set()
    for here, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in skip and not d.startswith("."))
        rel = os.path.relpath(here, root).replace(os.sep, "/")
        rel = "" if rel == "." else rel
        if rel:
            dirs.add(rel)
        if "__init__.py" in names and rel:
            packages.add(rel)
        files += [f"{rel}/{n}" if rel else n for n in sorted(names) if n.endswith(".py")]
        if len(files) >= limit:
            break
    return files[:limit], dirs, packages


def read_head(path: Path, limit: int = HEAD_BYTES) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""
