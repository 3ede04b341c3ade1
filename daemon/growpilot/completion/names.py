"""What a file imports, and the text it has written besides: imported names it has not used yet are what
the next lines are about to call, and their definitions are what its own text cannot show. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PY_FROM = re.compile(r"^\s*from\s+\.*[\w.]*\s+import\s+(.*)$")
_PY_IMPORT = re.compile(r"^\s*import\s+[\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*\s*$")
_JS_IMPORT = re.compile(r"^\s*import\s+(?:type\s+)?(.*?)\s*from\s*['\"]", re.S)  # import X, { a, b as c } from '…'
_JS_OPEN = re.compile(r"^\s*import\s+(?:type\s+)?\{[^}]*$")
_JAVA_IMPORT = re.compile(r"^\s*import\s+(?:static\s+)?[\w.]+\.(\w+)\s*;?\s*$")  # Java, Kotlin, Scala
_RUST_USE = re.compile(r"^\s*(?:pub\s+)?use\s+[\w:]*?(?:::)?(?:\{([^}]*)\}|(\w+))\s*;")


@dataclass(frozen=True)
class Imported:
    name: str  # as its definition spells it
    local: str  # as this file calls it (`b as c` → c)


def split_imports(text: str) -> tuple[list[Imported], str]:
    """(the names `text`'s import statements bring in, in order; the rest of `text`, import statements
    removed). Python `from m import a, b as c` (parenthesized too), JS/TS `import X, { a, b as c } from`,
    Java/Kotlin `import p.q.C`, Rust `use p::{A, B}`; module imports (`import os`) name no definition."""
    names: list[Imported] = []
    rest: list[str] = []
    pending: list[str] = []  # lines of a statement still open: `from m import (` / `import {`
    for line in text.split("\n"):
        if pending:
            pending.append(line)
            statement = "\n".join(pending)
            if (statement.startswith("from") and ")" in line) or _JS_IMPORT.match(statement):
                names += _parse(statement)
                pending = []
            continue
        stripped = line.lstrip()
        py_from = _PY_FROM.match(line)
        if (py_from and "(" in line and ")" not in line) or _JS_OPEN.match(line):
            pending = [stripped]
        elif py_from or _JS_IMPORT.match(line) or _JAVA_IMPORT.match(line) or _RUST_USE.match(line):
            names += _parse(stripped)
        elif not _PY_IMPORT.match(line):
            rest.append(line)
    return names, "\n".join(rest)


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
