"""What a code action is about: the Python function or class at the cursor (with its parameters, where
its body starts, its docstring if any), a selection taken as whole lines, or the code around a
diagnostic. Positions are 0-based lines and code-point columns of the text split at "\\n". Pure."""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from dataclasses import dataclass

FIX_WINDOW = 8  # lines each side of a diagnostic when no enclosing function is small enough
FIX_MAX_LINES = 80  # an enclosing function longer than this is too much to rewrite for one problem
EXPLAIN_WINDOW = 40  # lines of a paragraph explained when nothing is selected outside Python


@dataclass(frozen=True)
class Target:
    """A function, method or class of a Python file."""
    kind: str  # function | method | class
    name: str
    qualname: str  # Store.put for a method
    start: int  # first line, decorators included
    def_line: int  # the line of `def` / `class`
    end: int  # last line (inclusive)
    params: tuple[str, ...]  # what its docstring documents (no self/cls; a class: its __init__'s)
    colon: tuple[int, int]  # the header's closing colon (line, column)
    body: tuple[int, int]  # its first statement (line, column)
    docstring: tuple[int, int, int, int] | None  # the existing docstring's span (line, col, end line, end col)
    returns: bool  # returns or yields a value
    yields: bool
    raises: tuple[str, ...]  # exception names it raises itself
    indent: str  # the indentation of its `def` / `class` line
    owner: str | None = None  # the class of a method

    @property
    def header_lines(self) -> tuple[int, int]:
        """Lines of the decorators and the signature, up to the colon (inclusive)."""
        return self.start, self.colon[0]


@dataclass(frozen=True)
class Region:
    """Whole lines [first, last] of a file (inclusive)."""
    first: int
    last: int


def lines_of(text: str) -> list[str]:
    return text.split("\n")


@functools.lru_cache(maxsize=16)
def parse(text: str) -> tuple[ast.Module | None, str | None]:
    """(the module, None) or (None, why it does not parse). Cached: a code-action request comes with
    every cursor move, mostly on the same text."""
    try:
        return ast.parse(text), None
    except (SyntaxError, ValueError) as exc:
        return None, syntax_message(exc)


def syntax_message(exc: Exception) -> str:
    if isinstance(exc, SyntaxError):
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "") if exc.lineno else "somewhere"
        return f"{exc.msg} ({where})"
    return str(exc)


def target_at(text: str, line: int) -> Target | None:
    """The innermost function or class whose lines (decorators included) hold `line`; None when there is
    none or the file does not parse."""
    tree, _ = parse(text)
    if tree is None:
        return None
    lines = lines_of(text)
    best: tuple[ast.AST, ast.AST | None] | None = None

    def visit(nodes, owner):
        nonlocal best
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
                if first <= line <= node.end_lineno - 1:
                    best = (node, owner)
                    visit(node.body, node if isinstance(node, ast.ClassDef) else None)
                    return
            elif hasattr(node, "body") and isinstance(node.body, list):  # if/try/with blocks at any level
                inner = [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                         *[h for handler in getattr(node, "handlers", []) for h in handler.body]]
                visit(inner, owner)

    visit(tree.body, None)
    if best is None:
        return None
    return _target(lines, *best)


def targets(text: str) -> list[Target]:
    """Every function, method and class of a file, in order (evaluations walk them)."""
    tree, _ = parse(text)
    if tree is None:
        return []
    lines = lines_of(text)
    out: list[Target] = []

    def visit(nodes, owner):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.append(_target(lines, node, owner))
                visit(node.body, node if isinstance(node, ast.ClassDef) else None)

    visit(tree.body, None)
    return out


def _target(lines: list[str], node, owner) -> Target:
    is_class = isinstance(node, ast.ClassDef)
    kind = "class" if is_class else "method" if owner is not None else "function"
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    body = node.body[0]
    body_pos = (body.lineno - 1, _col(lines, body.lineno - 1, body.col_offset))
    doc = None
    if isinstance(body, ast.Expr) and isinstance(body.value, ast.Constant) and isinstance(body.value.value, str):
        doc = (body.lineno - 1, _col(lines, body.lineno - 1, body.col_offset),
               body.end_lineno - 1, _col(lines, body.end_lineno - 1, body.end_col_offset))
    def_line = node.lineno - 1
    colon = _header_colon(lines, def_line, body_pos) or (def_line, len(lines[def_line].rstrip()) - 1)
    if is_class:
        init = next((n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and n.name == "__init__"), None)
        params = _params(init, True) if init is not None else ()
        returns = yields = False
        raises: tuple[str, ...] = ()
    else:
        params = _params(node, owner is not None and not _is_static(node))
        returns, yields, raises = _flow(node)
    line = lines[def_line]
    return Target(kind, node.name, f"{owner.name}.{node.name}" if owner is not None else node.name, first, def_line,
                  node.end_lineno - 1, params, colon, body_pos, doc, returns, yields, raises,
                  line[:len(line) - len(line.lstrip())], owner.name if owner is not None else None)


def _col(lines: list[str], line: int, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; ours count code points."""
    return len(lines[line].encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def _is_static(node) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)


def _params(node, bound: bool) -> tuple[str, ...]:
    a = node.args
    names = [x.arg for x in [*a.posonlyargs, *a.args]]
    if bound and names:
        names = names[1:]  # self / cls
    names += [f"*{a.vararg.arg}"] if a.vararg else []
    names += [x.arg for x in a.kwonlyargs]
    names += [f"**{a.kwarg.arg}"] if a.kwarg else []
    return tuple(names)


def _flow(node) -> tuple[bool, bool, tuple[str, ...]]:
    """(returns a value, yields, exceptions raised by name) of a function's own body (nested functions
    and classes not counted)."""
    returns = yields = False
    raises: list[str] = []
    stack = list(node.body)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(n, ast.Return) and n.value is not None and not (
                isinstance(n.value, ast.Constant) and n.value.value is None):
            returns = True
        elif isinstance(n, (ast.Yield, ast.YieldFrom)):
            yields = True
        elif isinstance(n, ast.Raise) and n.exc is not None:
            exc = n.exc.func if isinstance(n.exc, ast.Call) else n.exc
            name = exc.id if isinstance(exc, ast.Name) else exc.attr if isinstance(exc, ast.Attribute) else None
            if name and name not in raises:
                raises.append(name)
        stack.extend(ast.iter_child_nodes(n))
    return returns, yields, tuple(sorted(raises))


def _header_colon(lines: list[str], def_line: int, body: tuple[int, int]) -> tuple[int, int] | None:
    """The colon that ends a `def` / `class` header: the first `:` outside brackets (annotations,
    defaults and lambdas hold colons inside them)."""
    segment = "\n".join(lines[def_line:body[0] + 1]) + "\n"
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(segment).readline):
            if tok.type == tokenize.OP:
                if tok.string in "([{":
                    depth += 1
                elif tok.string in ")]}":
                    depth -= 1
                elif tok.string == ":" and depth == 0:
                    return def_line + tok.start[0] - 1, tok.start[1]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return None


def is_header_line(target: Target, line: int) -> bool:
    """Whether `line` is one of the target's decorator or signature lines (where a lightbulb for it
    belongs; inside the body it would show on every line)."""
    first, last = target.header_lines
    return first <= line <= last


def selection_region(text: str, start: tuple[int, int], end: tuple[int, int]) -> Region | None:
    """The whole lines a selection touches; a selection ending at a line's column 0 leaves that line
    out. None for an empty (or blank) selection."""
    if start > end:
        start, end = end, start
    lines = lines_of(text)
    last = end[0] - 1 if end[1] == 0 and end[0] > start[0] else end[0]
    last = min(last, len(lines) - 1)
    if start == end or not any(lines[i].strip() for i in range(start[0], last + 1)):
        return None
    return Region(start[0], last)


def fix_region(text: str, line: int, end_line: int | None = None) -> Region:
    """The code a fix rewrites: the innermost Python function around the problem when it is short enough,
    else FIX_WINDOW lines each side, cut to the file."""
    end_line = line if end_line is None else max(line, end_line)
    target = target_at(text, line)
    if target is not None and target.kind != "class" and target.end - target.start + 1 <= FIX_MAX_LINES and target.end >= end_line:
        return Region(target.start, target.end)
    n = len(lines_of(text))
    return Region(max(0, line - FIX_WINDOW), min(n - 1, end_line + FIX_WINDOW))


def paragraph_region(text: str, line: int) -> Region | None:
    """The run of non-blank lines around `line` (at most EXPLAIN_WINDOW), for Explain without a selection
    outside Python; None on a blank line."""
    lines = lines_of(text)
    if not (0 <= line < len(lines)) or not lines[line].strip():
        return None
    first = last = line
    while first > 0 and lines[first - 1].strip() and line - first < EXPLAIN_WINDOW // 2:
        first -= 1
    while last < len(lines) - 1 and lines[last + 1].strip() and last - first < EXPLAIN_WINDOW:
        last += 1
    return Region(first, last)


def region_text(text: str, region: Region) -> str:
    return "\n".join(lines_of(text)[region.first:region.last + 1])


def common_indent(code: str) -> str:
    """The indentation all non-blank lines share."""
    indents = [line[:len(line) - len(line.lstrip())] for line in code.split("\n") if line.strip()]
    if not indents:
        return ""
    first = indents[0]
    n = 0
    while n < len(first) and all(len(i) > n and i[n] == first[n] for i in indents):
        n += 1
    return first[:n]
