"""`growpilot serve --tcp` wants a token in `initialize`; `--socket` is a 0600 Unix socket. Raw bytes on
real sockets: what an unauthenticated local user would send."""

import os
import socket
import stat
import subprocess
import sys
import time

import pytest
from growpilot.server.main import (
    Refused,
    check_initialize,
    is_loopback,
    parse_host_port,
)
from test_protocol_raw import frame, parse_frames


def _free_port(family=socket.AF_INET, host="127.0.0.1") -> int:
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _serve(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "growpilot", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def _connect(address, family=socket.AF_INET, timeout: float = 60) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(family)
        s.settimeout(10)
        try:
            s.connect(address)
            return s
        except OSError:
            s.close()
            assert time.monotonic() < deadline, "server never listened"
            time.sleep(0.2)


def _initialize(root, token=None, msg_id=1) -> dict:
    options = {} if token is None else {"token": token}
    return {"jsonrpc": "2.0", "id": msg_id, "method": "initialize",
            "params": {"capabilities": {}, "rootUri": root.as_uri(), "initializationOptions": options}}


def _exchange(conn: socket.socket, message) -> tuple[list[dict], bool]:
    """Send one frame; return the frames that came back and whether the server closed the connection."""
    conn.sendall(frame(message))
    data, closed = b"", False
    while True:
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            closed = True
            break
        data += chunk
        if b"serverInfo" in data:
            break
    conn.close()
    return parse_frames(data), closed


def _refused(frames, closed, msg_id) -> bool:
    return closed and len(frames) == 1 and frames[0]["id"] == msg_id and frames[0]["error"]["code"] == -32001


def test_tcp_refuses_clients_without_the_token(workspace, growpilot_home):
    port = _free_port()
    proc = _serve("--tcp", f"127.0.0.1:{port}", env={"GROWPILOT_TOKEN": ""})
    try:
        address = ("127.0.0.1", port)
        frames, closed = _exchange(_connect(address), _initialize(workspace))
        assert _refused(frames, closed, 1), frames
        frames, closed = _exchange(_connect(address), _initialize(workspace, token="guess", msg_id=2))
        assert _refused(frames, closed, 2), frames
        search = {"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand",
                  "params": {"command": "growpilot.search", "arguments": [{"query": "password"}]}}
        frames, closed = _exchange(_connect(address), search)
        assert _refused(frames, closed, 3), frames
        frames, closed = _exchange(_connect(address), b"{not json")
        assert _refused(frames, closed, None), frames
        assert not (growpilot_home / "events.sqlite").exists()  # no handler ran: no services were made

        token_file = growpilot_home / f"serve-{port}.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        frames, closed = _exchange(_connect(address), _initialize(workspace, token=token, msg_id=4))
        assert frames[0]["id"] == 4 and frames[0]["result"]["serverInfo"]["name"] == "growpilot"
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=30)
    assert out == b""  # never on stdout
    assert err.decode().count(token) == 1 and str(token_file) in err.decode()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_tcp_on_ipv6_loopback_with_the_token_from_the_environment(workspace, growpilot_home):
    try:
        port = _free_port(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("::1 is not configured")
    proc = _serve("--tcp", f"[::1]:{port}", env={"GROWPILOT_TOKEN": "from-the-env"})
    try:
        frames, _ = _exchange(_connect(("::1", port), socket.AF_INET6), _initialize(workspace, "from-the-env"))
        assert frames[0]["result"]["serverInfo"]["name"] == "growpilot"
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=30)
    assert b"from-the-env" not in err and not list(growpilot_home.glob("serve-*.token"))


def test_unix_socket_is_private_and_needs_no_token(workspace, tmp_path):
    path = tmp_path / "growpilot.sock"
    proc = _serve("--socket", str(path))
    try:
        conn = _connect(str(path), socket.AF_UNIX)
        assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
        frames, _ = _exchange(conn, _initialize(workspace))
        assert frames[0]["result"]["serverInfo"]["name"] == "growpilot"
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def test_addresses_parse_with_brackets_for_ipv6():
    assert parse_host_port("[::1]:8080") == ("::1", 8080) and is_loopback("::1")
    assert parse_host_port("127.0.0.1:9") == ("127.0.0.1", 9) and is_loopback("127.0.0.1")
    assert parse_host_port("localhost:0") == ("localhost", 0) and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("[::1]") and not is_loopback("example.com")
    for bad in ("::1:8080", "8080", "[::1]8080", "127.0.0.1:http", ":9", "127.0.0.1:70000"):
        with pytest.raises(ValueError):
            parse_host_port(bad)


def test_the_token_is_checked_and_removed_before_any_handler():
    msg = check_initialize(frame_body(token="s3cret"), "s3cret")
    assert "token" not in msg["params"]["initializationOptions"] and msg["params"]["initializationOptions"]["maxTokens"] == 8
    for body, token in ((frame_body(token="s3cre"), "s3cret"), (frame_body(token=7), "s3cret"), (frame_body(), "s3cret")):
        with pytest.raises(Refused) as refused:
            check_initialize(body, token)
        assert refused.value.msg_id == 1


def frame_body(**options) -> bytes:
    import json

    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"capabilities": {}, "initializationOptions": {"maxTokens": 8, **options}}}).encode()


def test_bad_addresses_are_clear_errors():
    for spec in ("::1:8080", "0.0.0.0:9"):
        result = subprocess.run([sys.executable, "-m", "growpilot", "serve", "--tcp", spec],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and ("brackets" in result.stderr or "loopback" in result.stderr), result.stderr
