"""The pygls server: the protocol fixes we need, logging to the client, and the server object that
owns the services. Handlers live in `handlers.py`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from growpilot import __version__
from growpilot.indexing.secrets import SECRET_FILE_EXCEPTIONS, SECRET_FILE_PATTERNS
from growpilot.server.services import Services

log = logging.getLogger(__name__)
# Troubleshooting: GROWPILOT_LOG_MESSAGES=1 logs each message received (its method and document, never its text).
_message_log = logging.getLogger("growpilot.messages") if os.environ.get("GROWPILOT_LOG_MESSAGES") == "1" else None


class _Rejected:
    """A request whose params could not be read; it still gets exactly one (error) reply."""

    def __init__(self, msg_id: Any, error: JsonRpcException):
        self.id, self.error = msg_id, error


class GrowpilotProtocol(LanguageServerProtocol):
    # pygls drops a request whose params fail to deserialize without replying (only a showMessage);
    # LSP clients then wait forever. Reply InvalidParams to that request instead.
    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                return _Rejected(data["id"], exc)
            raise

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        """pygls' initialize, plus what clients should know before opening files: which ones hold
        secrets (the daemon neither indexes nor completes them; a client can skip them too)."""
        result = yield from super().lsp_initialize(params)
        experimental = result.capabilities.experimental if isinstance(result.capabilities.experimental, dict) else {}
        result.capabilities.experimental = {**experimental, "growpilot": {
            "secretFilePatterns": list(SECRET_FILE_PATTERNS), "secretFileExceptions": list(SECRET_FILE_EXCEPTIONS)}}
        return result

    def handle_message(self, message):
        if isinstance(message, _Rejected):
            log.warning("rejected request %s: %s", message.id, message.error)
            self._send_response(message.id, error=message.error.to_response_error())
            return
        # Only once records go to the client (server.loop): stderr's last line is a crash's reason.
        if _message_log is not None and self._server.loop is not None and (method := getattr(message, "method", None)):
            document = getattr(getattr(getattr(message, "params", None), "text_document", None), "uri", None)
            _message_log.info("received %s%s", method, f" {document}" if document else "")
        super().handle_message(message)


class GrowpilotServer(LanguageServer):
    def __init__(self):
        super().__init__("growpilot", __version__, protocol_cls=GrowpilotProtocol)
        self.services: Services | None = None
        self.settings_problems: list[str] = []  # found in initialize, shown once initialized
        self.client_handles: set[str] = set()  # our notifications the client shows itself
        self.loop: asyncio.AbstractEventLoop | None = None
        self.buffer_timers: dict[str, asyncio.TimerHandle] = {}  # per document: pending unsaved-text indexing
        self.signals = None  # learning.signals.Tracker: implicit feedback, from initialize on
        self.signal_timer: asyncio.TimerHandle | None = None  # when the tracker next has signals due
        self.ab_checked = float("-inf")  # when a running A/B was last judged (monotonic)
        self.ab_offered: set = set()  # (folder root, experiment) whose winner was offered already

    # ----- sending from any thread
    def notify_threadsafe(self, method: str, params: Any) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.protocol.notify, method, params)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        self.notify_threadsafe(types.WINDOW_SHOW_MESSAGE, types.ShowMessageParams(kind, message))

    def report_server_error(self, error: Exception, source) -> None:
        """Unreadable JSON gets a JSON-RPC parse error (id null); nothing else pops up in the editor."""
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)
        if isinstance(error, json.JSONDecodeError):
            self.protocol._send_response(None, error=types.ResponseError(-32700, f"Parse error: {error}"))

    # ----- progress
    async def progress(self, title: str, cancellable: bool = False):
        """A work-done progress token if the client supports them, else None. A cancellable one's
        cancel (window/workDoneProgress/cancel) cancels `self.work_done_progress.tokens[token]`."""
        window = self.client_capabilities.window
        if not (window and window.work_done_progress):
            return None
        token = str(uuid.uuid4())
        try:
            await self.work_done_progress.create_async(token)
        except Exception as exc:  # the client refused: go on without progress
            log.debug("progress token refused: %s", exc)
            return None
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, percentage=0,
                                                                         cancellable=cancellable or None))
        return token


class ClientLogHandler(logging.Handler):
    """Forwards the daemon's own log records to the client as window/logMessage."""

    LEVELS = {logging.ERROR: types.MessageType.Error, logging.WARNING: types.MessageType.Warning,
              logging.INFO: types.MessageType.Info}

    def __init__(self, server: GrowpilotServer):
        super().__init__(logging.INFO)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        kind = self.LEVELS.get(record.levelno, types.MessageType.Log)
        if record.levelno >= logging.ERROR:
            kind = types.MessageType.Error
        try:
            self.server.notify_threadsafe(types.WINDOW_LOG_MESSAGE, types.LogMessageParams(kind, self.format(record)))
        except RuntimeError:  # loop closing
            pass

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("growpilot") and self.server.loop is not None


def raise_invalid(message: str) -> None:
    raise JsonRpcInvalidParams(message)
