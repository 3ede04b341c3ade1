"""Is Growpilot getting better for this workspace? The figures behind `growpilot metrics`, the
`growpilot.metrics` command and the dashboard (growpilot/dashboard/), as pure functions over what the
EventStore (suggestions and what happened to them) and the adapter Registry (versions, their
evaluation and the gate's decision) already hold. Nothing here writes.

Counted: completions shown in an editor (kinds `inline` and `completion`, any source: model, cache,
typeahead); code actions and `growpilot complete` are left out. For a group of suggestions (a day, or
the adapter version that served them):

- `shown`, `accepted` (suggestions with at least one accept), `acceptance_rate` = accepted / shown;
- `accepted_chars`: characters of the accepted suggestions; `retained_chars`: each accepted one's length
  times how much of it was still in place at its last retention check (`retained_120s`, else
  `retained_30s`: learning/signals.py, a similarity 0…1); an accept never checked (its document was
  closed, the daemon stopped) adds nothing and is counted in `unmeasured`;
- `retained_per_shown` = retained_chars / shown: the figure that does not reward short trivial
  suggestions (one rejected long suggestion costs as much as an accepted short one earns);
- `up`, `down`: suggestions whose latest rating is 👍 / 👎;
- `latency_p50_ms`, `latency_p95_ms`: percentiles of the daemon's request-to-answer time, linear
  interpolation between the closest ranks (as numpy's default).

Days are local calendar days (`day_of`), by when the suggestion was shown.
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterable

BASE = "base"  # the label of suggestions the base model served (adapter null)
RETAINED = ("retained_120s", "retained_30s")  # later check first


def local_day(created: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(created))


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0…1) by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def retention(events: Iterable[dict]) -> float | None:
    """How much of an accepted suggestion was kept: the value of its latest check, the 2-minute one
    over the 30-second one; None when it was never checked."""
    found: dict[str, float] = {}
    for e in events:
        if e["kind"] in RETAINED:
            try:
                found[e["kind"]] = min(1.0, max(0.0, float(e["value"])))
            except (TypeError, ValueError):
                continue
    for kind in RETAINED:
        if kind in found:
            return found[kind]
    return None


def outcome(row: dict) -> dict:
    """One suggestion's figures: accepted, its characters, retained characters (None: never checked),
    latest rating."""
    events = row.get("events") or []
    accepted = any(e["kind"] == "accept" for e in events)
    rating = None
    for e in events:
        if e["kind"] == "rating" and e["value"] in ("up", "down"):
            rating = e["value"]
    chars = int(row.get("chars") or 0)
    kept = retention(events) if accepted else None
    return {"accepted": accepted, "chars": chars, "retained": None if kept is None else chars * kept,
            "rating": rating, "latency_ms": row.get("latency_ms")}


def summarize(rows: Iterable[dict]) -> dict:
    """The figures of a group of suggestions (metric rows as EventStore.metric_rows gives them)."""
    shown = accepted = accepted_chars = unmeasured = up = down = 0
    retained = 0.0
    latencies: list[float] = []
    for row in rows:
        o = outcome(row)
        shown += 1
        if o["latency_ms"] is not None:
            latencies.append(float(o["latency_ms"]))
        if o["accepted"]:
            accepted += 1
            accepted_chars += o["chars"]
            if o["retained"] is None:
                unmeasured += 1
            else:
                retained += o["retained"]
        up += o["rating"] == "up"
        down += o["rating"] == "down"
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    return {"shown": shown, "accepted": accepted, "acceptance_rate": _ratio(accepted, shown),
            "accepted_chars": accepted_chars, "retained_chars": round(retained, 3),
            "retained_per_shown": _ratio(retained, shown), "unmeasured": unmeasured, "up": up, "down": down,
            "latency_p50_ms": None if p50 is None else round(p50, 3),
            "latency_p95_ms": None if p95 is None else round(p95, 3)}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 6) if b else None


def grouped(rows: list[dict], key: Callable[[dict], str]) -> dict[str, dict]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return {k: summarize(v) for k, v in groups.items()}


def version_history(versions: Iterable) -> list[dict]:
    """Each registered adapter version (training/registry.AdapterVersion, oldest first): when, on how
    much data, what the evaluator measured (held-out NLL, exact match, sanity NLL of base, the adapter
    active then, and the candidate), the gate's decision and why, and its status now."""
    out = []
    for v in versions:
        meta = v.meta or {}
        metrics = meta.get("metrics") or {}

        def per(field: str) -> dict:
            return {who: (metrics.get(who) or {}).get(field) for who in ("base", "active", "candidate")}

        data = meta.get("data") or {}
        training = meta.get("training") or {}
        out.append({"version": v.version, "created": meta.get("created"), "trained_at": meta.get("trained_at"),
                    "status": v.status, "active": v.active, "decision": meta.get("decision"),
                    "reason": meta.get("reason"), "active_before": meta.get("active_before"),
                    "data": {k: data.get(k) for k in ("files", "samples", "feedback")},
                    "nll": per("nll"), "exact_match": per("exact_match"), "sanity_nll": per("sanity_nll"),
                    "steps": training.get("steps"), "stop_reason": training.get("stop_reason"),
                    "base_model": (meta.get("base_model") or {}).get("name")})
    return out


def compute(rows: list[dict], versions: Iterable = (), pointer: dict | None = None, index: dict | None = None,
            workspace: str | None = None, day_of: Callable[[float], str] = local_day,
            now: float | None = None, ab: dict | None = None) -> dict:
    """The whole metrics object (the `growpilot metrics --json` output; docs/PROTOCOL.md `growpilot.metrics`).

    rows: EventStore.metric_rows(workspace); versions: Registry.list(); pointer: the registry's
    active.json (its `history` of promotions and rollbacks); index: {files, chunks} of the workspace
    index, None when it has none; ab: the A/B result, under `ab` when given (absent: the dashboard
    shows "A/B off")."""
    now = time.time() if now is None else now
    history = version_history(versions)
    by_day = grouped(rows, lambda r: day_of(r["created"]))
    by_adapter = grouped(rows, lambda r: r.get("adapter") or BASE)
    created_of = {h["version"]: h["created"] for h in history}
    first_seen: dict[str, float] = {}
    for r in rows:
        first_seen.setdefault(r.get("adapter") or BASE, r["created"])

    def adapter_order(label: str) -> tuple:
        return (0, 0) if label == BASE else (1, int(label[1:]) if label[1:].isdigit() else 1 << 30, label)

    pointer = pointer or {}
    out = {
        "workspace": workspace,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        "totals": summarize(rows),
        "days": [{"day": day, **by_day[day]} for day in sorted(by_day)],
        "adapters": [{"adapter": label, "created": created_of.get(label),
                      "first_served": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(first_seen[label])),
                      **by_adapter[label]} for label in sorted(by_adapter, key=adapter_order)],
        "versions": history,
        "active": pointer.get("active"),
        "adapter_events": [{k: e.get(k) for k in ("time", "action", "from", "to", "reason")}
                           for e in pointer.get("history") or []],
        "index": index,
    }
    if ab is not None:
        out["ab"] = ab
    return out


# ----- reading the stores (thin: the CLI and the server call these)
def registry_state(root: str | os.PathLike[str]) -> tuple[list, dict]:
    """The workspace's adapter versions and its active pointer (active.json)."""
    from growpilot.training.corpus import read_json
    from growpilot.training.registry import POINTER, Registry

    registry = Registry.for_workspace(root)
    versions = registry.list()
    pointer = read_json(registry.folder / POINTER)
    active = registry.active()
    return versions, {"active": active.version if active else None, "history": pointer.get("history") or []}


def index_size(root: str | os.PathLike[str]) -> dict | None:
    """Files and chunks in the workspace's catalog, read-only (no embedder, no lock); None: never indexed."""
    from growpilot.paths import workspace_state_dir

    db = workspace_state_dir(root, create=False) / "catalog.sqlite"  # indexing/indexer.py DB_FILE (no heavy import)
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"{Path(db).as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
            chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return {"files": files, "chunks": chunks}


def workspace_metrics(events, root: str | os.PathLike[str], index: dict | None = None, **kw) -> dict:
    """compute() for one workspace from its stores: `events` an EventStore; `index` given by a caller that
    has the index open (the server), else read from the catalog."""
    real = os.path.realpath(root)
    versions, pointer = registry_state(real)
    return compute(events.metric_rows(real), versions, pointer,
                   index if index is not None else index_size(real), workspace=real, **kw)
