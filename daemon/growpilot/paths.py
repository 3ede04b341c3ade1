"""Where Growpilot keeps state: per-workspace index and events, and the model cache.

Nothing is written inside the user's workspace: state lives under GROWPILOT_HOME
(default ~/.local/share/growpilot), keyed by the workspace's real path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path


def growpilot_home() -> Path:
    env = os.environ.get("GROWPILOT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "growpilot"


def model_cache_dir() -> Path:
    """Converted model folders. GROWPILOT_MODEL_CACHE may put them elsewhere (tests share one cache
    across throwaway homes)."""
    env = os.environ.get("GROWPILOT_MODEL_CACHE")
    return Path(env).expanduser().resolve() if env else growpilot_home() / "models"


def workspace_state_dir(root: str | os.PathLike[str], create: bool = True) -> Path:
    """State folder of one workspace: `<home>/workspaces/<name>-<hash of real path>`."""
    real = os.path.realpath(root)
    digest = hashlib.sha256(real.encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(real) or "root")[:40]
    state = growpilot_home() / "workspaces" / f"{name}-{digest}"
    if create and not state.exists():
        state.mkdir(parents=True, exist_ok=True)
        # A human-readable pointer back to the workspace this folder belongs to.
        (state / "workspace.json").write_text(json.dumps({"root": real}) + "\n")
    return state
