"""The adapter registry of one workspace: `<state dir>/adapters/`.

- `v1/`, `v2/`, …: the adapter's weights (peft folder) and `meta.json` (base model and its hash, the
  data manifest's hash and counts, training settings, metrics of base/active/candidate, times, the
  gate's decision and reason). A version folder is written under a temp name and renamed: once it
  exists it is complete, and nothing in it changes again.
- `active.json`: what serves now and the stack of promoted versions below it, plus each version's
  later status (rolled-back). It is replaced atomically (temp file, fsync, rename, fsync of the
  folder), so a crash at any moment leaves the old pointer or the new one, never a broken one.

The registry does not lock: callers change it from one place at a time (the training cycle holds
the workspace's training lock; the CLI and the server's commands are single calls).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from growpilot.paths import workspace_state_dir
from growpilot.training.corpus import read_json, write_json
from growpilot.training.errors import RegistryError

_VERSION = re.compile(r"^v(\d+)$")
POINTER = "active.json"


@dataclass(frozen=True)
class AdapterVersion:
    version: str
    path: Path  # the peft adapter folder (PeftModel.from_pretrained / load_adapter take it)
    meta: dict
    status: str  # promoted | rejected | rolled-back
    active: bool

    def as_dict(self) -> dict:
        nll = (self.meta.get("metrics") or {}).get("candidate", {}).get("nll")
        return {"version": self.version, "status": self.status, "active": self.active,
                "created": self.meta.get("created"), "nll": nll, "reason": self.meta.get("reason"),
                "base_model": (self.meta.get("base_model") or {}).get("name"), "path": str(self.path)}


class Registry:
    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_workspace(cls, root: str | os.PathLike[str]) -> "Registry":
        return cls(workspace_state_dir(root) / "adapters")

    # ----- reading
    def _pointer(self) -> dict:
        p = read_json(self.folder / POINTER)
        stack = [v for v in p.get("stack", []) if self._exists(v)]
        return {"active": stack[-1] if stack else None, "stack": stack, "statuses": p.get("statuses", {}),
                "history": p.get("history", [])}

    def _exists(self, version: str) -> bool:
        return (self.folder / version / "meta.json").exists()

    def versions(self) -> list[str]:
        found = [(int(m.group(1)), p.name) for p in self.folder.iterdir()
                 if (m := _VERSION.match(p.name)) and (p / "meta.json").exists()]
        return [name for _, name in sorted(found)]

    def get(self, version: str) -> AdapterVersion:
        if not _VERSION.match(version or "") or not self._exists(version):
            known = ", ".join(self.versions()) or "none yet"
            raise RegistryError(f"unknown adapter version {version!r} (known: {known})")
        pointer = self._pointer()
        meta = json.loads((self.folder / version / "meta.json").read_text())
        status = pointer["statuses"].get(version) or meta.get("status", "rejected")
        if status == "promoted" and version not in pointer["stack"]:
            status = "interrupted"  # decided so, but the pointer never changed (a crash in between)
        return AdapterVersion(version, self.folder / version, meta, status, pointer["active"] == version)

    def list(self) -> list[AdapterVersion]:
        return [self.get(v) for v in self.versions()]

    def active(self) -> AdapterVersion | None:
        """What serves now; None: the base model."""
        version = self._pointer()["active"]
        return self.get(version) if version else None

    def active_for(self, base_folder: str | os.PathLike[str]) -> AdapterVersion | None:
        """The active adapter if it was trained on this base model (what a server should load), else None."""
        active = self.active()
        if active is None or (active.meta.get("base_model") or {}).get("hash") != base_identity(base_folder):
            return None
        return active

    # ----- writing
    def add(self, weights: Path, meta: dict) -> AdapterVersion:
        """A new immutable version from a peft adapter folder; it is not active until promoted."""
        self._clean_temps()
        n = max((int(v[1:]) for v in self.versions()), default=0) + 1
        version = f"v{n}"
        tmp = self.folder / f".{version}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(weights, tmp)
        meta = {**meta, "version": version, "created": meta.get("created") or _now()}
        write_json(tmp / "meta.json", meta)
        os.replace(tmp, self.folder / version)  # fails if a concurrent writer took the name: nothing half-done
        return self.get(version)

    def promote(self, version: str, reason: str = "promoted by hand") -> AdapterVersion:
        """Make `version` (any known one, a rejected one too) the active adapter."""
        self.get(version)
        p = self._pointer()
        if p["active"] == version:
            return self.get(version)
        stack = [v for v in p["stack"] if v != version] + [version]
        statuses = {**p["statuses"], version: "promoted"}
        self._write(stack, statuses, p["history"], {"action": "promote", "from": p["active"], "to": version,
                                                     "reason": reason})
        return self.get(version)

    def rollback(self) -> AdapterVersion | None:
        """Back to the previously promoted version, or to the base model; the one left is marked
        rolled-back. Returns what is active afterwards (None: the base model)."""
        p = self._pointer()
        if p["active"] is None:
            raise RegistryError("nothing to roll back to: no adapter is active (the base model serves)")
        left = p["active"]
        stack = p["stack"][:-1]
        statuses = {**p["statuses"], left: "rolled-back"}
        self._write(stack, statuses, p["history"], {"action": "rollback", "from": left,
                                                     "to": stack[-1] if stack else None})
        return self.active()

    def _write(self, stack: list[str], statuses: dict, history: list, change: dict) -> None:
        history = (history + [{**change, "time": _now()}])[-200:]
        write_json(self.folder / POINTER, {"active": stack[-1] if stack else None, "stack": stack,
                                           "statuses": statuses, "history": history})

    def _clean_temps(self) -> None:
        """Leftovers of writes a crash interrupted (never a complete version)."""
        for p in self.folder.iterdir():
            if p.name.startswith(".") and ".tmp" in p.name:
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def base_identity(folder: str | os.PathLike[str]) -> str:
    """A content hash of a base model folder: an adapter only fits the weights it was trained on.
    The default model's cache has a manifest of file hashes (models/provision.py): hashing that is
    enough. Other folders: config and weight files, streamed."""
    import hashlib

    folder = Path(folder)
    manifest = folder / "growpilot-manifest.json"
    h = hashlib.sha256()
    if manifest.exists():
        h.update(manifest.read_bytes())
        return h.hexdigest()
    for p in sorted(folder.iterdir()):
        if p.is_file() and (p.name == "config.json" or p.suffix in (".safetensors", ".bin")):
            h.update(p.name.encode() + b"\0")
            with open(p, "rb") as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
    return h.hexdigest()
