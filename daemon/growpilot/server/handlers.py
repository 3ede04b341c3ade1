"""Every LSP method and command of the daemon, registered in one place. Handlers stay thin: they
translate between LSP types and the services, which do the work."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.uris import to_fs_path

from growpilot.actions.service import ActionError
from growpilot.completion.engine import CompletionRequest, Suggestion
from growpilot.config import settings_from
from growpilot.indexing.secrets import is_secret_path
from growpilot.learning.events import UnknownGeneration
from growpilot.learning.signals import Tracker, scale_from_env
from growpilot.server import actions_lsp
from growpilot.server.lsp import GrowpilotServer, raise_invalid
from growpilot.server.services import Folder, Services

log = logging.getLogger(__name__)
INDEX_READY = "growpilot/indexReady"
MODEL_READY = "growpilot/modelReady"
ADAPTER_CHANGED = "growpilot/adapterChanged"
TRAINING_DONE = "growpilot/trainingDone"
SCHEDULE = "growpilot/trainingSchedule"
WARM_UP = "growpilot/warmUp"  # client → server: the cursor rests here (PROTOCOL.md)
RETRY_REFUSED_S = 600.0  # an automatic start that was refused is not tried again sooner
BUFFER_INDEX_DELAY_S = 1.0  # unsaved edits reach the index after this much quiet
_WORD = re.compile(r"[A-Za-z0-9_]*$")


def register(server: GrowpilotServer) -> None:
    """Register all features and commands on `server`."""

    # ----- lifecycle
    @server.feature(types.INITIALIZE)
    def initialize(ls: GrowpilotServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        settings, ls.settings_problems = settings_from(params.initialization_options)
        options = params.initialization_options if isinstance(params.initialization_options, dict) else {}
        # Notifications the client shows itself: no window/showMessage copy of them (PROTOCOL.md).
        ls.client_handles = set(options.get("clientHandles") or ())
        ls.services = Services(settings)
        encoding = str(getattr(ls.workspace, "position_encoding", None) or "utf-16")
        ls.signals = Tracker(scale_from_env(), encoding)  # implicit feedback (learning/signals.py)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: GrowpilotServer, params: types.InitializedParams) -> None:
        for problem in ls.settings_problems:
            ls.show(problem)
        _load_model(ls)
        _watch_idle(ls)
        roots = [to_fs_path(f.uri) for f in ls.workspace.folders.values()] or (
            [ls.workspace.root_path] if ls.workspace.root_path else [])
        for root in roots:
            _start_folder(ls, root)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: GrowpilotServer, params: Any) -> None:
        if ls.services is not None:
            ls.services.close()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: GrowpilotServer, params: types.DidChangeConfigurationParams) -> None:
        settings, problems = settings_from(params.settings, base=ls.services.settings)
        for problem in problems:
            ls.show(problem)
        reload_model, reopen = ls.services.apply_settings(settings)
        ls.services.idle.poke()  # idleMinutes & co. apply at once
        if reload_model:
            _load_model(ls)
        if reopen:
            ls.show("Growpilot: indexing settings take effect when the daemon restarts", types.MessageType.Info)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: GrowpilotServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        for f in params.event.removed:
            ls.services.remove_folder(to_fs_path(f.uri))
        for f in params.event.added:
            _start_folder(ls, to_fs_path(f.uri))

    # ----- documents: unsaved text is what retrieval sees
    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: GrowpilotServer, params: types.DidChangeTextDocumentParams) -> None:
        _activity(ls)
        _schedule_buffer_index(ls, params.text_document.uri)
        if ls.signals is not None and len(ls.signals):
            uri = params.text_document.uri
            ls.signals.changed(uri, params.content_changes, time.monotonic(),
                               ls.workspace.get_text_document(uri).source)
            _schedule_signals(ls)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: GrowpilotServer, params: types.DidOpenTextDocumentParams) -> None:
        _activity(ls)  # pygls has put the document into the workspace already

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: GrowpilotServer, params: types.DidCloseTextDocumentParams) -> None:
        if ls.signals is not None:
            ls.signals.closed(params.text_document.uri)
        path = to_fs_path(params.text_document.uri)
        folder = ls.services.folder_for(path) if ls.services and path else None
        if folder is not None:  # back to what is on disk
            ls.services.index_pool.submit(folder.index.update, [_rel(folder, path)])

    # ----- completions
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())  # else not advertised
    async def inline_completion(ls: GrowpilotServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        s = await _complete(ls, params.text_document.uri, params.position, "inline")
        if s is None:
            return types.InlineCompletionList(items=[])
        _served(ls, params.text_document.uri, params.position, s)
        here = types.Range(params.position, params.position)
        return types.InlineCompletionList(items=[
            types.InlineCompletionItem(insert_text=s.text, range=here, command=_accept_command(s))])

    @server.feature(WARM_UP)
    def warm_up(ls: GrowpilotServer, params) -> None:
        """The cursor rests at a position: prefill the prompt a request there would get, in the background."""
        try:
            uri, at = params.textDocument.uri, params.position
            position = types.Position(int(at.line), int(at.character))
        except (AttributeError, TypeError, ValueError):
            log.warning("%s needs {textDocument: {uri}, position: {line, character}}, got %r", WARM_UP, params)
            return
        asyncio.ensure_future(_warm(ls, uri, position))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: GrowpilotServer, params: types.CompletionParams) -> types.CompletionList:
        s = await _complete(ls, params.text_document.uri, params.position, "completion")
        if s is None:
            return types.CompletionList(is_incomplete=True, items=[])
        _served(ls, params.text_document.uri, params.position, s)
        doc = ls.workspace.get_text_document(params.text_document.uri)
        line = doc.lines[params.position.line] if params.position.line < len(doc.lines) else ""
        word = _WORD.search(line[: params.position.character]).group(0)  # ASCII: UTF-16 units = code points
        start = types.Position(params.position.line, params.position.character - len(word))
        first = (word + s.text).split("\n", 1)[0].strip()
        item = types.CompletionItem(
            label=first[:80] or s.text.strip()[:80], kind=types.CompletionItemKind.Text, detail="Growpilot",
            filter_text=word + s.text, sort_text="0", insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(types.Range(start, params.position), word + s.text),
            data={"generationId": s.generation_id}, command=_accept_command(s))
        return types.CompletionList(is_incomplete=True, items=[item])

    # ----- code actions (actions/, server/actions_lsp.py; PROTOCOL.md "Code actions")
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=list(actions_lsp.KINDS), resolve_provider=True))
    def code_action(ls: GrowpilotServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        """Instant: no model call; what to run is in each action's `data`, generated on resolve."""
        _activity(ls)
        doc = ls.workspace.get_text_document(params.text_document.uri)
        if ls.services is None or doc.path is None or is_secret_path(doc.path):  # no model reads a secrets file
            return None
        return actions_lsp.list_actions(ls.services.actions, os.path.realpath(doc.path), doc, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve_code_action(ls: GrowpilotServer, action: types.CodeAction) -> types.CodeAction:
        _activity(ls)
        return await _resolve_action(ls, action)

    @server.command(actions_lsp.SHOW_EXPLANATION)
    async def show_explanation(ls: GrowpilotServer, *args: Any) -> dict:
        """Shows a resolved Explain's markdown file: window/showDocument, else window/showMessage."""
        path = actions_lsp.explanation_path(_arg(args, "explanationUri", str))
        if path is None:
            raise_invalid("explanationUri must name an explanation file written by codeAction/resolve")
        window = ls.client_capabilities.window
        if window and window.show_document and window.show_document.support:
            shown = await ls.window_show_document_async(types.ShowDocumentParams(uri=path.as_uri(), take_focus=True))
            return {"shown": bool(shown and shown.success), "uri": path.as_uri()}
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Info, path.read_text(encoding="utf-8")))
        return {"shown": False, "uri": path.as_uri()}

    # ----- commands
    @server.command("growpilot.status")
    def status(ls: GrowpilotServer, *args: Any) -> dict:
        return ls.services.status()

    @server.command("growpilot.reindex")
    async def reindex(ls: GrowpilotServer, *args: Any) -> dict:
        wanted = _arg(args, "folderUri", str, required=False)
        folders = [f for f in ls.services.folders.values() if wanted in (None, f.root.as_uri())]
        if wanted and not folders:
            raise_invalid(f"no workspace folder {wanted}")
        results = [await _index(ls, f) for f in folders]
        return {"folders": results}

    @server.command("growpilot.deleteIndex")
    async def delete_index(ls: GrowpilotServer, *args: Any) -> dict:
        folder = _folder_arg(ls, args)
        # On the index thread: after a running sync, never beside one.
        return await asyncio.get_running_loop().run_in_executor(ls.services.index_pool, ls.services.delete_index, folder)

    @server.command("growpilot.clearHistory")
    async def clear_history(ls: GrowpilotServer, *args: Any) -> dict:
        folder = _folder_arg(ls, args)
        return await asyncio.get_running_loop().run_in_executor(None, ls.services.clear_history, folder)

    @server.command("growpilot.preferences")
    async def preferences(ls: GrowpilotServer, *args: Any) -> dict:
        folder = _folder_arg(ls, args)
        refresh = bool(_arg(args, "refresh", bool, required=False))
        return await asyncio.get_running_loop().run_in_executor(None, ls.services.preferences_of, folder, refresh)

    @server.command("growpilot.search")
    async def search(ls: GrowpilotServer, *args: Any) -> list:
        query = _arg(args, "query", str)
        k = _arg(args, "k", int, required=False) or 10
        loop = asyncio.get_running_loop()
        hits = []
        for folder in list(ls.services.folders.values()):
            found = await loop.run_in_executor(ls.services.search_pool, folder.index.search, query, k)
            hits += [{"uri": (folder.root / h.path).as_uri(), **h.as_dict()} for h in found]
        hits.sort(key=lambda h: h["score"], reverse=True)
        return [{k_: v for k_, v in h.items() if k_ != "chunk_id"} for h in hits[:k]]

    # ----- learning: train → evaluate → gate, versions, rollback
    @server.command("growpilot.retrain")
    async def retrain(ls: GrowpilotServer, *args: Any) -> dict:
        """Starts a cycle and answers at once; `$/progress` follows it, growpilot/trainingDone ends it."""
        folder = _folder_arg(ls, args)
        if ls.services.model.backend is None:
            raise_invalid("the model is still loading: retrain once it is ready")
        if ls.services.learning.running(folder.root) and ls.services.idle.scheduler.adopt(folder.root):
            # An idle-time cycle runs: it is the user's now (activity no longer stops it), not a second one.
            return {"started": True, "folderUri": folder.root.as_uri(), "adopted": True}
        if ls.services.learning.running(folder.root):
            raise_invalid(f"a training cycle of {folder.root.name} is already running")
        await _train(ls, folder)
        return {"started": True, "folderUri": folder.root.as_uri()}

    @server.command("growpilot.cancelTraining")
    def cancel_training(ls: GrowpilotServer, *args: Any) -> dict:
        folder = _folder_arg(ls, args)
        return {"cancelled": ls.services.learning.cancel(folder.root)}

    @server.command("growpilot.adapters")
    def adapters(ls: GrowpilotServer, *args: Any) -> dict:
        folder = _folder_arg(ls, args)
        return {"folderUri": folder.root.as_uri(), "active": folder.adapter.version if folder.adapter else None,
                "versions": [v.as_dict() for v in _registry(folder).list()],
                "learning": ls.services.learning.state(folder.root).as_dict()}

    @server.command("growpilot.rollback")
    def rollback(ls: GrowpilotServer, *args: Any) -> dict:
        folder = _folder_arg(ls, args)
        _training_error(lambda: _registry(folder).rollback())
        return _adapter_changed(ls, folder, "rollback")

    @server.command("growpilot.promote")
    def promote(ls: GrowpilotServer, *args: Any) -> dict:
        folder = _folder_arg(ls, args)
        version = _arg(args, "version", str)
        _training_error(lambda: _registry(folder).promote(version))
        return _adapter_changed(ls, folder, "promote")

    @server.command("growpilot.metrics")
    async def metrics(ls: GrowpilotServer, *args: Any) -> dict:
        """`growpilot metrics --json` of one folder (learning/metrics.py)."""
        folder = _folder_arg(ls, args)
        return await asyncio.get_running_loop().run_in_executor(None, _metrics_of, ls, folder)

    @server.command("growpilot.dashboard")
    async def dashboard(ls: GrowpilotServer, *args: Any) -> dict:
        """The dashboard page for a webview: {html, metrics}. chartSrc: the URI of the Chart.js build the
        client bundles (without it the page inlines the daemon's copy); cspSource, nonce: the webview's."""
        from growpilot.dashboard import ChartLibraryMissing, render_html

        folder = _folder_arg(ls, args)
        chart_src = _arg(args, "chartSrc", str, required=False)
        csp_source = _arg(args, "cspSource", str, required=False)
        nonce = _arg(args, "nonce", str, required=False)
        if nonce is not None and not re.fullmatch(r"[A-Za-z0-9+/=_-]{16,128}", nonce):
            raise_invalid("nonce must be 16 to 128 base64 characters")
        if csp_source is not None and not re.fullmatch(r"[^\s;,\"<>]+( [^\s;,\"<>]+)*", csp_source):
            raise_invalid("cspSource must be CSP source expressions (such as 'self' https://*.vscode-cdn.net; no ';' or ',')")
        m = await asyncio.get_running_loop().run_in_executor(None, _metrics_of, ls, folder)
        try:
            page = render_html(m, chart_src=chart_src, csp_source=csp_source, nonce=nonce, interactive=True)
        except ChartLibraryMissing as exc:
            raise_invalid(str(exc))
        return {"html": page, "metrics": m}

    @server.command("growpilot.abStatus")
    async def ab_status(ls: GrowpilotServer, *args: Any) -> dict:
        """`growpilot ab status --json` of one folder (learning/ab.py)."""
        folder = _folder_arg(ls, args)
        return await asyncio.get_running_loop().run_in_executor(None, ls.services.ab_status, folder)

    @server.command("growpilot.accept")
    def accept(ls: GrowpilotServer, *args: Any) -> dict:
        _activity(ls)
        generation = _arg(args, "generationId", str)
        _event(lambda: ls.services.events.accept(generation, _arg(args, "source", str, required=False)))
        if ls.signals is not None:
            ls.signals.accepted(generation, time.monotonic())
            _schedule_signals(ls)
        return {"ok": True}

    @server.command("growpilot.feedback")
    def feedback(ls: GrowpilotServer, *args: Any) -> dict:
        _activity(ls)
        generation = _arg(args, "generationId", str)
        rating = _arg(args, "rating", str)
        event_id = _event(lambda: ls.services.events.rate(generation, rating, _arg(args, "source", str, required=False)))
        return {"ok": True, "eventId": event_id}


# ----- helpers (no LSP registration below)
def _arg(args: tuple, name: str, kind: type, required: bool = True):
    """A named field of the single object argument commands take."""
    obj = args[0] if args else {}
    if not isinstance(obj, dict):
        raise_invalid(f"expected one object argument with {name!r}, got {type(obj).__name__}")
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise_invalid(f"argument {name!r} must be a {kind.__name__}")
    return value


def _folder_arg(ls: GrowpilotServer, args: tuple) -> Folder:
    """The folder a command is about: `folderUri`, or the only folder there is."""
    wanted = _arg(args, "folderUri", str, required=False)
    folders = list(ls.services.folders.values())
    if wanted is not None:
        found = [f for f in folders if f.root.as_uri() == wanted or f.root == Path(os.path.realpath(to_fs_path(wanted) or ""))]
        if not found:
            raise_invalid(f"no workspace folder {wanted}")
        return found[0]
    if len(folders) != 1:
        raise_invalid("several workspace folders are open: pass folderUri" if folders else "no workspace folder is open")
    return folders[0]


def _metrics_of(ls: GrowpilotServer, folder: Folder) -> dict:
    from growpilot.learning.metrics import workspace_metrics

    # The index size from the catalog, read-only: never waits on a running sync's lock.
    return workspace_metrics(ls.services.events, folder.root, ab=ls.services.ab_status(folder))


def _registry(folder: Folder):
    from growpilot.training.registry import Registry

    return Registry.for_workspace(folder.root)


def _training_error(action):
    from growpilot.training.errors import TrainingError

    try:
        return action()
    except TrainingError as exc:
        raise_invalid(str(exc))


def _adapter_changed(ls: GrowpilotServer, folder: Folder, why: str) -> dict:
    """Serve the folder's active adapter now and tell the client."""
    before, now = ls.services.refresh_adapter(folder)
    change = {"folderUri": folder.root.as_uri(), "adapter": now, "previous": before, "reason": why}
    ls.protocol.notify(ADAPTER_CHANGED, change)
    return change


async def _train(ls: GrowpilotServer, folder: Folder, automatic: bool = False) -> None:
    """A training cycle on a background thread, with `$/progress`; the outcome as growpilot/trainingDone,
    a message, and growpilot/adapterChanged when the candidate was promoted. `automatic`: started by the
    idle scheduler (server/idle.py): the user's next edit or request makes it yield, and of its outcomes
    only a promotion is shown as a message."""
    loop = ls.loop
    idle = ls.services.idle
    asked = idle.scheduler.clock()
    chunks = await loop.run_in_executor(None, idle.chunks_of, folder)  # the data this cycle sees
    if automatic and (idle.scheduler.last_activity or 0) > asked:  # the user came back meanwhile
        idle.start_failed(folder)
        return
    token = await ls.progress(f"Growpilot: training {folder.root.name}")
    if automatic and (idle.scheduler.last_activity or 0) > asked:  # ... while the client made the token
        if token:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="not started"))
        idle.start_failed(folder)
        return
    last = [0.0]

    def on_progress(root, state) -> None:
        now = time.monotonic()
        if token and now - last[0] > 0.5:
            last[0] = now
            report = types.WorkDoneProgressReport(message=state.message, percentage=state.percent)
            loop.call_soon_threadsafe(ls.work_done_progress.report, token, report)

    def on_done(root, result, error) -> None:
        loop.call_soon_threadsafe(finish, result, error)

    def finish(result, error) -> None:
        if token:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=error or result.decision))
        kind = (ls.services.learning.state(folder.root).last or {}).get("error_kind")
        was_automatic = idle.scheduler.is_automatic(folder.root)
        yielded = idle.cycle_ended(folder, kind if error else None)
        outcome = {"folderUri": folder.root.as_uri(), "error": error, "error_kind": kind,
                   "automatic": was_automatic, "yielded": yielded}
        if result is not None:
            outcome.update(result.as_json())
            if result.decision == "promoted":
                _adapter_changed(ls, folder, "promoted")
        ls.protocol.notify(TRAINING_DONE, outcome)
        if yielded:
            log.info("automatic training of %s paused for the user; it resumes when idle", folder.root.name)
        if TRAINING_DONE in ls.client_handles or was_automatic and (result is None or result.decision != "promoted"):
            return
        if error:
            ls.show(f"Growpilot: training {folder.root.name} did not finish: {error}")
        else:
            ls.show(f"Growpilot: {result.version} {result.decision} for {folder.root.name}: {result.reason}",
                    types.MessageType.Info)

    try:
        _training_error(lambda: ls.services.learning.start(folder.root, on_progress, on_done))
        idle.cycle_started(folder, automatic, chunks)  # before `finish` can run: both on the event loop
    except Exception:
        if automatic:
            idle.start_failed(folder)
        if token:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="not started"))
        raise


def _activity(ls: GrowpilotServer) -> None:
    """The user is here (an edit, a request): an automatic training cycle yields at once."""
    if ls.services is not None:
        ls.services.idle.activity()


def _watch_idle(ls: GrowpilotServer) -> None:
    """Idle-time training: the scheduler's thread starts cycles through `_train`, on the event loop."""
    loop, idle = ls.loop, ls.services.idle

    def start(folder: Folder) -> None:
        async def run() -> None:
            try:
                await _train(ls, folder, automatic=True)
            except Exception as exc:  # refused (a cycle runs in another process…): the schedule tries later
                log.info("automatic training of %s did not start: %s", folder.root.name, exc)
                idle.start_failed(folder, RETRY_REFUSED_S)

        loop.call_soon_threadsafe(lambda: loop.create_task(run()))

    def changed(folder: Folder, schedule: dict) -> None:
        ls.notify_threadsafe(SCHEDULE, {"folderUri": folder.root.as_uri(), **schedule})

    idle.start, idle.changed = start, changed
    idle.run_in_background()


def _event(record) -> int:
    try:
        return record()
    except UnknownGeneration as exc:
        raise_invalid(f"unknown generationId {exc.args[0]!r}")
    except ValueError as exc:
        raise_invalid(str(exc))


def _served(ls: GrowpilotServer, uri: str, position: types.Position, s: Suggestion) -> None:
    """A suggestion goes out: follow it for the implicit signals (rejected, rewritten, retained)."""
    if ls.signals is None or ls.loop is None:
        return
    doc = ls.workspace.get_text_document(uri)
    ls.signals.served(s.generation_id, uri, position.line, position.character, s.text, doc.source, time.monotonic())
    _schedule_signals(ls)


AB_CHECK_S = 600.0  # how often, at most, a running A/B is judged (after retention signals were written)


def _check_ab(ls: GrowpilotServer) -> None:
    """When a challenger has won its A/B significantly, offer once per experiment to promote it."""
    now = time.monotonic()
    if now - ls.ab_checked < AB_CHECK_S:
        return
    ls.ab_checked = now
    for folder in [f for f in ls.services.folders.values() if f.challenger is not None]:
        experiment = folder.challenger[0]
        if (folder.root, experiment) in ls.ab_offered:
            continue

        def judged(future, folder=folder, experiment=experiment) -> None:
            try:
                status = future.result()
            except Exception:
                log.exception("judging the A/B of %s failed", folder.root.name)
                return
            if status.get("offer_promote"):
                ls.ab_offered.add((folder.root, experiment))
                asyncio.run_coroutine_threadsafe(_offer_promotion(ls, folder, status), ls.loop)

        ls.loop.run_in_executor(None, ls.services.ab_status, folder).add_done_callback(judged)


async def _offer_promotion(ls: GrowpilotServer, folder: Folder, status: dict) -> None:
    arms, label = status["arms"], status["winner"]["adapter"]
    message = (f"Growpilot: in {folder.root.name}, {label} beat {arms['active']['adapter']} on the characters you kept "
               f"per suggestion ({arms['challenger']['retained_per_shown']:.2f} vs "
               f"{arms['active']['retained_per_shown']:.2f}, p = {status['tests']['retained_per_shown_p']:.3f}, "
               f"{arms['challenger']['shown']} + {arms['active']['shown']} suggestions). Promote it?")
    action = f"Promote {label}"
    choice = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
        types.MessageType.Info, message, [types.MessageActionItem(action), types.MessageActionItem("Not now")]))
    if choice is None or choice.title != action:
        return
    if label == "base":  # back to the base model: every promoted version rolled back
        registry = _registry(folder)
        while registry.active() is not None:
            _training_error(registry.rollback)
    else:
        _training_error(lambda: _registry(folder).promote(label, reason="won the A/B"))
    _adapter_changed(ls, folder, "promote")


def _schedule_signals(ls: GrowpilotServer) -> None:
    """(Re)arm one timer for when the tracker next has signals due; they are written when it fires."""
    if ls.signal_timer is not None:
        ls.signal_timer.cancel()
        ls.signal_timer = None
    due = ls.signals.next_due()
    if due is None or ls.loop is None or ls.loop.is_closed():
        return

    def fire() -> None:
        ls.signal_timer = None
        try:
            for signal in ls.signals.tick(time.monotonic()):
                ls.services.events.record_signal(signal.generation_id, signal.kind, signal.value)
        except Exception:  # the signals must never take the server down
            log.exception("recording implicit feedback failed")
        _check_ab(ls)
        _schedule_signals(ls)

    ls.signal_timer = ls.loop.call_later(max(0.0, due - time.monotonic()) + 0.01, fire)


def _accept_command(s: Suggestion) -> types.Command:
    return types.Command(title="Growpilot: accept suggestion", command="growpilot.accept",
                         arguments=[{"generationId": s.generation_id}])


def _request(ls: GrowpilotServer, uri: str, position: types.Position, kind: str) -> CompletionRequest | None:
    """The engine's request for a position the client names (None: no server yet, or not a file)."""
    if ls.services is None:
        return None
    _activity(ls)  # an automatic training cycle yields before the model is asked
    doc = ls.workspace.get_text_document(uri)
    if doc.path is None:
        return None
    pos = doc.position_codec.position_from_client_units(doc.lines, position)
    # Real paths from here on: a workspace opened through a symlink (macOS /tmp, a linked checkout) must
    # name its files as the index does, or the file's own lines come back as "retrieved" snippets.
    return CompletionRequest(os.path.realpath(doc.path), doc.source, pos.line, pos.character, kind)


async def _complete(ls: GrowpilotServer, uri: str, position: types.Position, kind: str) -> Suggestion | None:
    req = _request(ls, uri, position, kind)
    return None if req is None else await ls.services.engine.complete(req)


async def _warm(ls: GrowpilotServer, uri: str, position: types.Position) -> None:
    req = _request(ls, uri, position, "warmup")
    if req is None:
        return
    try:
        done = await ls.services.engine.warm(req)
    except Exception:  # a warm-up is a guess: it must never cost more than its own work
        log.exception("warm-up at %s:%d failed", os.path.basename(req.path), req.line + 1)
        return
    log.debug("warm-up at %s:%d: %s", os.path.basename(req.path), req.line + 1, done)


async def _resolve_action(ls: GrowpilotServer, action: types.CodeAction) -> types.CodeAction:
    """Generate a listed action's result: checks first (nothing runs on a stale document), then the
    model on the engine's model thread with a cancellable `$/progress`; any refusal is an InvalidParams
    error whose `data` says why ({kind, generationId})."""
    try:
        data = actions_lsp.read_data(action.data)
    except ValueError as exc:
        raise_invalid(str(exc))
    if ls.services is None:
        raise_invalid("the server is not initialized")
    doc = ls.workspace.text_documents.get(data.uri)
    if doc is None or doc.path is None:
        raise_invalid(f"{data.uri} is not open: open it and ask for the actions again")
    if data.version is not None and doc.version is not None and doc.version != data.version:
        raise JsonRpcInvalidParams(f"the document changed since this action was listed (version {data.version}, now "
                                   f"{doc.version}): ask for the actions again", data={"kind": "stale"})
    path = os.path.realpath(doc.path)
    if is_secret_path(path):
        raise_invalid(f"{os.path.basename(path)} holds secrets: Growpilot does not run there")
    request = actions_lsp.action_request(path, doc, data)
    cancel = threading.Event()
    title = action.title.removeprefix("Growpilot: ")
    token = await ls.progress(f"Growpilot: {title[:1].lower()}{title[1:]}", cancellable=True)
    loop = asyncio.get_running_loop()
    if token:
        ls.work_done_progress.tokens[token].add_done_callback(lambda future: cancel.set())

    def progress(message: str) -> None:
        if token:
            loop.call_soon_threadsafe(ls.work_done_progress.report, token, types.WorkDoneProgressReport(message=message))

    outcome = "cancelled"
    try:
        result = await ls.services.actions.resolve(request, progress, cancel, lambda p: _editor_text(ls, p))
        done = actions_lsp.resolved(action, result, request, data, doc.position_codec, lambda p: _uri_of(ls, p),
                                    ls.client_capabilities, _rel_to_root(ls, path))
        outcome = "done"
        return done
    except ActionError as exc:
        outcome = str(exc)
        raise JsonRpcInvalidParams(str(exc), data={"kind": exc.kind, "generationId": exc.generation_id})
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise  # $/cancelRequest: pygls answers RequestCancelled
        raise JsonRpcRequestCancelled("cancelled: nothing was changed")  # the progress's Cancel button
    finally:
        if token:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=outcome))


def _editor_text(ls: GrowpilotServer, path: str) -> str | None:
    """A file's text as the editor has it (unsaved changes), else from disk."""
    for doc in list(ls.workspace.text_documents.values()):
        if doc.path and os.path.realpath(doc.path) == path:
            return doc.source
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _uri_of(ls: GrowpilotServer, path: str) -> tuple[str, int | None]:
    for doc in list(ls.workspace.text_documents.values()):
        if doc.path and os.path.realpath(doc.path) == path:
            return doc.uri, doc.version
    return Path(path).as_uri(), None


def _rel_to_root(ls: GrowpilotServer, path: str) -> str:
    folder = ls.services.folder_for(path)
    return _rel(folder, path) if folder is not None else os.path.basename(path)


def _rel(folder: Folder, path: str) -> str:
    return os.path.relpath(os.path.realpath(path), folder.root).replace(os.sep, "/")


def _schedule_buffer_index(ls: GrowpilotServer, uri: str) -> None:
    if ls.services is None or is_secret_path(uri):  # never indexed (filters.py): nothing to schedule
        return
    timers = ls.buffer_timers
    if (old := timers.pop(uri, None)) is not None:
        old.cancel()

    def fire() -> None:
        timers.pop(uri, None)
        doc = ls.workspace.get_text_document(uri)
        folder = ls.services.folder_for(doc.path) if doc.path else None
        if folder is not None and folder.ready:
            ls.services.index_pool.submit(folder.index.update_text, _rel(folder, doc.path), doc.source)

    timers[uri] = ls.loop.call_later(BUFFER_INDEX_DELAY_S, fire)


def _load_model(ls: GrowpilotServer) -> None:
    """Load (or reload) the model in the background, with `$/progress`, then announce growpilot/modelReady."""
    started = time.perf_counter()

    async def load() -> None:
        token = await ls.progress("Growpilot: loading the model")
        done = asyncio.Event()
        ls.services.model.load_async(ls.services.settings, on_done=lambda holder: ls.loop.call_soon_threadsafe(done.set))
        await done.wait()
        info = ls.services.model.describe()
        if token:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=info["error"] or info["name"]))
        if info["state"] == "loading":
            return  # superseded by a newer load, which announces itself
        adapters = [ls.services.refresh_adapter(f)[1] for f in ls.services.folders.values()]  # per base model
        ls.protocol.notify(MODEL_READY, {"model": info["name"], "device": info["device"],
                                         "adapter": adapters[0] if adapters else None,
                                         "loadSeconds": round(time.perf_counter() - started, 2), "error": info["error"]})
        ls.services.idle.poke()
        if info["error"]:
            ls.show(f"Growpilot: the model could not be loaded: {info['error']}", types.MessageType.Error)
            return
        for folder in list(ls.services.folders.values()):
            await _calibrate(ls, folder)

    asyncio.ensure_future(load())


async def _calibrate(ls: GrowpilotServer, folder: Folder) -> None:
    """Once both the folder's index and the model are ready (whichever comes last calls it): ask whether
    retrieved context helps there (calibration.py), in the background; until then context is on."""
    if not folder.ready or ls.services.model.backend is None or folder.calibrating:
        return
    folder.calibrating = True
    try:
        await asyncio.get_running_loop().run_in_executor(None, ls.services.calibrate_context, folder)
    except Exception as exc:  # context stays on; say why
        log.warning("context calibration of %s failed: %s", folder.root, exc)
    finally:
        folder.calibrating = False


def _start_folder(ls: GrowpilotServer, root: str) -> None:
    try:
        folder = ls.services.add_folder(root)
    except Exception as exc:
        log.exception("cannot open the index of %s", root)
        ls.show(f"Growpilot: cannot index {root}: {exc}", types.MessageType.Error)
        return

    async def index_then_watch() -> None:
        await _index(ls, folder)
        if folder.ready:
            ls.services.watch(folder, on_error=ls.show)
            await _calibrate(ls, folder)

    asyncio.ensure_future(index_then_watch())


async def _index(ls: GrowpilotServer, folder: Folder) -> dict:
    """Sync one folder with `$/progress`, then announce it with growpilot/indexReady."""
    token = await ls.progress(f"Growpilot: indexing {folder.root.name}")
    loop = asyncio.get_running_loop()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if token and (now - last[0] > 0.1 or done == total):
            last[0] = now
            report = types.WorkDoneProgressReport(message=f"{done}/{total} files",
                                                  percentage=int(100 * done / total) if total else 100)
            loop.call_soon_threadsafe(ls.work_done_progress.report, token, report)

    started = time.perf_counter()
    try:
        stats = await loop.run_in_executor(ls.services.index_pool, ls.services.index_folder, folder, progress)
    except Exception as exc:
        log.exception("indexing %s failed", folder.root)
        ls.show(f"Growpilot: indexing {folder.root} failed: {exc}", types.MessageType.Error)
        result = {"folderUri": folder.root.as_uri(), "error": str(exc)}
    else:
        result = {"folderUri": folder.root.as_uri(), "files": stats.files, "chunks": stats.chunks,
                  "embedded": stats.embedded, "seconds": round(time.perf_counter() - started, 3), "error": None}
    ls.protocol.notify(INDEX_READY, result)  # also on failure, so clients stop waiting
    ls.services.idle.poke()  # the folder's schedule can be read now
    if token:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))
    return result
