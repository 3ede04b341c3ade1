"""`growpilot serve`: the language server on stdio (default), a TCP port, or a Unix domain socket.

Over TCP any local user could connect and read any folder back through `growpilot.search`, so a TCP
connection must open with an `initialize` request whose `initializationOptions.token` is the server's
token (GROWPILOT_TOKEN, else a fresh one printed once on stderr and written to a 0600 file under
GROWPILOT_HOME). Anything else gets one JSON-RPC error and the connection is closed before any handler
runs. A Unix socket is created with mode 0600: its permissions are the authentication.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import stat
import sys
import threading
from pathlib import Path

from pygls.io_ import run_async

from growpilot.paths import growpilot_home
from growpilot.server.handlers import register
from growpilot.server.lsp import ClientLogHandler, GrowpilotServer

TOKEN_ENV = "GROWPILOT_TOKEN"
UNAUTHORIZED = -32001  # JSON-RPC's implementation-defined server error range
FIRST_FRAME_MAX = 1 << 20  # an unauthenticated peer gets no more memory than this
FIRST_FRAME_TIMEOUT_S = 10.0  # … nor more time
log = logging.getLogger(__name__)


class Refused(Exception):
    def __init__(self, msg_id, message: str):
        super().__init__(message)
        self.msg_id = msg_id


def serve(tcp: str | None = None, allow_remote: bool = False, socket_path: str | None = None) -> int:
    logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message it sends at INFO
    if tcp is not None and socket_path is not None:
        log.error("choose one of --tcp and --socket")
        return 2
    if tcp is not None:
        try:
            host, port = parse_host_port(tcp)
        except ValueError as exc:
            log.error("--tcp %s: %s", tcp, exc)
            return 2
        if not is_loopback(host) and not allow_remote:
            log.error("refusing to listen on %s: only loopback unless --allow-remote", host)
            return 2
    server = GrowpilotServer()
    register(server)
    _route_logs(server)
    if tcp is not None:
        token = os.environ.get(TOKEN_ENV) or None
        return _run(server, _tcp_listener(host, port), token or secrets.token_urlsafe(32), announce=token is None)
    if socket_path is not None:
        return _run(server, _unix_listener(Path(socket_path)), token=None)
    server.start_io()
    return 0


# ----- parsing
def parse_host_port(spec: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` → (host, port)."""
    if spec.startswith("["):
        host, sep, port = spec[1:].partition("]:")
        if not sep:
            raise ValueError("expected [ADDRESS]:PORT")
    else:
        host, sep, port = spec.rpartition(":")
        if not sep:
            raise ValueError("expected HOST:PORT")
        if ":" in host:
            raise ValueError("an IPv6 address goes in brackets: [::1]:PORT")
    if not host:
        raise ValueError("no host")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"port must be a number in 0..65535, got {port!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_initialize(body: bytes, token: str | None) -> dict:
    """The connection's first message if it may go on (an `initialize` carrying the token, which is then
    removed so no handler or log ever sees it); else Refused, with the id to answer."""
    try:
        msg = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(None, "unauthorized: the first message must be a JSON-RPC initialize request")
    if not isinstance(msg, dict) or msg.get("method") != "initialize" or "id" not in msg:
        msg_id = msg.get("id") if isinstance(msg, dict) else None
        raise Refused(msg_id if isinstance(msg_id, (int, str)) else None,
                      "unauthorized: the first request must be initialize")
    params = msg.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    given = options.pop("token", None) if isinstance(options, dict) else None
    if token is not None and not (isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode())):
        raise Refused(msg["id"], "unauthorized: initializationOptions.token is missing or wrong")
    return msg


# ----- listening
def _tcp_listener(host: str, port: int):
    async def start(handle):
        return await asyncio.start_server(handle, host, port)
    return start


def _unix_listener(path: Path):
    async def start(handle):
        _clear_stale_socket(path)
        old = os.umask(0o177)  # the socket is born 0600: no window in which another user may connect
        try:
            listener = await asyncio.start_unix_server(handle, str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        return listener
    return start


def _clear_stale_socket(path: Path) -> None:
    """A socket left by a daemon that died is removed; a live one, or any other file, is not touched."""
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise FileExistsError(f"another server is listening on {path}")


def _announce_token(token: str, port: int) -> Path:
    """Write a generated token to a file only the user can read and print it once on stderr (never stdout,
    never through logging, which a connected client receives as window/logMessage)."""
    home = growpilot_home()
    home.mkdir(parents=True, exist_ok=True)
    path = home / f"serve-{port}.token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file may have had other permissions
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    sys.stderr.write(f"growpilot: TCP token (also in {path}, mode 0600): {token}\n")
    sys.stderr.flush()
    return path


def _run(server: GrowpilotServer, start, token: str | None, announce: bool = False) -> int:
    """Listen; serve the first client that passes the gate (the token, when there is one), then exit when
    it leaves (as pygls' start_tcp does)."""
    server._stop_event = threading.Event()
    state = {"busy": False, "socket": None}

    async def refuse(writer: asyncio.StreamWriter, msg_id, message: str) -> None:
        log.warning("refused a connection: %s", message)
        body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": {"code": UNAUTHORIZED, "message": message}})
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body.encode()) + body.encode())
        try:
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            body = await asyncio.wait_for(_read_frame(reader), FIRST_FRAME_TIMEOUT_S)
            if body is None:
                raise Refused(None, "unauthorized: the first message must be a JSON-RPC initialize request")
            first = check_initialize(body, token)
            if state["busy"]:
                raise Refused(first["id"], "busy: another client is connected")
        except Refused as exc:
            await refuse(writer, exc.msg_id, str(exc))
            return
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            writer.close()  # silent, slow, gone, or a header line past the stream's limit
            return
        state["busy"] = True
        protocol = server.protocol
        protocol.set_writer(writer)
        try:
            protocol.handle_message(json.loads(json.dumps(first), object_hook=protocol.structure_message))
        except Exception as exc:  # as pygls' own loop does: report it, keep the connection
            log.exception("unable to handle the initialize request")
            server.report_server_error(exc, type(exc))
        await run_async(stop_event=server._stop_event, reader=reader, protocol=protocol, logger=log,
                        error_handler=server.report_server_error)
        server.shutdown()

    async def main() -> None:
        listener = await start(handle)
        server._server = listener
        name = listener.sockets[0].getsockname()
        if isinstance(name, str):
            state["socket"] = name
            log.info("listening on %s (mode 0600)", name)
        else:
            if announce:
                _announce_token(token, name[1])
            else:
                log.info("TCP clients must present the token from %s", TOKEN_ENV)
            log.info("listening on %s port %d", name[0], name[1])
        async with listener:
            await listener.serve_forever()

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass
    except OSError as exc:  # address in use, a live socket at the path, …
        log.error("cannot listen: %s", exc)
        return 2
    finally:
        if state["socket"]:
            Path(state["socket"]).unlink(missing_ok=True)
    return 0


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The body of one Content-Length frame; None at EOF or on a bad or oversized header."""
    length = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        if not line.strip():
            break
        name, _, value = line.decode("ascii", "replace").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value) if value.strip().isdigit() else None
    if length is None or length > FIRST_FRAME_MAX:
        return None
    return await reader.readexactly(length)


def _route_logs(server: GrowpilotServer) -> None:
    """stdout is the protocol: logs go to stderr, and once a client is connected our own records go to
    it as window/logMessage instead (each record shows up once)."""
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(lambda r: not (r.name.startswith("growpilot") and server.loop is not None))
    client = ClientLogHandler(server)
    client.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(client)
    logging.getLogger("growpilot").setLevel(logging.INFO)
