"""Compact views of definitions for the prompt. A snippet gets ~80 tokens: spent on a multi-line
signature, a long docstring or a class's first field they show nothing a caller needs, so a definition is
shown as its signature on one line, the first line of its docstring, then the rest of its head chunk;
a class adds its public methods' signatures. Pure functions over chunk texts."""

from __future__ import annotations

import ast
import re

_DOCSTRING = re.compile(r'^([ \t]*)[rRuU]?("""|\'\'\')(.*?)\2', re.S | re.M)
_UNCLOSED_DOCSTRING = re.compile(r'^[ \t]*[rRuU]?("""|\'\'\')(?:(?!\1).)*\Z', re.S | re.M)
_CLASS = re.compile(r"^\s*(?:export\s+)?(?:(?:abstract|public|pub|final|sealed)\s+)*"
                    r"(?:class|struct|interface|trait|impl|enum|record)\b", re.M)
_OVERLOAD = re.compile(r"^\s*@(?:typing\.)?overload\b")
MAX_SIGNATURE_LINES = 30
LONG_SIGNATURE = 100  # characters: longer Python signatures lose their parameter annotations


def is_class(text: str) -> bool:
    """Whether a definition chunk declares a class-like type (after its decorators)."""
    lines = [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("@")]
    return bool(lines) and bool(_CLASS.match(lines[0]))


def is_overload(text: str) -> bool:
    """A typing stub (`@overload`): the implementation's signature says more."""
    return bool(_OVERLOAD.match(text))


def signature(text: str) -> tuple[str, int]:
    """(the declaration at the top of `text` — decorators on their lines, the rest joined into one —,
    how many lines it took)."""
    lines = text.split("\n")
    decorators = 0
    while decorators < len(lines) - 1 and lines[decorators].lstrip().startswith("@"):
        decorators += 1
    parts: list[str] = []
    for i in range(decorators, min(len(lines), decorators + MAX_SIGNATURE_LINES)):
        line = lines[i]
        parts.append(line.rstrip() if not parts else line.strip())
        if line.rstrip().endswith((":", "{", ";", "=>")):
            break
    else:
        return lines[0], 1
    joined = re.sub(r",?\s+([)\]])", r"\1", re.sub(r"([(\[])\s+", r"\1", " ".join(parts)))
    return "\n".join(lines[:decorators] + [joined]), i + 1


def docstring_summaries(text: str) -> str:
    """`text` with its first docstring cut to its first line (the summary), later ones (a class's
    attribute docs) and blank lines dropped."""
    first = True

    def keep_summary(m: re.Match) -> str:
        nonlocal first
        if not first:
            return ""
        first = False
        summary = next((line.strip() for line in m.group(3).split("\n") if line.strip()), "")
        return f"{m.group(1)}{m.group(2)}{summary}{m.group(2)}"
    kept = _UNCLOSED_DOCSTRING.sub("", _DOCSTRING.sub(keep_summary, text))  # a chunk may end inside one
    return "\n".join(line for line in kept.split("\n") if line.strip())


def short_signature(sig: str, limit: int = LONG_SIGNATURE) -> str:
    """A Python signature longer than `limit` characters without its parameters' annotations: their
    names and defaults are what a call needs (the return annotation stays). Others unchanged."""
    head = sig.split("\n")[-1]
    if len(head) <= limit or not head.rstrip().endswith(":"):
        return sig
    try:
        tree = ast.parse(head.strip() + " ...")
    except SyntaxError:
        return sig
    fn = tree.body[0] if tree.body else None
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return sig
    a = fn.args
    for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
        if arg is not None:
            arg.annotation = None
    indent = head[:len(head) - len(head.lstrip())]
    short = indent + ast.unparse(fn).split("\n")[0]
    return "\n".join(sig.split("\n")[:-1] + [short])


def definition_view(head: str, members: list[str] = ()) -> str:
    """A definition's head chunk, compacted; with `members` (a class's method chunks, in order), their
    public signatures after it."""
    sig, used = signature(head)
    sig = short_signature(sig)
    body = docstring_summaries("\n".join(head.split("\n")[used:]))
    out = [sig] + ([body] if body.strip() else [])
    for member in members:
        member_sig = short_signature(signature(member)[0])
        name = re.search(r"\b(?:def|fn|func|function)\s+(\w+)", member_sig)
        if name and name.group(1).startswith("_") and name.group(1) not in ("__init__", "__call__"):
            continue  # private: not what a caller writes
        out.append(member_sig + (" ..." if member_sig.endswith(":") else " … }" if member_sig.endswith("{") else ""))
    return "\n".join(out)
