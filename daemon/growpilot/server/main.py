"""`growpilot serve`: start the language server on stdio (default) or a loopback TCP port."""

from __future__ import annotations

import logging

from growpilot.server.handlers import register
from growpilot.server.lsp import ClientLogHandler, GrowpilotServer

LOOPBACK = ("127.0.0.1", "::1", "localhost")
log = logging.getLogger(__name__)


def serve(tcp: str | None = None, allow_remote: bool = False) -> int:
    logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message it sends at INFO
    server = GrowpilotServer()
    register(server)
    _route_logs(server)
    if tcp is None:
        server.start_io()
        return 0
    host, _, port = tcp.rpartition(":")
    if host not in LOOPBACK and not allow_remote:
        log.error("refusing to listen on %s: only loopback unless --allow-remote", host)
        return 2
    server.start_tcp(host, int(port))
    return 0


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
