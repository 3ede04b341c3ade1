"""Byte-level checks a high-level client cannot make: malformed input gets exactly one error reply,
and stdout carries nothing but protocol frames."""

import json
import os
import socket
import subprocess
import sys
import time

from conftest import write_files
from lsp_fixtures import LSP_FILES


def frame(obj) -> bytes:
    body = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def parse_frames(data: bytes) -> list[dict]:
    """Every byte must belong to a Content-Length frame."""
    out, i = [], 0
    while i < len(data):
        head_end = data.index(b"\r\n\r\n", i)
        headers = dict(line.split(": ", 1) for line in data[i:head_end].decode().split("\r\n"))
        length = int(headers["Content-Length"])
        body = data[head_end + 4: head_end + 4 + length]
        assert len(body) == length, "truncated frame"
        out.append(json.loads(body))
        i = head_end + 4 + length
    return out


def _session(root, tiny_model, extra: list) -> list[dict]:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "capabilities": {}, "rootUri": root.as_uri(),
        "initializationOptions": {"modelPath": str(tiny_model)}}}
    msgs = [frame(init), frame({"jsonrpc": "2.0", "method": "initialized", "params": {}})]
    msgs += [frame(m) for m in extra]
    proc = subprocess.Popen([sys.executable, "-m", "growpilot", "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    proc.stdin.write(b"".join(msgs))
    proc.stdin.flush()
    time.sleep(8)
    proc.stdin.write(frame({"jsonrpc": "2.0", "id": 99, "method": "shutdown"})
                     + frame({"jsonrpc": "2.0", "method": "exit"}))
    proc.stdin.close()
    out = proc.stdout.read()
    proc.wait(timeout=30)
    return parse_frames(out)


def test_malformed_input_gets_one_error_reply_each(workspace, tiny_model):
    root = write_files(workspace, LSP_FILES)
    frames = _session(root, tiny_model, [
        {"jsonrpc": "2.0", "id": 2, "method": "textDocument/completion",
         "params": {"textDocument": {"uri": 5}, "position": "x"}},  # wrongly typed params
        {"jsonrpc": "2.0", "id": 3, "method": "growpilot/nothing", "params": {}},  # unknown method
        b"{this is not json",  # unreadable body
        {"jsonrpc": "2.0", "id": 4, "method": "workspace/executeCommand",
         "params": {"command": "growpilot.feedback", "arguments": [{"generationId": 7}]}},  # bad argument type
        {"jsonrpc": "2.0", "id": 5, "method": "workspace/executeCommand",
         "params": {"command": "growpilot.status", "arguments": []}},
    ])
    replies = {}
    for f in frames:
        if "method" not in f:
            assert f.get("id") not in replies, f"two replies to {f.get('id')}"
            replies[f.get("id")] = f
    assert replies[2]["error"]["code"] == -32602
    assert replies[3]["error"]["code"] == -32601
    assert replies[None]["error"]["code"] == -32700
    assert replies[4]["error"]["code"] == -32602 and "generationId" in replies[4]["error"]["message"]
    assert replies[5]["result"]["version"]
    assert replies[99]["result"] is None


def test_tcp_listens_on_loopback_and_refuses_others(workspace):
    refused = subprocess.run([sys.executable, "-m", "growpilot", "serve", "--tcp", "0.0.0.0:9"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "loopback" in refused.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "growpilot", "serve", "--tcp", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "GROWPILOT_TOKEN": "raw-test-token"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "server never listened"
                time.sleep(0.2)
        with conn:
            conn.sendall(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                "params": {"capabilities": {}, "rootUri": workspace.as_uri(),
                                           "initializationOptions": {"token": "raw-test-token"}}}))
            data = b""
            while b"serverInfo" not in data:
                data += conn.recv(65536)
        reply = parse_frames(data[: data.rindex(b"}") + 1])[0]
        assert reply["result"]["serverInfo"]["name"] == "growpilot"
        assert "inlineCompletionProvider" in reply["result"]["capabilities"]
    finally:
        proc.kill()
        proc.wait()
