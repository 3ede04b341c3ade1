"""The workspace side of training data: which files (the index's own rules), the remembered held-out
split, and small atomic file helpers the cycle, the trainer and the registry share."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from growpilot.config import Settings
from growpilot.indexing.filters import WorkspaceFilter
from growpilot.indexing.languages import language_of
from growpilot.paths import growpilot_home, workspace_state_dir
from growpilot.training.data import SourceFile, Split, content_hash, split_heldout


def training_dir(root: str | os.PathLike[str]) -> Path:
    path = workspace_state_dir(root) / "training"
    path.mkdir(parents=True, exist_ok=True)
    return path


def collect_files(root: str | os.PathLike[str], settings: Settings) -> list[SourceFile]:
    """The files the index would index (ignore rules, vendored folders, lockfiles, secret files, size,
    binary, minified and secret-content gates), read now, sorted by path."""
    real = Path(os.path.realpath(root))
    flt = WorkspaceFilter(real, settings, skip_dirs=(str(workspace_state_dir(real)), str(growpilot_home())))
    out = []
    for entry in flt.walk():
        try:
            with open(entry.path, "rb") as fh:
                data = fh.read(settings.max_file_bytes + 1)
        except OSError:
            continue
        if len(data) > settings.max_file_bytes or flt.content_problem(data, entry.rel):
            continue
        out.append(SourceFile(entry.rel, data.decode("utf-8", errors="replace"), content_hash(data), entry.mtime_ns,
                              language_of(entry.rel) or "text"))
    return out


def split_for(root: str | os.PathLike[str], files: list[SourceFile], persist: bool = True) -> Split:
    """The workspace's held-out split: the remembered one (minus files changed since), or a new one;
    saved back with its content hashes when `persist`."""
    path = training_dir(root) / "heldout.json"
    previous = read_json(path)
    split = split_heldout(files, previous)
    if persist and split.record() != {k: previous.get(k, {}) for k in ("heldout", "retired")}:
        write_json(path, split.record())
    return split


# ----- atomic files
def write_json(path: Path, obj, indent: int | None = 1) -> None:
    """Write to a temp file in the same folder, fsync, rename: readers see the old or the new file."""
    write_atomic(path, (json.dumps(obj, indent=indent) + "\n").encode())


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_json(path: Path, default=None):
    """The parsed file, or `default` ({}) when it is missing or not valid JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {} if default is None else default


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    n = 0
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return n


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def file_rows(files: Iterable[SourceFile]) -> Iterator[dict]:
    for f in files:
        yield {"rel": f.rel, "text": f.text, "hash": f.hash, "mtime_ns": f.mtime_ns, "language": f.language}


def files_from(rows: Iterable[dict]) -> list[SourceFile]:
    return [SourceFile(r["rel"], r["text"], r["hash"], r["mtime_ns"], r["language"]) for r in rows]
