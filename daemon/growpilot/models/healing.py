"""Token healing: a prompt that ends inside a token asks the model for a continuation it never saw in
training (`x = ba` is tokenized `x`, ` =`, ` ba`; the file's text is `x`, ` =`, ` base64`, …). So the
engine backs the prompt up by its last token and makes the model produce that text again as the start
of its answer, choosing freely how to tokenize it (as the `guidance` library popularised). Pure.

`TokenTexts` answers, for the text still to be produced, which tokens may come next: those whose text
starts with it (` base64` for ` ba`) or is a prefix of it (` b`, then `a…`).

Indentation is healed too. A line holding only `    ` ends the prompt in a 4-space token the model never
saw before a statement: code models' pre-tokenizers split `    raise` as `   ` + ` raise`. Unhealed, the
model answered with 4 more spaces at 15 of 40 statement starts on openai-agents (docs/experiments.md,
2026-12-07 late). So such a line gives up its last character only, the prompt ends in the whitespace
token the model saw in training, and whitespace still to be produced is never extended: a token may cover
it only when a non-space follows in that token (` raise` for ` `).
"""

from __future__ import annotations

import bisect
from typing import Callable, Sequence


class TokenTexts:
    def __init__(self, texts: Sequence[str]):
        """`texts[i]` is token i's text decoded on its own ("" for special or partial-byte tokens)."""
        self._by_text: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            if t and "\ufffd" not in t:  # partial UTF-8 bytes decode to U+FFFD: never a safe choice
                self._by_text.setdefault(t, []).append(i)
        self._sorted = sorted(self._by_text)

    def allowed(self, remaining: str) -> list[int]:
        """Ids of tokens whose text starts with `remaining` or is a non-empty prefix of it."""
        if not remaining:
            return []
        ids = [i for k in range(1, len(remaining)) for i in self._by_text.get(remaining[:k], ())]
        blank = remaining.isspace()
        start = bisect.bisect_left(self._sorted, remaining)
        for text in self._sorted[start:]:
            if not text.startswith(remaining):
                break
            if not blank or (len(text) > len(remaining) and not text[len(remaining)].isspace()):
                ids += self._by_text[text]
        return ids


def consume(remaining: str, token_text: str) -> str:
    """What is still to be produced after a token: nothing once the token covers it."""
    return remaining[len(token_text):] if remaining.startswith(token_text) else ""


def heal_split(line_prefix: str, encode: Callable[[str], list[int]], decode: Callable[[list[int]], str]) -> str:
    """The text of the cursor line's last token, which the prompt gives up and the answer must start with
    (for a line holding only indentation, its last character: the statement's first token carries it).
    The line is tokenized alone: the byte-level BPE pre-tokenizers of code models never merge across a
    newline."""
    if line_prefix.isspace():
        return line_prefix[-1]
    ids = encode(line_prefix)
    if not ids:
        return ""
    last = decode(ids[-1:])
    # A token that starts inside a multi-byte character does not decode to a suffix of the line.
    return last if last and line_prefix.endswith(last) and "\ufffd" not in last else ""
