"""What a user can see and undo of what Growpilot recorded (docs/feedback.md): `growpilot feedback
export` (one JSON object per suggestion, with what was done with it), `growpilot feedback forget`
(deleted from the history, from the training data of later fine-tunes, and from the export), and
`growpilot prompt` (the exact prompt of one suggestion, and which snippets and examples were in it).
The store queries are EventStore's; this module shapes their rows and ties the parts together."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from typing import Iterator, Sequence

from growpilot.learning.events import EventStore

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
PRUNED_NOTE = ("its prompt was cleared by the history retention (historyMaxDays / historyMaxMb; "
               "`growpilot history prune`): the suggestion, its snippets list and its events are kept")


# ----- times
def parse_time(value: str, end: bool = False) -> float:
    """Unix seconds from `value`: unix seconds ("1767225600", "1767225600.5"), an ISO-8601 date
    ("2026-03-01": local midnight; with `end`, the midnight after it, so that an end date includes its
    whole day) or date and time ("2026-03-01T14:30", "2026-03-01 14:30:00+01:00", "…Z"; no offset:
    local time). ValueError otherwise."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(f"not a time: {value!r}")
        return seconds
    try:
        if _DATE.fullmatch(text):
            day = dt.date.fromisoformat(text) + dt.timedelta(days=1 if end else 0)
            return dt.datetime.combine(day, dt.time()).timestamp()
        return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text).timestamp()
    except ValueError:
        raise ValueError(f"not a time: {value!r} (an ISO-8601 date or date and time, e.g. 2026-03-01 or "
                         "2026-03-01T14:30:00+01:00, or unix seconds)") from None


def iso(seconds: float) -> str:
    """UTC, ISO-8601, milliseconds: 2026-03-01T13:30:00.123Z."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----- export
def _provenance(row: dict) -> dict | None:
    try:
        value = json.loads(row["provenance"]) if row.get("provenance") else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def export_record(row: dict) -> dict:
    """One generation (an EventStore row with `events`) in the export's stable shape (docs/feedback.md)."""
    prov = _provenance(row)
    pruned = bool(row.get("pruned"))
    events = [{"id": e["id"], "kind": e["kind"], "value": e["value"], "source": e["source"], "created": e["created"],
               "time": iso(e["created"])} for e in row.get("events", [])]
    ratings = [e["value"] for e in events if e["kind"] == "rating"]
    return {
        "id": row["id"], "created": row["created"], "time": iso(row["created"]), "workspace": row["workspace"],
        "path": row["path"], "line": row["line"], "character": row["character"], "kind": row["kind"],
        "mode": row["mode"], "source": row["source"], "model": row["model"], "adapter": row["adapter"],
        "latency_ms": row["latency_ms"], "prompt": None if pruned else (row["prompt"] or ""), "pruned": pruned,
        "output": row["output"], "snippets": prov.get("snippets") if prov else None,
        "examples": prov.get("examples") if prov else None, "events": events,
        "accepts": sum(1 for e in events if e["kind"] == "accept"), "rating": ratings[-1] if ratings else None,
    }


def export(store: EventStore, workspace: str, since: float | None = None, until: float | None = None) -> Iterator[dict]:
    for row in store.generations_with_events(workspace, since, until):
        yield export_record(row)


# ----- forget
def store_path(workspace: str, file: str, cwd: str | None = None) -> str:
    """`file` as the history names it (relative to the workspace): an absolute path, or a relative one
    that exists from the current folder inside the workspace, is made relative to the workspace; any
    other relative path is taken as already relative to it (as the export prints it)."""
    if file.strip() in ("", ".", "./"):
        raise ValueError("--file names the whole workspace: use `growpilot history clear --workspace` for that")
    root = os.path.realpath(workspace)
    candidate = file if os.path.isabs(file) else os.path.join(cwd or os.getcwd(), file)
    if os.path.isabs(file) or os.path.exists(candidate):
        rel = os.path.relpath(os.path.realpath(candidate), root)
        if not rel.startswith(".." + os.sep) and rel != "..":
            return rel
        if os.path.isabs(file):
            raise ValueError(f"{file} is not inside the workspace {root}")
    rel = os.path.normpath(file)
    if rel.startswith(".." + os.sep) or rel in ("..", "."):
        raise ValueError(f"{file} is not inside the workspace {root}")
    return rel


def _healed(timings) -> str:
    try:
        return (json.loads(timings) if isinstance(timings, str) else timings or {}).get("healed", "") or ""
    except (ValueError, AttributeError):
        return ""


def forget(store: EventStore, workspace: str, ids: Sequence[str] | None = None, path: str | None = None,
           since: float | None = None, until: float | None = None, dry_run: bool = False) -> dict:
    """Forget the workspace's generations matching every filter given (at least one): deleted with their
    events from the store, and their samples from the workspace's training run folders (so that no later
    fine-tune, resumed or new, trains on them). Returns the summary `growpilot feedback forget --json`
    prints (docs/feedback.md)."""
    from growpilot.training.data import Sample
    from growpilot.training.forgetting import Matcher, forget_in_runs

    if ids is None and path is None and since is None and until is None:
        raise ValueError("say what to forget: --id, --file, --since and/or --until")
    if since is not None and until is not None and since >= until:
        raise ValueError("--since must be before --until")
    chosen = store.select_ids(workspace, ids, path, since, until)
    keys, loose, events = set(), set(), 0
    for row in store.generations_with_events(workspace, ids=chosen):  # what training copies may hold
        events += len(row["events"])
        if row["kind"] == "action":
            continue  # code actions are never completion training data
        target = _healed(row["timings"]) + (row["output"] or "")
        if row["prompt"]:
            keys.add(Sample("feedback", row["prompt"], target).key)
        elif row["pruned"]:
            loose.add((row["path"] or "", target))
    matched = set(chosen)
    result = {"workspace": workspace, "dry_run": dry_run, "generations": len(chosen), "events": events,
              "ids": chosen, "not_found": [i for i in dict.fromkeys(ids or ()) if i not in matched],
              "training": {"runs": 0, "samples": 0, "abandoned": [], "adapters": [], "training_running": False}}
    if dry_run:
        return result
    result.update(store.forget(workspace, chosen))
    # Every id ever forgotten here, not only these: a forget that ran while a cycle was writing its run
    # folder is caught up with now.
    match = Matcher(matched | store.forgotten_ids(workspace), keys, loose)
    result["training"] = forget_in_runs(workspace, match)
    return result


def forget_text(r: dict) -> str:
    """The one-line summary of `forget` without --json."""
    verb = "would forget" if r["dry_run"] else "forgot"
    text = f"{verb} {r['generations']} suggestions and {r['events']} accepts/ratings of {r['workspace']}"
    t = r["training"]
    if t["samples"]:
        text += f"; {t['samples']} training samples removed from {t['runs']} run folders"
    if t["abandoned"]:
        text += f" ({len(t['abandoned'])} unfinished runs will not be resumed)"
    if t["adapters"]:
        text += (f"; adapters {', '.join(t['adapters'])} were trained with some of them "
                 "(`growpilot adapters list|rollback`)")
    if t["training_running"]:
        text += "; a training cycle is running and may have read them: run this again when it ends"
    if r["not_found"]:
        text += f"; no such suggestion in this workspace: {', '.join(r['not_found'])}"
    return text


# ----- prompt
def prompt_view(row: dict) -> dict:
    """`growpilot prompt --json`: {id, prompt, examples, snippets, pruned, note, …}. `prompt` is null when
    there is none to show (cleared by retention, or a cached / typed-ahead suggestion), and `note` says
    why; `examples` / `snippets` are null when the record has no provenance (older records, code actions)."""
    prov = _provenance(row)
    pruned = bool(row.get("pruned"))
    note = None
    if pruned:
        note = PRUNED_NOTE
    elif not row.get("prompt"):
        note = (f"this suggestion was served from the {row.get('source')} (the rest of an earlier suggestion, "
                "or the same context again): it had no prompt of its own")
    return {"id": row["id"], "prompt": row.get("prompt") or None, "examples": prov.get("examples") if prov else None,
            "snippets": prov.get("snippets") if prov else None, "pruned": pruned, "note": note, "kind": row["kind"],
            "source": row["source"], "path": row["path"], "line": row["line"], "character": row["character"],
            "model": row["model"], "adapter": row["adapter"], "created": row["created"], "time": iso(row["created"])}


def prompt_header(view: dict) -> str:
    """What `growpilot prompt` says on stderr about a prompt it prints on stdout."""
    where = f"{view['path']}:{(view['line'] or 0) + 1}:{(view['character'] or 0) + 1}"
    head = f"generation {view['id']}: {view['kind']} at {where}, {view['time']}, model {view['model']}"
    head += f", adapter {view['adapter']}" if view["adapter"] else ""
    if view["snippets"] is None:
        return head + "\nsnippets and examples: not recorded for this suggestion"
    spans = [f"{s['path']}:{s['start_line']}-{s['end_line']}" if s.get("start_line") else s["path"]
             for s in view["snippets"]]
    return (head + f"\nsnippets: {', '.join(spans) or 'none'}"
            + f"\nexamples: {', '.join(view['examples'] or []) or 'none'}")
