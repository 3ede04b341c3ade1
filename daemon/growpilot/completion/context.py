"""What surrounds the cursor: prefix, suffix, and whether to complete a line or a block. Pure."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, Literal

Mode = Literal["line", "block"]
_CLOSERS_ONLY = re.compile(r"[\s)\]}\"'`;,:.]*")
_OPENERS = (":", "{", "(", "[", "=>", "->", " do", "then")
MAX_BLOCK_LINES = 16


@dataclass(frozen=True)
class CursorContext:
    path: str  # workspace-relative (or file name when outside any workspace)
    language: str
    prefix: str  # document text before the cursor
    suffix: str  # document text after the cursor
    line: int  # 0-based cursor line
    mode: Mode

    @property
    def line_prefix(self) -> str:
        return self.prefix.rsplit("\n", 1)[-1]

    @property
    def line_suffix(self) -> str:
        return self.suffix.split("\n", 1)[0]


def search_query(prefix: str, lines: int = 8) -> str:
    """What the lines before the cursor say, as retrieval searches for it (and memory compares it): the
    last `lines` lines' non-blank ones, nearest first (BM25 keeps the first 24 words)."""
    return "\n".join(reversed([line for line in prefix.split("\n")[-lines:] if line.strip()]))


def split_at(text: str, line: int, character: int) -> tuple[str, str]:
    """Split a document at a 0-based (line, character) position given in code points."""
    lines = text.split("\n")
    line = max(0, min(line, len(lines) - 1))
    offset = sum(len(x) + 1 for x in lines[:line]) + max(0, min(character, len(lines[line])))
    return text[:offset], text[offset:]


def completion_mode(prefix: str, suffix: str) -> Mode:
    """A block after an opener or on an empty line; otherwise finish the current line."""
    before = prefix.rsplit("\n", 1)[-1].rstrip()
    after = suffix.split("\n", 1)[0]
    if after.strip():
        # Text after the cursor: fill in this line, unless the cursor sits in a fresh `{|}` / `:|` body.
        closers_only = _CLOSERS_ONLY.fullmatch(after) is not None
        return "block" if closers_only and before.endswith(("{", ":")) else "line"
    if not before.strip():
        return "block" if prefix.strip() else "line"
    return "block" if before.endswith(_OPENERS) else "line"


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def block_indent(prefix: str) -> int:
    """Indentation a completed block must keep: lines dedented below it end the block."""
    before = prefix.rsplit("\n", 1)[-1]
    if not before.strip():
        return len(before)
    return indent_of(before) + 1  # after an opener: the body is deeper than the opener line


def within_budget(rule: Callable[[str], int | None], budget_s: float,
                  clock: Callable[[], float] = time.perf_counter) -> Callable[[str], int | None]:
    """`rule`, and once `budget_s` has passed since its first call (the first decoded token), the text up
    to its last line end: a multi-line suggestion answers with the lines it has."""
    started: list[float] = []

    def done(text: str) -> int | None:
        if (end := rule(text)) is not None:
            return end
        started[:] = started or [clock()]
        cut = text.rfind("\n")
        return cut if cut > 0 and text[:cut].strip() and clock() - started[0] >= budget_s else None

    return done


def stop_rule(mode: Mode, prefix: str) -> Callable[[str], int | None]:
    """A function of the text generated so far that returns where to cut it once it is complete."""
    if mode == "line":
        def line_done(text: str) -> int | None:
            cut = text.find("\n")
            return cut if cut >= 0 else None
        return line_done

    base = block_indent(prefix)

    def block_done(text: str) -> int | None:
        lines = text.split("\n")
        offset, blanks, deeper = 0, 0, False
        for i, line in enumerate(lines[:-1]):  # the last line may still be growing
            if i > 0:  # the first line continues the cursor's line, its indentation is in the prefix
                if not line.strip():
                    blanks += 1
                    if blanks >= 2:
                        return max(offset - 1, 0)
                else:
                    blanks = 0
                    indent = indent_of(line)
                    # Dedented out of the block; at top level, a new statement after a body ends it too.
                    if indent < base or (base == 0 and indent == 0 and deeper):
                        return max(offset - 1, 0)
                    deeper = deeper or indent > base
                if i >= MAX_BLOCK_LINES:
                    return max(offset - 1, 0)
            offset += len(line) + 1
        return None

    return block_done
