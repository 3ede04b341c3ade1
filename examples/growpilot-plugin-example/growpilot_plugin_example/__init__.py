"""Two example Growpilot plugins (see docs/plugins.md for the API).

- `StyleNote`, a context provider: the "Style" section of the workspace's CONTRIBUTING.md (its first
  lines when it has no such section) in every prompt, so suggestions follow the project's rules.
- `BannedWords`, a post-processor: a suggestion that uses a word listed in the workspace's
  `.growpilot-banned-words` file (one per line, `#` starts a comment) is vetoed.

Both read their file at most once per change (keyed by its modification time): plugins run on every
completion and must stay fast. They never print (stdout is the daemon's LSP stream): they log.
"""

from __future__ import annotations

import logging
import os
import re

from growpilot.plugins import Request, Snippet

log = logging.getLogger("growpilot.plugins.example")
CONTRIBUTING = "CONTRIBUTING.md"
BANNED_FILE = ".growpilot-banned-words"
NOTE_LINES = 30  # of a CONTRIBUTING.md without a style section, the first lines
_HEADING = re.compile(r"(#+)\s*(.*)")


class _FileCache:
    """The parsed content of one file per workspace, re-read when its mtime changes."""

    def __init__(self, name: str, parse):
        self.name, self.parse = name, parse
        self._seen: dict[str, tuple[int, object]] = {}

    def get(self, workspace: str | None):
        if workspace is None:
            return None
        path = os.path.join(workspace, self.name)
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return None
        cached = self._seen.get(path)
        if cached is None or cached[0] != mtime:
            with open(path, encoding="utf-8", errors="replace") as f:
                cached = (mtime, self.parse(f.read()))
            self._seen[path] = cached
        return cached[1]


def style_section(markdown: str) -> str:
    """The section under the first heading that mentions style (up to the next heading of its level or
    higher), else the file's first NOTE_LINES lines."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        if m and "style" in m.group(2).lower():
            level = len(m.group(1))
            end = next((j for j in range(i + 1, len(lines))
                        if (h := _HEADING.match(lines[j])) and len(h.group(1)) <= level), len(lines))
            return "\n".join(lines[i:end]).strip()
    return "\n".join(lines[:NOTE_LINES]).strip()


def banned_words(text: str) -> list[str]:
    words = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [w for w in words if w]


class StyleNote:
    name = "style-note"

    def __init__(self):
        self._notes = _FileCache(CONTRIBUTING, style_section)

    def context(self, request: Request) -> list[Snippet]:
        note = self._notes.get(request.workspace)
        return [Snippet(CONTRIBUTING, note)] if note else []


class BannedWords:
    name = "banned-words"

    def __init__(self):
        self._words = _FileCache(BANNED_FILE, _pattern)

    def postprocess(self, request: Request, text: str) -> str | None:
        pattern = self._words.get(request.workspace)
        if pattern is not None and (m := pattern.search(text)):
            log.info("banned-words: vetoed a suggestion for %s (it says %r)", request.path, m.group(0))
            return None
        return text


def _pattern(text: str) -> re.Pattern | None:
    """A word matches as a whole word or as a part of an identifier (`frobnicate` in `frobnicate_cache`),
    whatever its case; never inside a longer word (`print` is not in `fingerprint`)."""
    words = banned_words(text)
    if not words:
        return None
    return re.compile(r"(?<![A-Za-z0-9])(?:%s)(?![A-Za-z0-9])" % "|".join(map(re.escape, words)), re.IGNORECASE)
