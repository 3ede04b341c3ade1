"""Chat prompts of the code actions, within a token budget. Pure: text in, messages out; the tokenizer
comes in as `count`. The budget is spent in this order: the instructions and the code the action is
about (whole, or the action is refused as too long — Explain alone may cut it), retrieved definitions
from other files (at most `context_share` of the budget, shared by water-filling as completions do),
then the file around the code (its imports kept, see completion/prompt.py), then what follows it.

Each prompt may start the model's answer (`answer_prefix`): the opening of a code block, a docstring's
quotes after the signature, a test file's imports. The answer then has the form we parse, and what we
wrote ourselves (imports that resolve, the signature) cannot be got wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from growpilot.completion.prompt import fit_prefix, head_lines, lines_cost, snippet_rooms
from growpilot.models.fim import Snippet

CountTokens = Callable[[str], int]
SYSTEM = ("You are Growpilot, a coding assistant inside the user's editor. You answer with exactly what is "
          "asked, in the requested format, without commentary before or after it.")
MIN_PROMPT_TOKENS = 2048  # actions read whole functions: at least this much, or `promptTokens` if larger
# What the context (snippets, then the file around the code) may take, whatever the task's size: the same
# context for every action on one piece of code, so the KV cache serves it to the second and third (on
# CPU, prefill is most of an action's time: ~1,800-token prompts took 15-40 s on 2 busy cores).
CONTEXT_TOKENS = 768
_SLACK = 48  # chat markup per message, rounding of per-line counts

STYLE_GUIDE = {
    "google": ('{summary}\n\nArgs:\n{args}\n\nReturns:\n    {returns}', "    {name}: {what}"),
    "numpy": ('{summary}\n\nParameters\n----------\n{args}\n\nReturns\n-------\n{returns}', "{name}\n    {what}"),
    "rest": ('{summary}\n\n{args}\n:returns: {returns}', ":param {name}: {what}"),
    "plain": ("{summary}\n\n{args_sentence}", ""),
}


class TooLong(ValueError):
    """The code an action must rewrite does not fit the prompt."""


@dataclass(frozen=True)
class ChatPrompt:
    messages: list[dict]
    answer_prefix: str  # the start of the assistant's reply, written for the model
    max_new_tokens: int
    stop: tuple[str, ...]  # where the reply ends (besides the turn's end)
    stop_at_line_start: bool = False  # the stop markers count only at a line's start (code fences)
    snippets: tuple[Snippet, ...] = ()
    notes: dict = field(default_factory=dict)  # what was cut, for the record


@dataclass(frozen=True)
class Context:
    """What surrounds the code: the file's text before and after it, and retrieved snippets (best first)."""
    path: str  # workspace-relative
    language: str
    before: str = ""
    after: str = ""
    snippets: Sequence[Snippet] = ()


def fence(language: str) -> str:
    return {"python": "python", "typescript": "typescript", "tsx": "tsx", "javascript": "javascript",
            "rust": "rust", "go": "go", "java": "java", "c": "c", "cpp": "cpp", "c_sharp": "csharp"}.get(language, "")


def _block(code: str, language: str) -> str:
    return f"```{fence(language)}\n{code}\n```"


def _context_text(ctx: Context, count: CountTokens, room: int, share_cap: int, include_file: bool) -> tuple[str, tuple, dict]:
    """The context part of the user message within `room` tokens: snippets (≤ share_cap), then the file
    before the code, then after it."""
    parts: list[str] = []
    kept: list[Snippet] = []
    used = 0
    cap = min(share_cap, room)
    costs = [count(s.path) + 8 + lines_cost(s.text, count, cap) for s in ctx.snippets]
    for s, r in zip(ctx.snippets, snippet_rooms(costs, cap)):
        text, cost = head_lines(s.text, r - count(s.path) - 8, count)
        if text.strip():
            kept.append(Snippet(s.path, text))
            used += cost + count(s.path) + 8
    if kept:
        parts.append("Definitions from other files of the repository, for reference:\n" + "\n".join(
            f"`{s.path}`:\n{_block(s.text, ctx.language)}" for s in reversed(kept)))  # the best one nearest the task
    left = room - used
    notes = {"snippets": [s.path for s in kept]}
    if include_file and left > 64:
        before, b_cost = fit_prefix(ctx.before.rstrip("\n"), int(left * 0.7), count) if ctx.before.strip() else ("", 0)
        after, _ = head_lines(ctx.after.lstrip("\n"), (left - b_cost) // 3, count) if ctx.after.strip() else ("", 0)
        if before.strip():
            parts.append(f"The file `{ctx.path}` before the code:\n{_block(before, ctx.language)}")
        if after.strip():
            parts.append(f"The file after the code:\n{_block(after, ctx.language)}")
        notes.update(before_lines=before.count("\n") + 1 if before.strip() else 0,
                     after_lines=after.count("\n") + 1 if after.strip() else 0)
    return "\n\n".join(parts), tuple(kept), notes


def _assemble(count: CountTokens, total: int, context_share: float, ctx: Context, task: str, answer_prefix: str,
              max_new: int, stop: tuple[str, ...], at_line_start: bool, include_file: bool = True) -> ChatPrompt:
    fixed = count(SYSTEM) + count(task) + count(answer_prefix) + _SLACK
    if fixed > total:
        raise TooLong(f"the code takes {fixed} tokens, more than the prompt's {total}")
    room = min(total - fixed, max(CONTEXT_TOKENS, total - MIN_PROMPT_TOKENS))  # a larger promptTokens: more
    context, kept, notes = _context_text(ctx, count, room, int(room * min(0.6, 2 * context_share)), include_file)
    user = f"{context}\n\n{task}" if context else task
    return ChatPrompt([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}], answer_prefix,
                      max_new, stop, at_line_start, kept, notes)


def code_tokens(code: str, count: CountTokens) -> int:
    return sum(count(line + "\n") for line in code.split("\n"))


# ----- the actions
def explain(code: str, ctx: Context, count: CountTokens, total: int, context_share: float) -> ChatPrompt:
    intro = (f"Explain what this code from `{ctx.path}` does, for a developer about to change it: its purpose, "
             "its inputs and outputs, how it works, and anything surprising. Use short Markdown (a sentence "
             "of summary, then a few bullet points); do not repeat the code.\n\n")
    room = total - count(SYSTEM) - count(intro) - _SLACK - 16
    shown, cost = head_lines(code, room, count)
    notes = {}
    if cost < code_tokens(code, count):
        notes["code_cut_to_lines"] = shown.count("\n") + 1
    p = _assemble(count, total, context_share, ctx, intro + _block(shown, ctx.language), "", 480, (), False,
                  include_file=False)
    return ChatPrompt(p.messages, p.answer_prefix, p.max_new_tokens, p.stop, p.stop_at_line_start, p.snippets,
                      {**p.notes, **notes})


def docstring(code: str, header: str, kind: str, name: str, params: Sequence[str], returns: bool, yields: bool,
              raises: Sequence[str], style: str, ctx: Context, count: CountTokens, total: int,
              context_share: float, rules: str = "") -> ChatPrompt:
    """The model writes the docstring right after the signature (`header`, dedented), which the answer
    opens with; the reply ends at the closing quotes. The style is shown as a layout to fill, not as one
    of the project's docstrings: a small model copied an example's summary line instead of writing one
    (smolagents: "Escapes a string for safe use in an XPath expression." over an unrelated function)."""
    guide = _style_skeleton(style, kind, params, returns or yields, yields, raises)
    listed = ", ".join(f"`{p}`" for p in params)
    what = (f"every parameter ({listed})" if params else "what it does")
    task = (f"Here is a {kind} from `{ctx.path}`:\n{_block(code, ctx.language)}\n\n"
            f"Write its docstring in the {_STYLE_NAMES[style]} style. "
            f"Use this layout, replacing the angle brackets, and describe {what}:\n```\n{guide}\n```\n"
            "Say what it does and why, not how, in plain words. Answer with its first line and the docstring only."
            + _rules(rules))
    prefix = f"```python\n{header}\n    \"\"\""
    return _assemble(count, total, context_share, ctx, task, prefix, 360, ('"""',), False)


_STYLE_NAMES = {"google": "Google", "numpy": "NumPy", "rest": "reStructuredText (Sphinx)", "plain": "plain prose"}


def _style_skeleton(style: str, kind: str, params: Sequence[str], returns: bool, yields: bool,
                    raises: Sequence[str]) -> str:
    summary = "<one line: what it does>"
    names = [p.lstrip("*") if style != "plain" else p for p in params]
    if style == "plain":
        sentence = ("<a sentence or two that names " + ", ".join(params) + " and says what each is"
                    + (", and what it returns>" if returns else ">")) if params else "<more detail if useful>"
        return STYLE_GUIDE["plain"][0].format(summary=summary, args_sentence=sentence)
    template, arg = STYLE_GUIDE[style]
    args = "\n".join(arg.format(name=n, what=f"<what {n} is>") for n in names)
    label = "Yields" if yields else "Returns"
    text = template.format(summary=summary, args=args, returns="<what it returns>")
    if style == "google":
        text = text.replace("Returns:", f"{label}:")
        if not args:
            text = text.replace("\n\nArgs:\n", "")
        if not returns:
            text = text.split(f"\n\n{label}:")[0]
        if raises:
            text += "\n\nRaises:\n" + "\n".join(f"    {r}: <when>" for r in raises)
    elif style == "numpy":
        text = text.replace("Returns\n-------", f"{label}\n{'-' * len(label)}")
        if not args:
            text = text.replace("\n\nParameters\n----------\n", "")
        if not returns:
            text = text.split(f"\n\n{label}\n")[0]
        if raises:
            text += "\n\nRaises\n------\n" + "\n".join(f"{r}\n    <when>" for r in raises)
    else:
        if not returns:
            text = text.replace("\n:returns: <what it returns>", "")
        if raises:
            text += "\n" + "\n".join(f":raises {r}: <when>" for r in raises)
        if not args:
            text = text.replace("\n\n\n", "\n\n")
    if kind == "class":
        text = text.split("\n\nReturns")[0].split(f"\n\n{label}")[0]
    return text


def tests(code: str, kind: str, name: str, module: str, framework: str, header: str, example: str | None,
          ctx: Context, count: CountTokens, total: int, context_share: float, rules: str = "") -> ChatPrompt:
    """`header`: the imports (and the start of the first test) that open the answer."""
    how = ("pytest test functions with plain `assert`s (and `pytest.raises` for errors)" if framework == "pytest"
           else "a `unittest.TestCase` class with `self.assert…` methods")
    example_text = (f"The project's tests look like this:\n{_block(example.strip(), 'python')}\n\n" if example else "")
    task = (f"Here is the {kind} `{name}` from `{ctx.path}` (module `{module}`):\n{_block(code, ctx.language)}\n\n"
            f"{example_text}Write {how} for it: a few short, focused tests of its behaviour, including an edge "
            "case, that need no network and write files only under a temporary directory. Use only what the "
            f"code shows and the standard library. It is imported as `from {module} import {name.split('.')[0]}`. "
            "Answer with the test code only." + _rules(rules))
    return _assemble(count, total, context_share, ctx, task, f"```python\n{header}", 640, ("```",), True,
                     include_file=True)


def rewrite(code: str, instruction: str | None, ctx: Context, count: CountTokens, total: int,
            context_share: float, rules: str = "") -> ChatPrompt:
    """Refactor a selection (`code`, dedented); the answer is its replacement, in one code block. The rest of
    the file is not shown: shown it, the default 0.5B model wrote it back (its imports, other functions) in
    place of the selection in 32 of 50 smolagents functions (docs/experiments.md, 2026-12-07)."""
    ask = f" as follows: {instruction.strip()}" if instruction and instruction.strip() else \
        " to make it clearer and simpler (names, structure, duplication)"
    task = (f"Refactor this code from `{ctx.path}`{ask}.\n{_block(code, ctx.language)}\n\n"
            "Keep its behaviour, and keep every name the rest of the file uses. Answer with the complete "
            "replacement code, and nothing else, in one code block." + _rules(rules))
    return _assemble(count, total, context_share, ctx, task, f"```{fence(ctx.language)}\n",
                     _rewrite_tokens(code, count), ("```",), True, include_file=False)


def fix(code: str, first_line: int, problem: str, problem_line: int, problem_text: str, ctx: Context,
        count: CountTokens, total: int, context_share: float, rules: str = "") -> ChatPrompt:
    """Fix one diagnostic: `code` holds lines first_line+1… of the file (1-based in the text)."""
    task = (f"This code from `{ctx.path}` (lines {first_line + 1}-{first_line + code.count(chr(10)) + 1}) has a "
            f"problem at line {problem_line + 1}: {problem}\nThat line is: `{problem_text.strip()}`\n"
            f"{_block(code, ctx.language)}\n\n"
            "Fix the problem with the smallest change that solves it. Answer with the complete corrected code of "
            "these lines, and nothing else, in one code block." + _rules(rules))
    return _assemble(count, total, context_share, ctx, task, f"```{fence(ctx.language)}\n",
                     _rewrite_tokens(code, count), ("```",), True)


def _rules(rules: str) -> str:
    """The project's conventions (learning/preferences.py conventions_block), after the task."""
    return f"\n{rules.strip()}" if rules and rules.strip() else ""


def _rewrite_tokens(code: str, count: CountTokens) -> int:
    return min(2048, 2 * code_tokens(code, count) + 160)


def repair(prompt: ChatPrompt, answer: str, error: str) -> ChatPrompt:
    """The same conversation, the failed answer in it, and a request to correct it."""
    messages = [*prompt.messages, {"role": "assistant", "content": prompt.answer_prefix + answer},
                {"role": "user", "content": f"That does not parse as Python: {error}. Answer again, corrected, in "
                                            "the same form, and nothing else."}]
    return ChatPrompt(messages, prompt.answer_prefix, prompt.max_new_tokens, prompt.stop, prompt.stop_at_line_start,
                      prompt.snippets, {**prompt.notes, "repair_of": error})
