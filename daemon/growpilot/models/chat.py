"""Chat prompts for instruction-tuned models: the model's own chat template (Jinja, as its tokenizer
ships it: `chat_template.jinja` or `tokenizer_config.json` in the HF folder, or the GGUF's
`tokenizer.chat_template`), rendered the way transformers renders it, with ChatML as the fallback for a
model without one. Code actions use it (actions/); completions use fill-in-the-middle (fim.py).

A reply can be started for the model (`answer_prefix`: the opening of a code block, a function's
header): the prompt then ends inside the assistant's turn and the model continues from there."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger(__name__)
# Ends of a chat turn (or of the text) across families; a model without them as special tokens
# (the tiny test model) spells them out, so generation also stops on their text.
CHAT_END_MARKERS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "</s>", "<｜end▁of▁sentence｜>", "<|EOT|>")
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def template_of(backend) -> str | None:
    """The chat template a loaded backend's model ships, or None."""
    tokenizer = getattr(backend, "tokenizer", None)
    if isinstance(getattr(tokenizer, "chat_template", None), str):
        return tokenizer.chat_template
    folder = getattr(backend, "base_folder", None) or getattr(getattr(backend, "source", None), "folder", None)
    return template_in_folder(Path(folder)) if folder else None


def template_in_folder(folder: Path) -> str | None:
    """`chat_template.jinja`, else `tokenizer_config.json`'s `chat_template` (a string, or a list of
    named templates of which "default" serves)."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
    except (OSError, ValueError):
        return None
    if isinstance(value, list):
        value = next((t.get("template") for t in value if isinstance(t, dict) and t.get("name") == "default"), None)
    return value if isinstance(value, str) else None


@functools.lru_cache(maxsize=8)
def _compiled(template: str):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)

    def raise_exception(message):
        raise ValueError(message)

    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


def render_chat(messages: Sequence[dict], template: str | None = None, answer_prefix: str = "") -> str:
    """The prompt for `messages` ({"role", "content"} dicts) ending where the assistant's reply starts,
    with `answer_prefix` already written as the start of that reply."""
    try:
        text = _compiled(template or CHATML).render(messages=list(messages), add_generation_prompt=True,
                                                    bos_token="", eos_token="", tools=None)
    except Exception as exc:  # a template this renderer cannot run: the common format instead
        log.warning("the model's chat template failed (%s): using ChatML", exc)
        text = _compiled(CHATML).render(messages=list(messages), add_generation_prompt=True)
    return text + answer_prefix


def end_of_turn(text: str) -> int | None:
    """Where the reply ends if `text` spells a turn's end marker (else None)."""
    cuts = [i for m in CHAT_END_MARKERS if (i := text.find(m)) >= 0]
    return min(cuts) if cuts else None


def stop_at(*markers: str, at_line_start: bool = False) -> Callable[[str], int | None]:
    """A stop rule (see completion/context.py): the reply ends at the first of `markers` (a code fence,
    closing quotes) or at a turn's end, whichever comes first."""

    def rule(text: str) -> int | None:
        cuts = [c for c in (end_of_turn(text),) if c is not None]
        for m in markers:
            at = (0 if text.startswith(m) else text.find("\n" + m)) if at_line_start else text.find(m)
            if at >= 0:
                cuts.append(at)
        return min(cuts) if cuts else None

    return rule
