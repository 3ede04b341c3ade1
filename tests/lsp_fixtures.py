"""A small workspace and LSP client helpers shared by the daemon's end-to-end tests."""

from __future__ import annotations

import asyncio
import time

from lsprotocol import types

LSP_FILES = {
    "inventory/helpers.py": (
        '"""Helpers for the widget inventory."""\n\n\n'
        "def frobnicate_widget_cache(widget_id, ttl_seconds):\n"
        '    """Invalidate the cached entry of one widget and keep it away for ttl_seconds."""\n'
        "    CACHE.pop(widget_id, None)\n"
        "    COOLDOWN[widget_id] = ttl_seconds\n"
        "    return True\n"
    ),
    "inventory/models.py": (
        "class Widget:\n"
        "    def __init__(self, widget_id, name):\n"
        "        self.widget_id = widget_id\n"
        "        self.name = name\n"
    ),
    "app.py": (
        "from inventory import helpers\n"
        "from inventory.models import Widget\n\n\n"
        "def refresh_widget(widget):\n"
        '    """Drop the widget from the cache for ten minutes."""\n'
        "    return helpers.\n"
    ),
}

# What app.py's last line goes on to say: the tiny model also learns it, so that completing that line (with
# token healing the prompt ends before `.`) has a continuation to give, as a real model would.
TRAINING_TEXTS = [*LSP_FILES.values(),
                  LSP_FILES["app.py"].replace("return helpers.\n", "return helpers.frobnicate_widget_cache(widget, 600)\n")]


def plain(value):
    """pygls hands custom payloads over as namedtuples: turn them back into dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def command(client, name: str, *args):
    """Run a workspace/executeCommand and return its result as plain data."""
    return plain(await client.workspace_execute_command_async(types.ExecuteCommandParams(name, list(args))))


class Recorder:
    """Collects custom notifications on a pytest-lsp client (waiters must exist before they arrive)."""

    def __init__(self, client, *methods: str):
        self.seen: dict[str, list] = {m: [] for m in methods}
        for method in methods:
            client.feature(method)(lambda ls, params, m=method: self.seen[m].append(plain(params)))

    async def wait(self, method: str, count: int = 1, timeout: float = 120.0):
        deadline = time.monotonic() + timeout
        while len(self.seen[method]) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} after {timeout}s")
            await asyncio.sleep(0.05)
        return self.seen[method][count - 1]


def init_params(root, options: dict) -> types.InitializeParams:
    import pytest_lsp

    return types.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
        root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        initialization_options=options,
    )


async def start_session(client, root, options: dict, *notifications: str) -> None:
    """Initialize with `options` and wait until the folder is indexed and the model loaded; `client.rec`
    records those two notifications and `notifications`."""
    client.root = root
    client.rec = Recorder(client, *dict.fromkeys(("growpilot/indexReady", "growpilot/modelReady", *notifications)))
    await client.initialize_session(init_params(root, options))
    await client.rec.wait("growpilot/indexReady")
    await client.rec.wait("growpilot/modelReady")


def open_doc(client, root, rel: str, text: str | None = None, version: int = 1) -> str:
    uri = (root / rel).as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
        uri=uri, language_id="python", version=version, text=text if text is not None else (root / rel).read_text())))
    return uri


def end_of(text: str) -> types.Position:
    lines = text.split("\n")
    if lines[-1] == "":
        lines = lines[:-1]
    return types.Position(len(lines) - 1, len(lines[-1]))
