"""Prompt building: fit the prefix, suffix and retrieved snippets into a token budget. Pure: the
tokenizer comes in as a `count_tokens` function."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from growpilot.completion.names import Statement, import_statements
from growpilot.models.fim import FimTemplate, Snippet

CountTokens = Callable[[str], int]


class Example(Protocol):
    """A few-shot example (learning.memory.Example): a past generation's id, and its text as a snippet
    showing at most `lines` lines of its context before the suggestion."""
    id: str

    def snippet(self, lines: int) -> Snippet: ...


class Typed(Protocol):
    """The user's own typed lines (learning.memory.TypedLines): the generations they replaced, one per
    line, oldest first, and the newest `n` of them as a snippet."""
    ids: tuple[str, ...]

    def snippet(self, newest: int) -> Snippet: ...

_RESERVED = 24  # template markers, repo line, file path
_MIN_SNIPPET_TOKENS = 32
# Of the prefix's room, at most, for the file's imports when the prefix is cut. On 67 openai-agents
# lines that first call an imported name, the NLL went down from 0.2 by 15% without snippets, 10% with;
# 0.8 gained a little more on those lines, but would crowd out the code near the cursor elsewhere.
IMPORTS_SHARE = 0.5
IMPORT_SCAN_LINES = 80


@dataclass(frozen=True)
class Budget:
    total: int
    context_share: float
    suffix_share: float
    plugin_share: float = 0.0  # of the total, at most, for plugins' snippets (`extra`), on top of context_share
    memory_share: float = 0.0  # of the total, at most, for the few-shot examples (`examples`), on top of both
    typed_share: float = 0.0  # … and for the user's typed lines (`typed`)


@dataclass(frozen=True)
class BuiltPrompt:
    text: str
    prefix: str  # the part of the prefix that made it in
    suffix: str
    snippets: tuple[Snippet, ...]
    tokens: int  # estimated from the parts
    examples: tuple[str, ...] = ()  # generation ids of the few-shot examples (memory) in the prompt
    context: tuple[Snippet, ...] = ()  # everything laid out before the file (snippets, then examples), best first

    def provenance(self) -> dict:
        """What went into the prompt besides the file itself, as GenerationRecord.provenance stores it:
        {"snippets": [{path, start_line, end_line}] (source lines shown, 1-based), "examples": [ids]}."""
        return {"snippets": [span for s in self.snippets for span in s.spans()], "examples": list(self.examples)}


def build_prompt(template: FimTemplate, count: CountTokens, prefix: str, suffix: str, snippets: Sequence[Snippet],
                 path: str, repo: str, budget: Budget, comment: str = "#", repo_format: bool = False,
                 extra: Sequence[Snippet] = (), examples: Sequence[Example] = (), typed: Typed | None = None) -> BuiltPrompt:
    """Snippets (best first) share their part of the budget; the suffix its share of the budget (at most
    half of what the snippets leave); the prefix the remainder, so whatever a part leaves unused goes to
    the text nearest the cursor. Snippets take their room from the far prefix, not from the suffix: the
    lines right after the cursor (often the next uses of what it is about to call) are worth more.
    `extra` (plugins' snippets, growpilot.plugins) share `plugin_share` the same way, laid out farther
    from the cursor; memory's `examples` (best first) `memory_share`, each whole, and its `typed` lines
    `typed_share`, the newest that fit, nearest the file: of the memory's layouts tried on openai-agents,
    this one won as many preference sites as any and cost retrieval-lift nothing (learning/memory.py)."""
    available = max(budget.total - _RESERVED, 64)
    kept, used = fit_snippets(snippets, int(available * budget.context_share), count)
    if extra:
        more, more_used = fit_snippets(extra, int(available * budget.plugin_share), count)
        kept, used = kept + more, used + more_used
    lines, typed_used = fit_typed(typed, int(available * budget.typed_share), count) if typed else (0, 0)
    typed_part, typed_ids = ([typed.snippet(lines)], typed.ids[-lines:]) if lines else ([], ())
    shown, shown_used = fit_examples(examples, int(available * budget.memory_share), count)
    used += shown_used + typed_used
    rest = available - used
    suffix_text, suffix_cost = (head_lines(suffix, min(int(available * budget.suffix_share), rest // 2), count)
                                if template.has_fim else ("", 0))
    prefix_text, prefix_cost = fit_prefix(prefix, rest - suffix_cost, count)
    context = tuple(typed_part + [s for _, s in shown] + kept)
    text = template.render(prefix_text, suffix_text, context, path, repo, comment, repo_format)
    return BuiltPrompt(text, prefix_text, suffix_text, tuple(kept), used + suffix_cost + prefix_cost + _RESERVED,
                       tuple(typed_ids) + tuple(gid for gid, _ in shown), context)


def retype_prompt(template: FimTemplate, count: CountTokens, previous: BuiltPrompt, previous_line: str, line: str,
                  suffix: str, suffix_tokens: int, path: str, repo: str, comment: str = "#",
                  repo_format: bool = False) -> BuiltPrompt | None:
    """The prompt for the next keystroke on the line `previous` was built for, laid out for the KV cache:
    its context and the prefix's lines above the cursor line as they were (the cache holds them), the
    cursor line as typed now (`line`; it was `previous_line`), and at most `suffix_tokens` of the suffix —
    in prefix-suffix-middle order the suffix comes after the cursor, so every keystroke pays for all of
    it again. None when `previous` did not end at its cursor line (a line too long cut from its left)."""
    if not previous.prefix.endswith(previous_line):
        return None
    prefix_text = previous.prefix[:len(previous.prefix) - len(previous_line)] + line
    suffix_text, suffix_cost = head_lines(suffix, suffix_tokens, count) if template.has_fim else ("", 0)
    text = template.render(prefix_text, suffix_text, previous.context, path, repo, comment, repo_format)
    tokens = (previous.tokens - count(previous.suffix) + suffix_cost - count(previous_line) + count(line))
    return dataclasses.replace(previous, text=text, prefix=prefix_text, suffix=suffix_text, tokens=tokens)


def stable_text(template: FimTemplate, prompt: BuiltPrompt, line: str) -> str | None:
    """The text of `prompt` before its cursor line (`line`, as the prompt has it): what the keystrokes on
    that line keep of it (retype_prompt), so what a warm-up prefills. None when its prefix does not end
    with that line."""
    if not prompt.prefix.endswith(line):
        return None
    end = (prompt.text.rfind(prompt.prefix + template.suffix) if template.has_fim
           else len(prompt.text) - len(prompt.prefix))
    return None if end < 0 else prompt.text[:end + len(prompt.prefix) - len(line)]


def fit_examples(examples: Sequence[Example], cap: int, count: CountTokens,
                 max_lines: int = 4) -> tuple[list[tuple[str, Snippet]], int]:
    """(id, snippet) of the examples (best first) that fit `cap` tokens together, and what they cost: each
    whole, with as many of its context lines (up to `max_lines`) as its room allows; one that does not fit
    with a single context line is left out."""
    kept: list[tuple[str, Snippet]] = []
    used = 0
    for ex in examples:
        for lines in range(max_lines, 0, -1):
            s = ex.snippet(lines)
            cost = count(s.path) + 2 + sum(count(line + "\n") for line in s.text.split("\n"))
            if used + cost <= cap:
                kept.append((ex.id, s))
                used += cost
                break
    return kept, used


def fit_typed(typed: Typed, cap: int, count: CountTokens) -> tuple[int, int]:
    """How many of the typed lines (the newest) fit `cap` tokens as one snippet, and what they cost."""
    lines = len(typed.ids)
    while lines:
        s = typed.snippet(lines)
        cost = count(s.path) + 2 + sum(count(line + "\n") for line in s.text.split("\n"))
        if cost <= cap:
            return lines, cost
        lines -= 1
    return 0, 0


def fit_snippets(snippets: Sequence[Snippet], cap: int, count: CountTokens) -> tuple[list[Snippet], int]:
    """The snippets (best first) cut at line boundaries to share `cap` tokens, and what they cost, each
    with its path line; those left empty are dropped."""
    kept: list[Snippet] = []
    used = 0
    if not snippets or cap <= 0:
        return kept, used
    costs = [count(s.path) + 2 + lines_cost(s.text, count, cap) for s in snippets]
    for s, room in zip(snippets, snippet_rooms(costs, cap)):
        text, cost = head_lines(s.text, room - count(s.path) - 2, count)
        if text.strip():
            kept.append(s.cut(text))
            used += cost + count(s.path) + 2
    return kept, used


def snippet_rooms(costs: Sequence[int], cap: int) -> list[int]:
    """Tokens for each snippet (best first) within `cap`: as many of the best as can have
    _MIN_SNIPPET_TOKENS each, and a short one's unused share goes to the longer ones (water-filling)."""
    k = min(len(costs), cap // _MIN_SNIPPET_TOKENS)
    rooms = [0] * len(costs)
    left = cap
    for placed, i in enumerate(sorted(range(k), key=lambda i: costs[i])):
        rooms[i] = min(costs[i], left // (k - placed))
        left -= rooms[i]
    return rooms


def fit_prefix(prefix: str, limit: int, count: CountTokens) -> tuple[str, int]:
    """The lines nearest the cursor within `limit` tokens; when that cuts the file's imports off, they
    stay on top (up to IMPORTS_SHARE of the room): they name what the code below is about to use."""
    text, cost = tail_lines(prefix, limit, count)
    statements = head_imports(prefix)
    if not statements or prefix.count("\n") - text.count("\n") <= statements[0].first:
        return text, cost  # no imports, or all of them in view
    lines = prefix.split("\n")
    head, head_cost = first_statements(lines, statements, int(limit * IMPORTS_SHARE), count)
    if not head.strip():
        return text, cost
    text, cost = tail_lines("\n".join(lines[statements[-1].last + 1:]), limit - head_cost, count)
    return f"{head}\n{text}", head_cost + cost


def first_statements(lines: list[str], statements: list[Statement], limit: int, count: CountTokens) -> tuple[str, int]:
    """The file's first import statements, whole (never half a parenthesized import), with the lines
    between them (comments, blank lines), within `limit` tokens."""
    kept, cost, start = [], 0, statements[0].first
    for st in statements:
        part = lines[start:st.last + 1]
        c = sum(count(line + "\n") for line in part)
        if cost + c > limit:
            break
        kept += part
        cost += c
        start = st.last + 1
    return "\n".join(kept), cost


def head_imports(prefix: str) -> list[Statement]:
    """The import statements among the file's first lines (whole lines only: never the cursor's)."""
    return import_statements(prefix.split("\n", IMPORT_SCAN_LINES)[:-1])


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


def lines_cost(text: str, count: CountTokens, cap: int) -> int:
    """Tokens of `text` counted line by line as head_lines counts them, up to the first line past `cap`
    (no snippet gets more: the rest need not be tokenized)."""
    cost = 0
    for line in text.split("\n"):
        cost += count(line + "\n")
        if cost > cap:
            break
    return cost


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
