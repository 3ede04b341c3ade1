"""A raw JSON-RPC client of `growpilot serve` over its stdio, as an editor drives it: every frame is
timestamped when it arrives (a reader thread), so a reply's latency is measured from the request (or
`$/cancelRequest`) sent to the reply received, transport included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


class LspError(RuntimeError):
    pass


class LspClient:
    def __init__(self, env: dict | None = None, args: tuple[str, ...] = (), stderr=None):
        self.proc = subprocess.Popen([sys.executable, "-m", "growpilot", "serve", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=stderr,
                                     env={**os.environ, **(env or {})})
        self._next_id = 0
        self._cond = threading.Condition()
        self.replies: dict[int, tuple[float, dict]] = {}  # id → (arrival, message)
        self.notifications: list[tuple[float, dict]] = []
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="lsp-client-reader", daemon=True)
        self._reader.start()

    # ----- frames
    def _write(self, message: dict) -> float:
        body = json.dumps(message).encode()
        with self._send_lock:
            sent = time.perf_counter()
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()
        return sent

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    with self._cond:
                        self._cond.notify_all()
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            msg = json.loads(out.read(length))
            arrived = time.perf_counter()
            if "method" in msg and "id" in msg:  # a request from the server: accept it (progress tokens, …)
                self._write({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                continue
            with self._cond:
                if "method" in msg:
                    self.notifications.append((arrived, msg))
                else:
                    self.replies[msg.get("id")] = (arrived, msg)
                self._cond.notify_all()

    # ----- requests
    def send(self, method: str, params) -> tuple[int, float]:
        """Send a request; return its id and when it was sent."""
        self._next_id += 1
        return self._next_id, self._write({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})

    def notify(self, method: str, params) -> float:
        return self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def cancel(self, msg_id: int) -> float:
        return self.notify("$/cancelRequest", {"id": msg_id})

    def reply(self, msg_id: int, timeout: float = 120) -> tuple[float, dict]:
        """(arrival time, message) of the reply to `msg_id`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise LspError(f"no reply to request {msg_id}" + (" (the server exited)" if left > 0 else ""))
                self._cond.wait(min(left, 0.5))
            return self.replies.pop(msg_id)

    def request(self, method: str, params, timeout: float = 120):
        """Send and wait; return the result (LspError on an error reply)."""
        msg_id, _ = self.send(method, params)
        _, msg = self.reply(msg_id, timeout)
        if "error" in msg:
            raise LspError(f"{method}: {msg['error']}")
        return msg["result"]

    def wait_notification(self, method: str, count: int = 1, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                seen = [m for _, m in self.notifications if m["method"] == method]
                if len(seen) >= count:
                    return seen[count - 1]["params"]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise LspError(f"no {method} notification")
                self._cond.wait(min(left, 0.5))

    # ----- session
    def initialize(self, root: Path, options: dict) -> dict:
        result = self.request("initialize", {
            "processId": os.getpid(), "capabilities": {}, "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}], "initializationOptions": options})
        self.notify("initialized", {})
        return result

    def command(self, name: str, *args):
        return self.request("workspace/executeCommand", {"command": name, "arguments": list(args)})

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=30)
            self.notify("exit", None)
            self.proc.wait(timeout=30)
        except (LspError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class Document:
    """One open document: its text kept in step with the changes sent (positions in UTF-16 units, which
    equal code points for the ASCII lines the benchmarks use)."""

    def __init__(self, client: LspClient, path: Path, language: str = "python"):
        self.client, self.uri, self.version = client, path.resolve().as_uri(), 1
        self.lines = path.read_text(errors="replace").split("\n")
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": self.uri, "languageId": language, "version": 1, "text": "\n".join(self.lines)}})

    def edit(self, line: int, start: int, end: int, text: str) -> None:
        """Replace columns start..end of one line with `text` (no line breaks)."""
        self.version += 1
        self.lines[line] = self.lines[line][:start] + text + self.lines[line][end:]
        self.client.notify("textDocument/didChange", {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [{"range": {"start": {"line": line, "character": start},
                                          "end": {"line": line, "character": end}}, "text": text}]})

    def rest(self, line: int, character: int) -> None:
        """The cursor rests here: what the VS Code extension then sends (growpilot/warmUp)."""
        self.client.notify("growpilot/warmUp", {"textDocument": {"uri": self.uri},
                                                "position": {"line": line, "character": character}})

    def inline(self, line: int, character: int) -> tuple[int, float]:
        """Ask for an inline completion (as VS Code does while typing); return the request id and time sent."""
        return self.client.send("textDocument/inlineCompletion", {
            "textDocument": {"uri": self.uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 2}})


def inline_items(reply: dict) -> list[dict]:
    result = reply.get("result")
    return (result.get("items", []) if isinstance(result, dict) else result) or []


def generation_id(reply: dict) -> str | None:
    items = inline_items(reply)
    return items[0]["command"]["arguments"][0]["generationId"] if items else None


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, from /proc (Linux)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return round(values.get("VmRSS", 0.0), 1), round(values.get("VmHWM", 0.0), 1)
