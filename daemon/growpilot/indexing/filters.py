"""Which files of a workspace get indexed.

Ignore rules follow git: `.gitignore` at every level (plus `.git/info/exclude`), then
`.growpilotignore` files with the same syntax; vendored directories are skipped by name, and so are
files that hold secrets (`.env`, keys; see secrets.py). Content gates skip binary files (NUL bytes), oversized
files, minified/generated ones (line-length gates) and files in which detect-secrets finds a secret.
Symlinks are followed by real path, each real file or directory visited once (no loops), and only
while their target stays inside the workspace (a link to `$HOME` must not index the home folder), unless
the `followExternalSymlinks` setting allows it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pathspec

from growpilot.config import Settings
from growpilot.indexing.languages import language_of
from growpilot.indexing.secrets import find_secrets, is_secret_path

log = logging.getLogger(__name__)
IGNORE_FILES = (".gitignore", ".growpilotignore")
LOCKFILES = {"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock", "uv.lock", "go.sum",
             "composer.lock", "Gemfile.lock", "Pipfile.lock"}


@dataclass(frozen=True)
class FileEntry:
    rel: str  # workspace-relative, '/'-separated
    path: str  # absolute path through the workspace (may pass through symlinks)
    size: int
    mtime_ns: int


class WorkspaceFilter:
    """Walks a workspace and answers whether a path is indexable. Ignore files are read lazily and cached."""

    def __init__(self, root: str | os.PathLike[str], settings: Settings, skip_dirs: tuple[str, ...] = ()):
        self.root = Path(os.path.realpath(root))
        self.settings = settings
        self._vendored = set(settings.exclude_dirs)
        # Folders never to enter, by real path (e.g. our own state dir when it lives in the workspace).
        self._skip_real = {os.path.realpath(d) for d in skip_dirs}
        self._specs: dict[str, pathspec.PathSpec | None] = {}
        self._told_secret: set[str] = set()  # files logged as holding a secret (once each, not per edit)

    # ----- ignore rules
    def invalidate(self) -> None:
        """Forget cached ignore rules (an ignore file changed)."""
        self._specs.clear()

    def _spec(self, rel_dir: str) -> pathspec.PathSpec | None:
        if rel_dir not in self._specs:
            folder = self.root / rel_dir
            patterns: list[str] = []
            names = IGNORE_FILES if rel_dir else (".git/info/exclude", *IGNORE_FILES)
            for name in names:
                try:
                    patterns += (folder / name).read_text(errors="replace").splitlines()
                except OSError:
                    pass
            self._specs[rel_dir] = pathspec.GitIgnoreSpec.from_lines(patterns) if patterns else None
        return self._specs[rel_dir]

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Git semantics: the deepest matching rule wins; rules of a folder apply below it."""
        parts = rel.split("/")
        if any(p in self._vendored for p in (parts if is_dir else parts[:-1])):
            return True
        verdict = False
        for depth in range(len(parts)):
            spec = self._spec("/".join(parts[:depth]))
            if spec is None:
                continue
            sub = "/".join(parts[depth:]) + ("/" if is_dir else "")
            result = spec.check_file(sub)
            if result.include is not None:
                verdict = result.include
        return verdict

    def _parents_ignored(self, rel: str) -> bool:
        parts = rel.split("/")
        return any(self.ignored("/".join(parts[:i]), True) for i in range(1, len(parts)))

    def accepts_name(self, rel: str) -> bool:
        """Whether a file could be indexed by its name, given that its parent folders are not ignored."""
        name = rel.rsplit("/", 1)[-1]
        return (language_of(rel) is not None and name not in LOCKFILES and not is_secret_path(name)
                and not name.endswith((".min.js", ".min.css", ".map")) and not self.ignored(rel, False))

    def accepts(self, rel: str) -> bool:
        """Whether a workspace-relative file path could be indexed (name rules only, no I/O on it)."""
        return not self._parents_ignored(rel) and self.accepts_name(rel)

    def inside(self, path: str) -> bool:
        """Whether a path's real location is allowed: inside the workspace, or anywhere when the settings
        follow external symlinks."""
        if self.settings.follow_external_symlinks:
            return True
        real = os.path.realpath(path)
        return real == str(self.root) or real.startswith(str(self.root) + os.sep)

    # ----- walking
    def walk(self, start_rel: str = "") -> list[FileEntry]:
        """All indexable files under `start_rel` (the whole workspace by default), sorted by path."""
        out: list[FileEntry] = []
        seen_dirs: set[str] = set()
        seen_files: set[str] = set()
        start = self.root / start_rel if start_rel else self.root
        if start_rel and (self._parents_ignored(start_rel) or self.ignored(start_rel, True)):
            return out
        self._walk_dir(str(start), start_rel, seen_dirs, seen_files, out)
        out.sort(key=lambda e: e.rel)
        return out

    def _walk_dir(self, path: str, rel: str, seen_dirs: set[str], seen_files: set[str], out: list[FileEntry]) -> None:
        real = os.path.realpath(path)
        if real in seen_dirs or real in self._skip_real:
            return
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            log.debug("cannot list %s: %s", path, exc)
            return
        for entry in entries:
            child_rel = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_symlink() and not self.inside(entry.path):
                    log.debug("not following %s: it leads out of the workspace", entry.path)
                    continue
                is_dir = entry.is_dir()  # follows symlinks
                if is_dir:
                    if not self.ignored(child_rel, True):
                        self._walk_dir(entry.path, child_rel, seen_dirs, seen_files, out)
                    continue
                if not entry.is_file() or not self.accepts_name(child_rel):
                    continue
                st = entry.stat()
                # Under a linked folder the entry's own path is not its real one: build it from the folder's.
                file_real = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
                if file_real in seen_files:
                    continue
                seen_files.add(file_real)
                if st.st_size <= self.settings.max_file_bytes:
                    out.append(FileEntry(child_rel, entry.path, st.st_size, st.st_mtime_ns))
            except OSError as exc:  # vanished or unreadable between listing and stat
                log.debug("skipping %s: %s", entry.path, exc)

    def entry(self, rel: str) -> FileEntry | None:
        """A FileEntry for one path if it exists, is a regular file and passes every name/size rule."""
        path = self.root / rel
        try:
            st = path.stat()
        except OSError:
            return None
        if (not path.is_file() or st.st_size > self.settings.max_file_bytes or not self.accepts(rel)
                or not self.inside(str(path))):
            return None
        return FileEntry(rel, str(path), st.st_size, st.st_mtime_ns)

    # ----- content gates
    def content_problem(self, data: bytes, rel: str = "") -> str | None:
        """Why this content should not be indexed (binary, minified/generated, holds a secret), or None.
        `rel` names the file in the log and picks detect-secrets' rules for its language."""
        if b"\0" in data[:8192]:
            return "binary"
        lines = data.count(b"\n") + 1
        if len(data) > 2000 and len(data) / lines > 200:
            return "generated or minified (long average line)"
        longest = max((len(line) for line in data.split(b"\n")), default=0)
        if longest > self.settings.max_line_chars:
            return "generated or minified (line longer than %d chars)" % self.settings.max_line_chars
        found = find_secrets(data.decode("utf-8", errors="replace"), rel)
        if found:
            if rel not in self._told_secret:  # the file and where, never the secret itself
                self._told_secret.add(rel)
                log.info("not indexing %s: it holds a secret (%s)", rel or "a file",
                         ", ".join(f"{kind} on line {n}" for n, kind in found[:3]))
            return "holds a secret"
        return None
