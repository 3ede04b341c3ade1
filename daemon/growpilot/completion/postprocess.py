"""Clean a raw model continuation into a suggestion. Pure functions.

- cut at stop markers and at the mode's end (line / block);
- drop what the suffix already holds (the model keeps going past the hole);
- cut at a closing bracket that closes something opened before the line (it belongs to the suffix);
- reject empty suggestions and ones that repeat the text after the cursor.
"""

from __future__ import annotations

from typing import Iterable

from growpilot.completion.context import CursorContext, stop_rule

_PAIRS = {")": "(", "]": "[", "}": "{"}


def postprocess(raw: str, ctx: CursorContext, stops: Iterable[str] = ()) -> str | None:
    text = raw
    for marker in stops:
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut]
    end = stop_rule(ctx.mode, ctx.prefix)(text + "\n")
    if end is not None:
        text = text[:end]
    if ctx.mode == "line":
        text = text.split("\n", 1)[0]
    text = _cut_unbalanced(ctx.line_prefix, text)
    text = _drop_suffix_overlap(text, ctx.suffix)
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    if not text.strip():
        return None
    if ctx.suffix.lstrip().startswith(text.strip()):
        return None  # already there
    return text


def _drop_suffix_overlap(text: str, suffix: str) -> str:
    """Remove the tail of `text` that the suffix repeats: the rest of the cursor's line, or whole lines
    that already follow the cursor."""
    rest = suffix.split("\n", 1)[0].strip()
    if rest:
        stripped = text.rstrip()
        for k in range(len(rest), 0, -1):
            overlap = rest[:k]
            # A short overlap only counts when it is punctuation (`)`, `);`): "self" must not lose its "f".
            if stripped.endswith(overlap) and (k >= 3 or all(not c.isalnum() and c != "_" for c in overlap)):
                return stripped[: len(stripped) - k]
    following = [line.strip() for line in suffix.split("\n")[1:] if line.strip()][:1]
    if following and "\n" in text:
        lines = text.split("\n")
        for i in range(1, len(lines)):
            if lines[i].strip() == following[0]:
                return "\n".join(lines[:i])
    return text


def _cut_unbalanced(line_prefix: str, text: str) -> str:
    """Cut `text` before a closer whose opener is not inside the cursor's line or the text itself."""
    depth = []
    for ch in line_prefix:
        if ch in "([{":
            depth.append(ch)
        elif ch in _PAIRS and depth and depth[-1] == _PAIRS[ch]:
            depth.pop()
    in_string: str | None = None
    for i, ch in enumerate(text):
        if in_string:
            if ch == in_string:
                in_string = None
            continue
        if ch in "\"'`":
            in_string = ch
        elif ch in "([{":
            depth.append(ch)
        elif ch in _PAIRS:
            if not depth or depth[-1] != _PAIRS[ch]:
                return text[:i]
            depth.pop()
        elif ch == "\n":
            in_string = None
    return text
