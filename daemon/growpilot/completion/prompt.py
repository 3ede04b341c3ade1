"""Prompt building: fit the prefix, suffix and retrieved snippets into a token budget. Pure: the
tokenizer comes in as a `count_tokens` function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from growpilot.models.fim import FimTemplate, Snippet

CountTokens = Callable[[str], int]
_RESERVED = 24  # template markers, repo line, file path
_MIN_SNIPPET_TOKENS = 32


@dataclass(frozen=True)
class Budget:
    total: int
    context_share: float
    suffix_share: float


@dataclass(frozen=True)
class BuiltPrompt:
    text: str
    prefix: str  # the part of the prefix that made it in
    suffix: str
    snippets: tuple[Snippet, ...]
    tokens: int  # estimated from the parts


def build_prompt(template: FimTemplate, count: CountTokens, prefix: str, suffix: str, snippets: Sequence[Snippet],
                 path: str, repo: str, budget: Budget, comment: str = "#", repo_format: bool = False) -> BuiltPrompt:
    """Snippets (best first) take up to their share; the suffix its share of the rest; the prefix the
    remainder, so whatever a part leaves unused goes to the text nearest the cursor."""
    available = max(budget.total - _RESERVED, 64)
    context_cap = int(available * budget.context_share) if snippets else 0
    kept: list[Snippet] = []
    used = 0
    share = max(context_cap // max(len(snippets), 1), _MIN_SNIPPET_TOKENS)  # each shows its head: signature, doc
    for s in snippets:
        room = min(context_cap - used, share)
        if room < _MIN_SNIPPET_TOKENS:
            break
        text, cost = head_lines(s.text, room - count(s.path) - 2, count)
        if text.strip():
            kept.append(Snippet(s.path, text))
            used += cost + count(s.path) + 2
    rest = available - used
    suffix_text, suffix_cost = (head_lines(suffix, int(rest * budget.suffix_share), count)
                                if template.has_fim else ("", 0))
    prefix_text, prefix_cost = tail_lines(prefix, rest - suffix_cost, count)
    text = template.render(prefix_text, suffix_text, kept, path, repo, comment, repo_format)
    return BuiltPrompt(text, prefix_text, suffix_text, tuple(kept), used + suffix_cost + prefix_cost + _RESERVED)


def head_lines(text: str, limit: int, count: CountTokens) -> tuple[str, int]:
    """The longest run of whole leading lines within `limit` tokens (and its cost)."""
    out, cost = [], 0
    for line in text.split("\n"):
        c = count(line + "\n")
        if cost + c > limit:
            break
        out.append(line)
        cost += c
    return "\n".join(out), cost


def tail_lines(text: str, limit: int, count: CountTokens) -> tuple[str, int]:
    """The longest run of whole trailing lines within `limit` tokens; the cursor's line always stays
    (cut from its left if it alone is too long)."""
    lines = text.split("\n")
    last = lines[-1]
    cost = count(last)
    while cost > limit and last:
        last = last[len(last) // 4 + 1:]
        cost = count(last)
    out = [last]
    for line in reversed(lines[:-1]):
        c = count(line + "\n")
        if cost + c > limit:
            break
        out.append(line)
        cost += c
    return "\n".join(reversed(out)), cost
