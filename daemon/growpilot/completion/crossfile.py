"""Cross-file call sites: the lines of a repository that first call a function or class another file of
it defines (CrossCodeEval's criterion). What completes such a line is in the other file, so they are
where retrieved context can help: `growpilot eval retrieval-lift` scores them, and the context
calibration of a workspace (calibration.py) asks them whether context helps there. Pure."""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass

from growpilot.completion.names import import_statements

_SKIP_LINE = re.compile(r"^\s*(from\s|import\s|def\s|class\s|async\s+def\s|@|#)")


@dataclass(frozen=True)
class Task:
    path: str  # workspace-relative
    line: int  # 0-based
    column: int  # where the cross-file name starts: the cursor
    gold: str  # the rest of the line from there
    name: str  # the cross-file symbol it uses
    defined_in: tuple[str, ...]


def build_tasks(files: dict[str, str], definitions: dict[str, set[str]], limit: int, seed: int = 0) -> list[Task]:
    """First uses of names defined in another file: the line where a file first calls (or reaches
    into) a top-level function or class of another file, which its own text before that line only
    imports. What completes such a line is in the other file (CrossCodeEval's criterion). Pure."""
    tasks, seen = [], set()
    for path, text in sorted(files.items()):
        lines = text.split("\n")
        sites = call_sites(text)
        used_before: set[str] = set()
        imports = {n for st in import_statements(lines) for n in range(st.first, st.last + 1)}
        for i, line in enumerate(lines):
            stripped = line.strip()
            if stripped and not _SKIP_LINE.match(line) and len(stripped) <= 160 and stripped not in seen:
                for m in re.finditer(r"\b([A-Za-z_]\w{4,})\s*[(.]", line):
                    name, homes = m.group(1), definitions.get(m.group(1))
                    if (homes and path not in homes and name not in used_before and not name.startswith("__")
                            and (i, m.start(1)) in sites):
                        tasks.append(Task(path, i, m.start(1), line[m.start(1):].rstrip(), name, tuple(sorted(homes))))
                        seen.add(stripped)
                        break
            if i not in imports:
                used_before.update(re.findall(r"\b[A-Za-z_]\w*\b", line))
    random.Random(seed).shuffle(tasks)
    return tasks[:limit]


def call_sites(text: str) -> set[tuple[int, int]]:
    """(0-based line, column) of every name the code calls or reaches into (`f(`, `C.x`): never a word
    in a docstring or comment that merely looks like one. Empty when the file does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set()
    lines = text.split("\n")
    sites = set()
    for node in ast.walk(tree):
        target = node.func if isinstance(node, ast.Call) else node.value if isinstance(node, ast.Attribute) else None
        if isinstance(target, ast.Name):
            line = target.lineno - 1  # ast's columns count UTF-8 bytes
            sites.add((line, len(lines[line].encode()[:target.col_offset].decode(errors="ignore"))))
    return sites


def cross_file_symbols(index) -> dict[str, set[str]]:
    """Top-level Python functions and classes and the files defining them (names defined in more than
    two files are too ambiguous to call a task's definition)."""
    homes = index.top_level_symbols("python")
    return {name: paths for name, paths in homes.items() if len(paths) <= 2}
