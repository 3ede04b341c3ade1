"""A/B of adapters: the active adapter against a challenger, on a stable split of the user's own
requests, judged by what the user kept.

- The split is by position: a hash of (file, line) and the two arms' names puts each line in one arm, so
  typing along a line, re-asking there, or coming back to it later always gets the same adapter, and the
  KV cache is not thrown away by switching adapters at every keystroke.
- An experiment is the pair (active, challenger); it starts when the pair is first served and is kept in
  the registry's folder (`ab.json`), so a restart continues it and a promotion or a new challenger starts
  a new one. Only suggestions served since then, by one of the two, count.
- Per arm: the figures of learning/metrics.py (shown, accepted, accepted-and-retained characters per
  shown suggestion, 👍/👎, latency). The decision is on retained characters per shown suggestion (it
  does not reward short trivial suggestions): Welch's test (normal approximation: there are hundreds of
  suggestions per arm before it can say anything), two-sided; acceptance gets a two-proportion z-test,
  reported alongside. A winner is named once each arm has MIN_SHOWN suggestions and p < ALPHA.

Pure, except `experiment` (reads and writes ab.json).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from growpilot.learning.metrics import BASE, outcome, summarize
from growpilot.training.corpus import read_json, write_json

STATE_FILE = "ab.json"
MIN_SHOWN = 100  # per arm before a winner is named: fewer cannot tell a few points of acceptance apart
ALPHA = 0.05
ARMS = ("active", "challenger")


@dataclass(frozen=True)
class Experiment:
    active: str  # an adapter label: a registry version ("v3") or BASE
    challenger: str
    started: float  # time.time() when this pair was first served

    def arm(self, path: str, line: int) -> str:
        """"active" or "challenger" for a position: half the lines each, the same line always the same."""
        h = hashlib.blake2b(f"{self.active}\0{self.challenger}\0{path}\0{line}".encode("utf-8", "surrogatepass"),
                            digest_size=8).digest()
        return ARMS[h[0] & 1]

    def label(self, arm: str) -> str:
        return self.active if arm == "active" else self.challenger


def challenger_label(setting: str, versions: Sequence[str], active: str) -> tuple[str | None, str | None]:
    """(the challenger's label, why none) for the `abChallenger` setting: "" = off; "base" = the base
    model; "latest" = the newest version that is not the active one (typically the last candidate the
    gate rejected); "vN" = that version. Never the active adapter itself."""
    setting = (setting or "").strip()
    if not setting:
        return None, None
    if setting == "latest":
        found = [v for v in versions if v != active]
        label = found[-1] if found else None
        why = "no other adapter version to compare with yet"
    elif setting == BASE:
        label, why = BASE, None
    else:
        label = setting if setting in versions else None
        why = f"abChallenger: unknown adapter version {setting!r} (known: {', '.join(versions) or 'none yet'})"
    if label == active:
        return None, f"abChallenger: {label} is the active adapter already"
    return label, None if label else why


def experiment(folder: Path, active: str, challenger: str, now: float | None = None) -> Experiment:
    """The experiment of this pair: continued from `folder`/ab.json when it is the same pair, else new."""
    state = read_json(folder / STATE_FILE)
    if state.get("active") == active and state.get("challenger") == challenger and state.get("started"):
        return Experiment(active, challenger, float(state["started"]))
    started = time.time() if now is None else now
    write_json(folder / STATE_FILE, {"active": active, "challenger": challenger, "started": started})
    return Experiment(active, challenger, started)


def current(folder: Path) -> Experiment | None:
    """The last experiment recorded in `folder` (None: never ran)."""
    state = read_json(folder / STATE_FILE)
    if not (state.get("active") and state.get("challenger") and state.get("started")):
        return None
    return Experiment(state["active"], state["challenger"], float(state["started"]))


def status(rows: Iterable[dict], exp: Experiment | None, on: bool = True) -> dict:
    """The `growpilot ab status` object from metric rows (EventStore.metric_rows): per arm its figures,
    the tests, the winner (None until significant) and whether to offer promoting the challenger."""
    if exp is None:
        return {"on": False, "experiment": None}
    arms: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    by_label = {exp.active: "active", exp.challenger: "challenger"}
    for row in rows:
        arm = by_label.get(row.get("adapter") or BASE)
        if arm is not None and row["created"] >= exp.started:
            arms[arm].append(row)
    figures = {arm: {"adapter": exp.label(arm), **summarize(arms[arm])} for arm in ARMS}
    kept = {arm: [o["retained"] or 0.0 for o in map(outcome, arms[arm])] for arm in ARMS}
    a, c = figures["active"], figures["challenger"]
    p_kept = welch_p(kept["active"], kept["challenger"])
    p_accept = two_proportion_p(a["accepted"], a["shown"], c["accepted"], c["shown"])
    enough = min(a["shown"], c["shown"]) >= MIN_SHOWN
    winner = None
    if enough and p_kept is not None and p_kept < ALPHA:
        winner = "challenger" if (c["retained_per_shown"] or 0) > (a["retained_per_shown"] or 0) else "active"
    return {"on": on, "experiment": {"active": exp.active, "challenger": exp.challenger,
                                     "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(exp.started))},
            "arms": figures,
            "tests": {"retained_per_shown_p": _round(p_kept), "acceptance_p": _round(p_accept),
                      "min_shown": MIN_SHOWN, "alpha": ALPHA},
            "winner": None if winner is None else {"arm": winner, "adapter": exp.label(winner)},
            "offer_promote": winner == "challenger"}


def workspace_status(events, root: str | os.PathLike[str], running: Experiment | None = None) -> dict:
    """`status` of a workspace from its stores: the experiment the server runs (`running`), else the last
    one recorded (a shell's view: `on` then says one was recorded, not that it serves now)."""
    from growpilot.training.registry import Registry

    real = os.path.realpath(root)
    experiment = running or current(Registry.for_workspace(real).folder)
    return status(events.metric_rows(real), experiment, on=experiment is not None)


def welch_p(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Two-sided p of Welch's test that the means differ (normal approximation); None below 2 each."""
    if len(xs) < 2 or len(ys) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    vx = sum((x - mx) ** 2 for x in xs) / (len(xs) - 1)
    vy = sum((y - my) ** 2 for y in ys) / (len(ys) - 1)
    se = math.sqrt(vx / len(xs) + vy / len(ys))
    if se == 0:
        return 1.0 if mx == my else 0.0
    return math.erfc(abs(mx - my) / se / math.sqrt(2))


def two_proportion_p(a: int, n: int, b: int, m: int) -> float | None:
    """Two-sided p of the pooled two-proportion z-test; None when an arm has nothing shown."""
    if not n or not m:
        return None
    pooled = (a + b) / (n + m)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    if se == 0:
        return 1.0
    return math.erfc(abs(a / n - b / m) / se / math.sqrt(2))


def _round(p: float | None) -> float | None:
    return None if p is None else round(p, 6)
