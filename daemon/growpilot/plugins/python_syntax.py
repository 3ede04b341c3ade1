"""Built-in post-processor `python-syntax`: a multi-line Python suggestion must parse where it goes.

The document with the suggestion in place (prefix + suggestion + suffix) is parsed; a suggestion that
breaks it is cut to its longest run of leading lines that parses in place, or dropped when none does.
Single-line suggestions are left alone (the user is often in the middle of an expression), and so are
code actions (they check their own edits, actions/edits.py).

"Parses in place" has to cope with files that are broken anyway, as files being typed are. The parse
looks at the enclosing top-level block only (from the last line before the cursor that opens a `def`,
`class` or decorator at column 0, to the next such line after it): errors elsewhere in the file do not
count, and the cost stays small on big files (one parse per candidate, at most MAX_BLOCK_LINES). Then
the first syntax error decides:

- none: it fits;
- in the suggestion's lines, or naming one of them ("expected an indented block after 'if' statement
  on line N"): it does not;
- before the suggestion: the code above the cursor does not parse on its own (when it does not without
  the suggestion either), nothing can be told: the suggestion is kept;
- after the suggestion, in the suffix: pre-existing if the document without the suggestion (or with a
  neutral `pass` in its place) has that error at that suffix line; caused by the suggestion if that
  document parses or its first error lies farther down; else nothing can be told (kept).

`ast.parse` is the daemon's Python's grammar: syntax newer than it (in the file or the suggestion)
reads as an error (a file that does not parse before the cursor: kept).
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

from growpilot.plugins import Request

_TOP = re.compile(r"(?:async\s+def|def|class)\b|@")
_ON_LINE = re.compile(r"\bon line (\d+)")


@dataclass(frozen=True)
class _Error:
    line: int  # 0-based, in the parsed text
    msg: str
    refers: int | None  # 0-based line named in the message ("… on line N")


class PythonSyntax:
    name = "python-syntax"

    def postprocess(self, request: Request, text: str) -> str | None:
        if request.language != "python" or request.kind == "action" or "\n" not in text.strip("\n"):
            return text
        return cut_to_parse(request.prefix, text, request.suffix)


def cut_to_parse(prefix: str, text: str, suffix: str) -> str | None:
    """`text` if it parses in place, else its longest run of leading lines that does, else None."""
    head, tail = window(prefix, suffix)
    baselines = None
    lines = text.split("\n")
    tried: set[str] = set()
    for k in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:k]).rstrip()
        if not candidate.strip() or candidate in tried:
            continue
        tried.add(candidate)
        if baselines is None:
            baselines = _baselines(head, tail)
        verdict = fits(head, candidate, tail, baselines)
        if verdict is None:
            return text if k == len(lines) else candidate  # nothing can be told: no cut on that account
        if verdict:
            return candidate if k < len(lines) else text
    return None


def window(prefix: str, suffix: str) -> tuple[str, str]:
    """The prefix from the last top-level `def` / `class` / decorator line above the cursor's line, the
    suffix up to the next one after the cursor's line."""
    lines = prefix.split("\n")
    start = 0
    for i in range(len(lines) - 2, -1, -1):
        if _TOP.match(lines[i]):
            start = i
            break
    # A decorated definition starts at its first decorator.
    while start > 0 and lines[start - 1].startswith("@"):
        start -= 1
    rest = suffix.split("\n")
    end = len(rest)
    for j in range(1, len(rest)):
        if _TOP.match(rest[j]):
            end = j
            break
    return "\n".join(lines[start:]), "\n".join(rest[:end])


def fits(head: str, text: str, tail: str, baselines: list[_Error | None]) -> bool | None:
    """Whether `text` parses between `head` and `tail`: True, False, or None when that cannot be told."""
    err = first_error(head + text + tail)
    if err is None:
        return True
    first = head.count("\n")
    last = first + text.count("\n")
    if err.refers is not None and first <= err.refers <= last:
        return False
    if err.line < first:
        broken_above = any(b is not None and b.line < first for b in baselines)
        return None if broken_above else False
    if err.line <= last:
        return False
    below = err.line - last  # lines below the suggestion's last line (which holds the suffix's first one)
    known = [b for b in baselines if b is not None]
    if any(b.line - first == below and b.msg == err.msg for b in known):
        return True  # the suffix has that error with or without the suggestion
    if len(known) < len(baselines) or any(b.line - first > below for b in known):
        return False  # without the suggestion the suffix parses that far
    return None


def first_error(code: str) -> _Error | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like: not our concern
            ast.parse(code)
        return None
    except SyntaxError as exc:
        ref = _ON_LINE.search(exc.msg or "")
        return _Error((exc.lineno or 1) - 1, exc.msg or "", int(ref.group(1)) - 1 if ref else None)
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return _Error(0, str(exc), None)


def _baselines(head: str, tail: str) -> list[_Error | None]:
    """The first errors of the window without a suggestion and, when the cursor's line allows one, with a
    neutral statement in its place (`pass` on an empty line, ` pass` after a `:`)."""
    out = [first_error(head + tail)]
    line = head.rsplit("\n", 1)[-1]
    neutral = "pass" if not line.strip() else " pass" if line.rstrip().endswith(":") else None
    if neutral is not None:
        out.append(first_error(head + neutral + tail))
    return out
