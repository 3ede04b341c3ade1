"""What a file imports, and the text it has written besides: imported names it has not used yet are what
the next lines are about to call, and their definitions are what its own text cannot show. Pure."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

# The start of an import statement in the languages we read: Python, JS/TS (`import`, `require`), Java,
# Kotlin, Go (`package`, `import (`), Rust (`use`), C/C++/Objective-C (`#include`, `#import`), C# (`using`).
_STATEMENT = re.compile(r"\s*(?:import\b|from\s+\S+\s+import\b|#include\b|#import\b|using\s+[\w.]+\s*;"
                        r"|(?:pub\s+)?use\s+[\w:{}, *]+;|package\s+[\w.]+|(?:const|let|var)\s.*\brequire\()")
_PY_FROM = re.compile(r"^\s*from\s+\.*[\w.]*\s+import\s+(.*)$")
_JS_IMPORT = re.compile(r"^\s*import\s+(?:type\s+)?(.*?)\s*from\s*['\"]", re.S)  # import X, { a, b as c } from '…'
_JAVA_IMPORT = re.compile(r"^\s*import\s+(?:static\s+)?[\w.]+\.(\w+)\s*;?\s*$")  # Java, Kotlin, Scala
_RUST_USE = re.compile(r"^\s*(?:pub\s+)?use\s+[\w:]*?(?:::)?(?:\{([^}]*)\}|(\w+))\s*;")
_CLOSER = {"(": ")", "{": "}"}


@dataclass(frozen=True)
class Imported:
    name: str  # as its definition spells it
    local: str  # as this file calls it (`b as c` → c)
    nested: bool = False  # imported inside a function or block (indented): for the code right below it


@dataclass(frozen=True)
class Statement:
    first: int  # 0-based lines of `lines`, inclusive
    last: int
    text: str


def import_statements(lines: list[str]) -> list[Statement]:
    """The import statements among `lines`, in order; one opened with `(` or `{` (`from m import (`,
    `import {`, Go's `import (`) spans the lines up to its closer. One still open at the end (being typed)
    is not a statement yet. The one import reader of the project: prompt layout, retrieval and evals."""
    return _scan(lines)[0]


def split_imports(text: str) -> tuple[list[Imported], str]:
    """(the names `text`'s import statements bring in, in order; the rest of `text`, import statements
    removed). Python `from m import a, b as c` (parenthesized too), JS/TS `import X, { a, b as c } from`,
    Java/Kotlin `import p.q.C`, Rust `use p::{A, B}`; module imports (`import os`) name no definition. An
    unfinished statement at the end (still being typed) is neither."""
    lines = text.split("\n")
    statements, unfinished = _scan(lines)
    names = [dataclasses.replace(name, nested=st.text[:1].isspace()) if st.text[:1].isspace() else name
             for st in statements for name in _parse("\n".join(x.lstrip() for x in st.text.split("\n")))]
    taken = {n for st in statements for n in range(st.first, st.last + 1)}
    return names, "\n".join(line for n, line in enumerate(lines[:unfinished]) if n not in taken)


def _scan(lines: list[str]) -> tuple[list[Statement], int]:
    """(the statements, where an unfinished one starts: len(lines) when none is open)."""
    out: list[Statement] = []
    i = 0
    while i < len(lines):
        if not _STATEMENT.match(lines[i]):
            i += 1
            continue
        closer, last = _left_open(lines[i]), i
        while closer and closer not in _code(lines[last] if last > i else ""):
            last += 1
            if last == len(lines):
                return out, i
        out.append(Statement(i, last, "\n".join(lines[i:last + 1])))
        i = last + 1
    return out, len(lines)


def _left_open(line: str) -> str | None:
    """The closer a statement's first line still waits for (`from m import (` → `)`), or None."""
    code = _code(line)
    for opener, closer in _CLOSER.items():
        at = code.find(opener)
        if at >= 0 and closer not in code[at:]:
            return closer
    return None


def _code(line: str) -> str:
    """A line without its `#` comment (a `#include` line is all code)."""
    return line if line.lstrip().startswith("#") else line.split("#")[0]


def _parse(statement: str) -> list[Imported]:
    if m := _PY_FROM.match(" ".join(line.split("#")[0] for line in statement.split("\n"))):  # comments per line
        return _listed(m.group(1).replace("(", " ").replace(")", " ").replace("\\", " "), " as ")
    if m := _JS_IMPORT.match(statement):
        clause = m.group(1)
        braces = re.search(r"\{([^}]*)\}", clause)
        default = re.match(r"\s*([A-Za-z_$][\w$]*)\s*(?:,|$)", clause)
        out = [Imported(default.group(1), default.group(1))] if default else []
        return out + (_listed(braces.group(1), " as ") if braces else [])
    if m := _JAVA_IMPORT.match(statement):
        return [Imported(m.group(1), m.group(1))]
    if m := _RUST_USE.match(statement):
        return _listed(m.group(1) or m.group(2), " as ")
    return []


def _listed(items: str, alias: str) -> list[Imported]:
    out = []
    for item in items.split(","):
        parts = item.strip().removeprefix("type ").split(alias)
        name = parts[0].strip().split("::")[-1]
        local = parts[-1].strip()
        if re.fullmatch(r"[A-Za-z_$][\w$]*", name) and re.fullmatch(r"[A-Za-z_$][\w$]*", local):
            out.append(Imported(name, local))
    return out


def subwords(text: str) -> set[str]:
    """Lowercase words of identifiers, camelCase and snake_case split: `RealtimeHistoryUpdated` →
    {realtime, history, updated}."""
    return {w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", text) if len(w) > 1}


def overlap(name: str, words: set[str]) -> float:
    """The share of `name`'s words found in `words`: how much the text around the cursor talks about it."""
    own = subwords(name)
    return len(own & words) / len(own) if own else 0.0
