"""LSP types for the code actions (textDocument/codeAction, codeAction/resolve): offers become
`CodeAction`s whose `data` says what to resolve, that `data` becomes an `ActionRequest`, and a result
becomes a `WorkspaceEdit` (or, for Explain, a markdown file and the command that shows it). Positions
are the client's units (UTF-16 unless negotiated otherwise) here and code points in the service; lines
are the text split at "\\n" on both sides. See docs/PROTOCOL.md, "Code actions"."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lsprotocol import types

from growpilot.actions.edits import FileEdit
from growpilot.actions.service import ACTIONS, KINDS, ActionError, ActionRequest, ActionResult, ActionService, Problem
from growpilot.paths import growpilot_home

SHOW_EXPLANATION = "growpilot.showExplanation"
ACCEPT = "growpilot.accept"


def explanations_dir() -> Path:
    return growpilot_home() / "explanations"


@dataclass(frozen=True)
class ActionData:
    """A listed action's `data`: what resolve needs, and nothing the client must understand."""
    action: str
    uri: str
    version: int | None
    range: dict  # LSP Range, client units
    diagnostic: dict | None = None  # fix: {message, range, source}
    instruction: str | None = None  # refactor: set by the client before resolving (optional)

    def as_json(self) -> dict:
        out = {"action": self.action, "uri": self.uri, "version": self.version, "range": self.range}
        if self.diagnostic is not None:
            out["diagnostic"] = self.diagnostic
        if self.instruction:
            out["instruction"] = self.instruction
        return out


def plain(value: Any) -> Any:
    """Payloads pygls leaves as attrs objects or namedtuples, as JSON-like dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if hasattr(value, "__attrs_attrs__"):
        return {a.name: plain(getattr(value, a.name)) for a in value.__attrs_attrs__}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


# ----- positions
def to_points(lines: list[str], pos: dict | types.Position, codec) -> tuple[int, int]:
    """A client position as (line, code-point column), clamped to the text."""
    line, character = (pos["line"], pos["character"]) if isinstance(pos, dict) else (pos.line, pos.character)
    if line >= len(lines):
        return len(lines) - 1, len(lines[-1])
    text, units = lines[max(0, line)], 0
    for i, c in enumerate(text):
        if units >= character:
            return line, i
        units += codec.client_num_units(c)
    return line, len(text)


def to_client(lines: list[str], pos: tuple[int, int], codec) -> types.Position:
    line, col = pos
    if line >= len(lines):
        return types.Position(line, 0)
    return types.Position(line, codec.client_num_units(lines[line][:col]))


def _range_json(r: types.Range) -> dict:
    return {"start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character}}


# ----- listing
def list_actions(service: ActionService, path: str, doc, params: types.CodeActionParams) -> list[types.CodeAction]:
    lines = doc.source.split("\n")
    codec = doc.position_codec
    start, end = to_points(lines, params.range.start, codec), to_points(lines, params.range.end, codec)
    diagnostics = list(params.context.diagnostics or [])
    problems = [Problem(d.message, to_points(lines, d.range.start, codec), to_points(lines, d.range.end, codec),
                        d.source) for d in diagnostics]
    invoked = params.context.trigger_kind != types.CodeActionTriggerKind.Automatic
    only = [str(k.value if hasattr(k, "value") else k) for k in params.context.only or []] or None
    out = []
    for offer in service.offers(path, doc.source, start, end, problems, invoked, only):
        data = ActionData(offer.action, params.text_document.uri, doc.version, _range_json(params.range))
        fixes = None
        if offer.problem is not None:
            d = diagnostics[offer.problem]
            fixes = [d]
            data = ActionData(offer.action, data.uri, data.version, data.range,
                              {"message": d.message, "range": _range_json(d.range), "source": d.source})
        out.append(types.CodeAction(
            title=offer.title, kind=offer.kind, diagnostics=fixes, data=data.as_json(),
            disabled=types.CodeActionDisabled(reason=offer.disabled) if offer.disabled else None))
    return out


# ----- resolving
def read_data(data: Any) -> ActionData:
    """The `data` of a listed action, checked; ValueError says what is wrong."""
    data = plain(data)
    if not isinstance(data, dict) or data.get("action") not in ACTIONS or not isinstance(data.get("uri"), str):
        raise ValueError("not a Growpilot code action: data must be what textDocument/codeAction listed "
                         "({action, uri, version, range})")
    rng = data.get("range")
    if not (isinstance(rng, dict) and isinstance(rng.get("start"), dict) and isinstance(rng.get("end"), dict)):
        raise ValueError("data.range must be an LSP Range")
    diagnostic = data.get("diagnostic")
    if data["action"] == "fix" and not (isinstance(diagnostic, dict) and isinstance(diagnostic.get("message"), str)
                                        and isinstance(diagnostic.get("range"), dict)):
        raise ValueError("a fix needs data.diagnostic {message, range}")
    instruction = data.get("instruction")
    if instruction is not None and not isinstance(instruction, str):
        raise ValueError("data.instruction must be a string")
    version = data.get("version")
    return ActionData(data["action"], data["uri"], version if isinstance(version, int) else None, rng, diagnostic,
                      instruction)


def action_request(path: str, doc, data: ActionData) -> ActionRequest:
    lines = doc.source.split("\n")
    codec = doc.position_codec
    problem = None
    if data.diagnostic is not None:
        d = data.diagnostic
        problem = Problem(d["message"], to_points(lines, d["range"]["start"], codec),
                          to_points(lines, d["range"]["end"], codec), d.get("source"))
    return ActionRequest(data.action, path, doc.source, to_points(lines, data.range["start"], codec),
                         to_points(lines, data.range["end"], codec), problem, data.instruction)


def workspace_edit(result: ActionResult, request: ActionRequest, data: ActionData, codec,
                   uri_of: Callable[[str], tuple[str, int | None]], capabilities: types.ClientCapabilities
                   ) -> types.WorkspaceEdit | None:
    """The result's file edits for the client: versioned document changes (a new test file created
    first) when it supports them, else plain `changes`. `uri_of(path)` gives an open document's uri and
    version, else the file's uri and None."""
    if not result.files:
        return None
    ws_caps = capabilities.workspace.workspace_edit if capabilities.workspace else None
    document_changes = bool(ws_caps and ws_caps.document_changes)
    can_create = bool(ws_caps and types.ResourceOperationKind.Create in (ws_caps.resource_operations or []))
    changes: dict[str, list[types.TextEdit]] = {}
    ops: list = []
    for fe in result.files:
        uri, version = (data.uri, data.version) if fe.path == request.path else uri_of(fe.path)
        edits = _text_edits(fe, codec)
        if fe.create:
            if not (document_changes and can_create):
                raise ActionError(f"{os.path.basename(fe.path)} is a new file, and this editor cannot create files "
                                  "through LSP (workspaceEdit.resourceOperations: create)")
            ops.append(types.CreateFile(uri=uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=True)))
            version = None
        if document_changes:
            ops.append(types.TextDocumentEdit(types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                                              edits))
        else:
            changes.setdefault(uri, []).extend(edits)
    return types.WorkspaceEdit(document_changes=ops) if document_changes else types.WorkspaceEdit(changes=changes)


def _text_edits(fe: FileEdit, codec) -> list[types.TextEdit]:
    lines = fe.text_before.split("\n")
    return [types.TextEdit(types.Range(to_client(lines, e.start, codec), to_client(lines, e.end, codec)), e.new_text)
            for e in fe.edits]


def focus_json(result: ActionResult, request: ActionRequest, data: ActionData,
               uri_of: Callable[[str], tuple[str, int | None]]) -> dict:
    """{generationId, uri, line}: where the result is (the rating lens goes above that line)."""
    path, line = result.focus or (request.path, request.start[0])
    uri = data.uri if path == request.path else uri_of(path)[0]
    return {"generationId": result.generation_id, "uri": uri, "line": line, "action": result.action}


def write_explanation(result: ActionResult, rel: str) -> Path:
    """Explain's markdown as a file any client can show (window/showDocument)."""
    first, last = result.timings.get("region", [None, None])
    where = f"`{rel}`" + (f", lines {first}–{last}" if first else "")
    folder = explanations_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{result.generation_id}.md"
    out.write_text(f"# Growpilot: explanation of {where}\n\n{result.markdown}\n", encoding="utf-8")
    return out


def resolved(action: types.CodeAction, result: ActionResult, request: ActionRequest, data: ActionData, codec,
             uri_of: Callable[[str], tuple[str, int | None]], capabilities, rel: str) -> types.CodeAction:
    """The listed action with its edit (or Explain's command), its generation id in `data`, and a
    command the client runs once it has applied it: `growpilot.accept` (the action was applied), or
    `growpilot.showExplanation`."""
    focus = focus_json(result, request, data, uri_of)
    action.data = {**data.as_json(), "generationId": result.generation_id}
    if result.action == "explain":
        file = write_explanation(result, rel)
        action.command = types.Command(title="Growpilot: show the explanation", command=SHOW_EXPLANATION,
                                       arguments=[{**focus, "explanationUri": file.as_uri()}])
        return action
    action.edit = workspace_edit(result, request, data, codec, uri_of, capabilities)
    action.command = types.Command(title="Growpilot: action applied", command=ACCEPT,
                                   arguments=[{**focus, "source": "codeAction"}])
    return action


def explanation_path(uri: str) -> Path | None:
    """The explanation file a `growpilot.showExplanation` names, if it is one of ours."""
    from pygls.uris import to_fs_path

    path = to_fs_path(uri) if uri.startswith("file:") else None
    if not path:
        return None
    real, folder = Path(os.path.realpath(path)), Path(os.path.realpath(explanations_dir()))
    return real if real.parent == folder and real.suffix == ".md" and real.is_file() else None


__all__ = ["KINDS", "ActionData", "list_actions", "read_data", "action_request", "resolved", "explanation_path",
           "SHOW_EXPLANATION"]
