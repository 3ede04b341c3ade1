"""From the model's answer to edits a user would accept, and the check that Python still parses. Pure.

- A docstring goes right after the signature, at the body's indentation (or replaces the existing one),
  in quotes we write ourselves: whatever the model says, the literal stays a string.
- A refactor or fix replaces whole lines of its region, re-indented to where they sit, as the smallest
  set of line edits (difflib): unchanged lines are not touched, so the editor keeps their marks.
- Tests go to a new file, or after the end of an existing one, their imports merged into its imports.
Positions are (line, column) in code points of the text split at "\\n"."""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from dataclasses import dataclass

from growpilot.actions.targets import Region, Target, lines_of, syntax_message

_FENCE = re.compile(r"^\s*```[\w+-]*\s*$")
_IMPORT = re.compile(r"^(import\s+\S|from\s+\S+\s+import\s)")


@dataclass(frozen=True)
class TextEdit:
    start: tuple[int, int]
    end: tuple[int, int]
    new_text: str


@dataclass(frozen=True)
class FileEdit:
    path: str  # absolute
    edits: tuple[TextEdit, ...]
    text_after: str  # the whole file once the edits are applied
    text_before: str = ""  # the text the edits' positions refer to
    create: bool = False  # a new file (the edits insert its whole text)


class BadAnswer(ValueError):
    """The model's answer has nothing usable in it (empty, or only prose)."""


# ----- positions
def offset_at(text: str, pos: tuple[int, int]) -> int:
    lines = lines_of(text)
    line = min(pos[0], len(lines) - 1)
    return sum(len(x) + 1 for x in lines[:line]) + min(pos[1], len(lines[line]))


def position_at(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n")
    return line, offset - (before.rfind("\n") + 1)


def apply(text: str, edits: tuple[TextEdit, ...] | list[TextEdit]) -> str:
    """`edits` (non-overlapping) applied to `text`, last first."""
    out = text
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        a, b = offset_at(out, e.start), offset_at(out, e.end)
        out = out[:a] + e.new_text + out[b:]
    return out


# ----- answers
def code_of(answer: str) -> str:
    """The code of an answer that started inside a code block: up to its closing fence, without any
    fence the model wrote again."""
    lines = answer.split("\n")
    if lines and _FENCE.match(lines[0]):
        lines = lines[1:]
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            lines = lines[:i]
            break
    code = "\n".join(lines).rstrip()
    if not code.strip():
        raise BadAnswer("the model's answer holds no code")
    return code


def reindent(code: str, indent: str) -> str:
    """`code` dedented, then indented by `indent` (blank lines stay empty)."""
    body = textwrap.dedent(code.expandtabs(4) if "\t" in code and " " in indent else code)
    return "\n".join(indent + line if line.strip() else "" for line in body.split("\n"))


# ----- docstrings
def docstring_body(answer: str) -> str:
    """The docstring's text from an answer that started right after the opening quotes: dedented,
    trailing blanks gone, without quotes the model repeated."""
    text = answer.split('"""')[0] if '"""' in answer else answer
    text = text.replace("\r", "")
    lines = text.strip("\n").split("\n")
    if not lines or not "".join(lines).strip():
        raise BadAnswer("the model wrote an empty docstring")
    first, rest = lines[0].strip(), textwrap.dedent("\n".join(lines[1:]))
    body = "\n".join([first, *rest.split("\n")]).rstrip() if rest.strip() else first
    return re.sub(r"\n{3,}", "\n\n", body).strip()


def docstring_literal(body: str, indent: str) -> str:
    """A triple-quoted literal of `body` at `indent`: one line when it fits, else the summary on the
    quotes' line and the closing quotes on their own. A body with backslashes makes it a raw string
    (PEP 257); quotes that would end it early are escaped (`\\"` ends neither kind of string)."""
    prefix = "r" if "\\" in body else ""
    body = body.replace('"""', '\\"\\"\\"')
    if "\n" not in body and len(indent) + len(body) + 6 + len(prefix) <= 100:
        if body.endswith('"'):
            body = body[:-1] + '\\"'
        if body.endswith("\\"):
            body += " "
        return f'{indent}{prefix}"""{body}"""'
    lines = body.split("\n")
    inner = "".join(f"\n{indent}{line}" if line.strip() else "\n" for line in lines[1:])
    return f'{indent}{prefix}"""{lines[0]}{inner}\n{indent}"""'


def body_indent(text: str, target: Target, unit: str = "    ") -> str:
    """The indentation of the target's body (its first statement's line), else the header's plus `unit`."""
    lines = lines_of(text)
    line, col = target.body
    if line > target.colon[0] and not lines[line][:col].strip():
        return lines[line][:col]
    return target.indent + unit


def docstring_edit(text: str, target: Target, body: str) -> TextEdit:
    """Insert (or replace) the target's docstring."""
    indent = body_indent(text, target)
    literal = docstring_literal(body, indent)
    if target.docstring is not None:
        l0, c0, l1, c1 = target.docstring
        return TextEdit((l0, c0), (l1, c1), literal[len(indent):])
    colon_line, colon_col = target.colon
    line, col = target.body
    if line > colon_line:  # the body on its own lines: a new line right after the header
        return TextEdit((colon_line + 1, 0), (colon_line + 1, 0), literal + "\n")
    # `def f(x): return x`: the body moves onto its own line below the docstring.
    after = colon_col + 1
    return TextEdit((colon_line, after), (line, col), "\n" + literal + "\n" + indent)


def mentions_all(body: str, params) -> list[str]:
    """The parameters `body` does not name (as words)."""
    return [p for p in params if not re.search(rf"(?<![\w]){re.escape(p.lstrip('*'))}(?![\w])", body)]


# ----- regions (refactor, fix)
def region_span(text: str, region: Region) -> tuple[int, int]:
    """Offsets of the region's lines, its last line break excluded."""
    lines = lines_of(text)
    a = offset_at(text, (region.first, 0))
    b = offset_at(text, (region.last, len(lines[region.last])))
    return a, b


def region_edits(text: str, region: Region, new_code: str) -> tuple[TextEdit, ...]:
    """The region's lines replaced by `new_code` as the fewest whole-line edits (lines compared with
    their line breaks, so a last line without one is handled like any other)."""
    a = offset_at(text, (region.first, 0))
    end_line = lines_of(text)[region.last]
    b = offset_at(text, (region.last, len(end_line)))
    b += 1 if b < len(text) else 0  # its line break
    old = text[a:b].splitlines(keepends=True)
    new = (new_code + ("\n" if text[a:b].endswith("\n") else "")).splitlines(keepends=True)
    starts = [a]
    for line in old:
        starts.append(starts[-1] + len(line))
    edits = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op != "equal":
            edits.append(TextEdit(position_at(text, starts[i1]), position_at(text, starts[i2]), "".join(new[j1:j2])))
    return tuple(edits)


# ----- tests
def split_imports(code: str) -> tuple[list[str], str]:
    """(top-level import lines, the rest) of generated test code; a parenthesized import stays whole."""
    imports: list[str] = []
    rest: list[str] = []
    lines = code.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if _IMPORT.match(line):
            stmt = [line]
            while "(" in line and ")" not in "".join(stmt) and i + 1 < len(lines):
                i += 1
                stmt.append(lines[i])
            imports.append("\n".join(stmt))
        else:
            rest.append(line)
        i += 1
    return imports, "\n".join(rest).strip("\n")


def test_file_edit(path: str, existing: str | None, code: str) -> tuple[FileEdit, int]:
    """The generated tests (`code`: a whole test module) written to a new file, or appended to the
    existing one with their missing imports added after its own. Returns the edit and the line where
    the new tests start (for the rating lens)."""
    code = code.rstrip() + "\n"
    if existing is None:
        return FileEdit(path, (TextEdit((0, 0), (0, 0), code),), code, "", create=True), _first_test_line(code)
    imports, body = split_imports(code)
    have = {line.strip() for line in existing.split("\n")}
    missing = [imp for imp in imports if imp.strip() not in have]
    edits: list[TextEdit] = []
    last_import = _last_import_line(existing)
    block = ""
    if missing:
        at = (last_import + 1, 0) if last_import is not None else (0, 0)
        block = "\n".join(missing) + "\n" + ("" if last_import is not None else "\n\n")
        edits.append(TextEdit(at, at, block))
    end = position_at(existing, len(existing))
    sep = "" if not existing.strip() else "\n\n" if existing.endswith("\n") else "\n\n\n"
    edits.append(TextEdit(end, end, sep + body.rstrip() + "\n"))
    after = apply(existing, edits)
    start = position_at(after, len(existing) + len(block) + len(sep))[0]
    return FileEdit(path, tuple(edits), after, existing), start + _first_test_line(body)


def _last_import_line(text: str) -> int | None:
    """The last line of the module's leading import statements (after its docstring), or None."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    last = None
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            last = node.end_lineno - 1
        elif i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module docstring
        else:
            break
    return last


def _first_test_line(code: str) -> int:
    for i, line in enumerate(code.split("\n")):
        if re.match(r"\s*(def test|class Test|async def test|@)", line):
            return i
    return 0


# ----- the parse check
def parse_problem(before: str, after: str, changed: list[tuple[int, int]]) -> str | None:
    """Why `after` cannot be applied, or None. A file that parsed must still parse; one that did not
    must not have its (first) syntax error inside the lines the edit wrote (`changed`: inclusive line
    spans of `after`): an error elsewhere was there before and is not this edit's doing."""
    try:
        ast.parse(after)
        return None
    except (SyntaxError, ValueError) as exc:
        problem = syntax_message(exc)
        line = (getattr(exc, "lineno", None) or 1) - 1
    try:
        ast.parse(before)
        return problem
    except (SyntaxError, ValueError):
        pass
    if any(a - 1 <= line <= b + 1 for a, b in changed):
        return problem
    return None


def alone_problem(old_code: str, new_code: str, first_line: int) -> str | None:
    """For a file that did not parse before (its first error hides any later one): the syntax error of
    `new_code` on its own, when the code it replaces (`old_code`, from line `first_line`) parsed on its
    own; else None (nothing to tell)."""
    try:
        ast.parse(textwrap.dedent(old_code))
    except (SyntaxError, ValueError):
        return None
    try:
        ast.parse(textwrap.dedent(new_code))
        return None
    except SyntaxError as exc:
        if exc.lineno:
            exc.lineno += first_line
        return syntax_message(exc)
    except ValueError as exc:
        return str(exc)


def changed_lines(edits, text_before: str) -> list[tuple[int, int]]:
    """Inclusive line spans, in the text after the edits, of what each edit wrote."""
    spans = []
    shift = 0
    for e in sorted(edits, key=lambda e: e.start):
        start = e.start[0] + shift
        spans.append((start, start + e.new_text.count("\n")))
        shift += e.new_text.count("\n") - (e.end[0] - e.start[0])
    return spans
