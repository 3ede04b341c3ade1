"""Fill-in-the-middle prompt formats per model family, detected from the tokenizer's special tokens.

Families with a repository-level format (Qwen2.5-Coder, StarCoder2) get retrieved snippets as files
of the repository before the current one; the others get them as comment lines above the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Snippet:
    path: str
    text: str


@dataclass(frozen=True)
class FimTemplate:
    family: str
    prefix: str = ""  # "" = no FIM: the prompt is the prefix alone
    suffix: str = ""
    middle: str = ""
    repo_name: str | None = None
    file_sep: str | None = None
    stops: tuple[str, ...] = ()

    @property
    def has_fim(self) -> bool:
        return bool(self.prefix)

    def render(self, prefix: str, suffix: str, snippets: Sequence[Snippet], path: str, repo: str,
               comment: str = "#") -> str:
        if self.repo_name and self.file_sep:
            sep = "\n" if self.family == "qwen" else ""
            head = f"{self.repo_name}{repo}{sep}"
            files = "".join(f"{self.file_sep}{s.path}\n{s.text}{sep}" for s in snippets)
            head += files + f"{self.file_sep}{path}\n"
        else:
            head = "".join(_as_comment(s, comment) for s in snippets)
        if not self.has_fim:
            return head + prefix
        return f"{head}{self.prefix}{prefix}{self.suffix}{suffix}{self.middle}" if self.repo_name else \
            f"{self.prefix}{head}{prefix}{self.suffix}{suffix}{self.middle}"


def _as_comment(snippet: Snippet, comment: str) -> str:
    body = "\n".join(f"{comment} {line}" if line else comment for line in snippet.text.splitlines())
    return f"{comment} From {snippet.path}:\n{body}\n"


TEMPLATES = {
    "qwen": FimTemplate("qwen", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|repo_name|>", "<|file_sep|>",
                        ("<|endoftext|>", "<|file_sep|>", "<|fim_pad|>", "<|im_end|>", "<|repo_name|>",
                         "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")),
    "starcoder": FimTemplate("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<repo_name>", "<file_sep>",
                             ("<|endoftext|>", "<file_sep>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>")),
    "deepseek": FimTemplate("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>",
                            stops=("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>")),
    "codellama": FimTemplate("codellama", "<PRE> ", " <SUF>", " <MID>", stops=("<EOT>", "</s>")),
    "plain": FimTemplate("plain"),
}
_MARKERS = (
    ("qwen", "<|fim_prefix|>"),
    ("starcoder", "<fim_prefix>"),
    ("deepseek", "<｜fim▁begin｜>"),
    ("codellama", "▁<PRE>"),
    ("codellama", "<PRE>"),
)


def detect_template(special_tokens: Iterable[str]) -> FimTemplate:
    """The template whose FIM marker the tokenizer knows; plain prefix completion otherwise."""
    tokens = set(special_tokens)
    for family, marker in _MARKERS:
        if marker in tokens:
            return TEMPLATES[family]
    return TEMPLATES["plain"]
