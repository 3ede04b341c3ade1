"""`growpilot eval actions`: are the code actions' results ones a user would accept?

Over functions and methods of a real repository (a seeded sample of those with parameters and a body
of 3..60 lines, tests excluded), through the product's pipeline (`ActionService.resolve`: the model's
chat template, retrieval from the workspace's index, the file's conventions, the parse check and one
repair), on the model the settings name:

- Add docstring, on the file with that function's docstring removed (as if it had none): the edit is
  applied, the file parses, and the docstring names every parameter.
- Generate tests: the test file as the user gets it (a new one, or the existing one with the tests
  appended), written beside the project's tests, is collected by pytest without error
  (`--collect-only`), and the generated tests pass (each run under a time limit, the folder the module
  is imported from on `PYTHONPATH`; `--test-pythonpath` adds the project's dependencies). Also: the
  generated module alone, and the figures over the functions whose module imports here at all (an
  optional dependency missing here fails every test of that module, whoever wrote it).
- Refactor selection (no instruction: "clearer and simpler"), on the function's lines: an edit comes
  back (not refused) and the file parses.

A refusal counts against its share (it is the user's outcome). Latency is each resolve's own, median
per action. Generated test files are removed again; the workspace is otherwise only read.
"""

from __future__ import annotations

import asyncio
import ast
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from growpilot.actions import conventions, targets
from growpilot.actions.service import ActionError, ActionRequest
from growpilot.eval.stats import bootstrap_mean
from growpilot.server.services import Services

log = logging.getLogger(__name__)
ACTIONS = ("docstring", "tests", "refactor")
MIN_BODY, MAX_BODY = 3, 60
TEST_TIMEOUT_S = 60


@dataclass(frozen=True)
class FunctionTask:
    path: str  # workspace-relative
    qualname: str
    line: int  # the `def` line, 0-based
    start: int
    end: int


def function_tasks(files: dict[str, str], limit: int, seed: int = 0) -> list[FunctionTask]:
    """Functions and methods with at least one parameter and a body of MIN_BODY..MAX_BODY lines, outside
    test files; a seeded sample, at most one in three per file first so that no file dominates. Pure."""
    found: list[FunctionTask] = []
    for path, text in sorted(files.items()):
        if conventions.is_test_code(path) or path.startswith("docs/"):
            continue
        for t in targets.targets(text):
            if t.kind == "class" or not t.params or not MIN_BODY <= t.end - t.body[0] + 1 <= MAX_BODY:
                continue
            found.append(FunctionTask(path, t.qualname, t.def_line, t.start, t.end))
    rng = random.Random(seed)
    rng.shuffle(found)
    per_file: dict[str, int] = {}
    ranked = sorted(range(len(found)), key=lambda i: (_count(per_file, found[i].path), i))
    return [found[i] for i in ranked[:limit]]


def _count(seen: dict[str, int], path: str) -> int:
    seen[path] = seen.get(path, 0) + 1
    return (seen[path] - 1) // 3


def without_docstring(text: str, line: int) -> str:
    """The file with the docstring of the function at `line` removed (its lines; a body of only a
    docstring gets `pass`). Pure."""
    t = targets.target_at(text, line)
    if t is None or t.docstring is None:
        return text
    lines = text.split("\n")
    l0, _, l1, _ = t.docstring
    rest = lines[:l0] + lines[l1 + 1:]
    if t.end == l1:  # nothing but the docstring
        rest.insert(l0, lines[l0][:len(lines[l0]) - len(lines[l0].lstrip())] + "pass")
    return "\n".join(rest)


def run(services: Services, workspace: str, limit: int = 50, rows_path: str | None = None,
        test_pythonpath: str = "", actions: Sequence[str] = ACTIONS) -> dict:
    unknown = set(actions) - set(ACTIONS)
    if unknown or not actions:
        return {"error": f"actions are {', '.join(ACTIONS)}; got {', '.join(sorted(unknown)) or 'none'}"}
    folder = services.add_folder(workspace)
    t0 = time.perf_counter()
    services.index_folder(folder)
    index_s = time.perf_counter() - t0
    files = {p: (folder.root / p).read_text(errors="replace") for p in folder.index.files() if p.endswith(".py")}
    tasks = function_tasks(files, limit)
    if not tasks:
        return {"tasks": 0, "error": f"no Python functions found in {folder.root}"}
    started = time.perf_counter()
    rows = []
    out = open(rows_path, "w") if rows_path else None  # row by row: a run stopped early still has them
    for n, task in enumerate(tasks):
        path = str(folder.root / task.path)
        text = files[task.path]
        row = {"path": task.path, "function": task.qualname, "line": task.line + 1}
        if "docstring" in actions:
            row["docstring"] = _docstring(services, path, without_docstring(text, task.line), task)
        if "tests" in actions:
            row["tests"] = _tests(services, folder.root, path, text, task, test_pythonpath)
        if "refactor" in actions:
            row["refactor"] = _refactor(services, path, text, task)
        rows.append(row)
        if out is not None:
            out.write(json.dumps(row) + "\n")
            out.flush()
        log.info("eval actions: %d/%d %s:%s %.0fs", n + 1, len(tasks), task.path, task.qualname,
                 time.perf_counter() - started)
    if out is not None:
        out.close()
    return summarize(rows, str(folder.root), services.model.backend.name, round(index_s, 1),
                     round(time.perf_counter() - started, 1))


def summarize(rows: list[dict], workspace: str, model: str, index_s: float, seconds: float) -> dict:
    """The shares (with bootstrap 95% intervals) and latencies of evaluated rows. Pure."""
    def share(values: list[bool]) -> dict:
        if not values:
            return {"rate": None, "ci95": None, "n": 0}
        lo, hi = bootstrap_mean([float(v) for v in values])
        return {"rate": round(statistics.fmean(values), 4), "ci95": [round(lo, 4), round(hi, 4)], "n": len(values)}

    def latency(action: str) -> dict:
        ms = [r[action]["latency_ms"] for r in rows if r[action].get("latency_ms") is not None]
        return {"median_ms": round(statistics.median(ms)) if ms else None, "max_ms": round(max(ms)) if ms else None,
                "n": len(ms)}

    def refusals(action: str) -> dict:
        out: dict[str, int] = {}
        for r in rows:
            if r[action].get("refused"):
                key = r[action]["refused"].split(":")[0].split(";")[0]
                out[key] = out.get(key, 0) + 1
        return out

    def docstring(d: list[dict]) -> dict:
        return {"parses_and_names_every_parameter": share([x["parses"] and x["all_params"] for x in d]),
                "parses": share([x["parses"] for x in d]), "repaired": sum(bool(x.get("repaired")) for x in d),
                "refused": refusals("docstring"), "latency": latency("docstring")}

    def tests(t: list[dict]) -> dict:
        imports = [x for x in t if x.get("module_imports")]  # the functions whose module imports here
        return {"collected_without_error": share([x["collected"] for x in t]), "passed": share([x["passed"] for x in t]),
                "alone": {"collected_without_error": share([x["alone_collected"] for x in t]),
                          "passed": share([x["alone_passed"] for x in t])},
                "module_imports_here": {"n": len(imports),
                                        "collected_without_error": share([x["collected"] for x in imports]),
                                        "passed": share([x["passed"] for x in imports])},
                "repaired": sum(bool(x.get("repaired")) for x in t), "refused": refusals("tests"),
                "latency": latency("tests")}

    def refactor(f: list[dict]) -> dict:
        return {"parses": share([x["parses"] for x in f]), "repaired": sum(bool(x.get("repaired")) for x in f),
                "refused": refusals("refactor"), "latency": latency("refactor")}

    figures = {"docstring": docstring, "tests": tests, "refactor": refactor}
    return {
        "workspace": workspace, "model": model, "functions": len(rows),
        **{a: figures[a]([r[a] for r in rows]) for a in ACTIONS if rows and a in rows[0]},
        "index_seconds": index_s, "seconds": seconds,
    }


def _resolve(services: Services, req: ActionRequest) -> tuple[object | None, dict]:
    try:
        result = asyncio.run(services.actions.resolve(req))
    except ActionError as exc:
        gen = services.events.generation(exc.generation_id) if exc.generation_id else None
        latency = gen["latency_ms"] if gen else None
        return None, {"refused": str(exc), "latency_ms": latency}
    return result, {"latency_ms": result.latency_ms, "repaired": result.repaired}


def _docstring(services: Services, path: str, text: str, task: FunctionTask) -> dict:
    # The docstring is below the `def` line: removing it left that line where it was.
    result, row = _resolve(services, ActionRequest("docstring", path, text, (task.line, 0), (task.line, 0)))
    row.update(parses=False, all_params=False)
    if result is not None:
        after = result.files[0].text_after
        row["parses"] = _parses(after)
        row["all_params"] = not result.timings.get("params_missing")
        row["params_missing"] = result.timings.get("params_missing")
        row["docstring"] = result.output
    return row


def _tests(services: Services, root: Path, path: str, text: str, task: FunctionTask, pythonpath: str) -> dict:
    result, row = _resolve(services, ActionRequest("tests", path, text, (task.line, 0), (task.line, 0)))
    row.update(collected=False, passed=False, alone_collected=False, alone_passed=False)
    if result is None:
        return row
    fe = result.files[0]
    import_root = str(root / result.timings.get("import_root", ""))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (import_root, str(root), pythonpath,
                                                                   os.environ.get("PYTHONPATH", "")) if p)}
    names = generated_tests(result.output)
    row.update(code=result.output, test_file=os.path.relpath(fe.path, root), tests_generated=len(names),
               module=result.timings.get("module"), module_imports=_imports(result.timings.get("module"), root, env))
    # As the user gets it (a new file, or the existing one with the tests appended: its imports, its
    # fixtures — and its own dependencies), then the generated module alone; only the new tests run.
    for prefix, content in (("", fe.text_after), ("alone_", result.output.rstrip() + "\n")):
        out = Path(fe.path).parent / f"test_growpilot_eval_{os.getpid()}.py"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(content)
        try:
            collect = _pytest(out, root, env, "--collect-only")
            row[prefix + "collected"] = collect.returncode == 0
            tail = collect.stdout[-400:]
            if row[prefix + "collected"] and names:
                ran = _pytest(out, root, env, *(f"{out}::{name}" for name in names))
                row[prefix + "passed"] = ran.returncode == 0
                tail = ran.stdout[-400:]
            row[prefix + "pytest_tail"] = tail
        finally:
            out.unlink(missing_ok=True)
    return row


_IMPORTS: dict[str, bool] = {}


def _imports(module: str | None, root: Path, env: dict) -> bool:
    """Whether the module under test imports here at all (its own optional dependencies installed)."""
    if not module:
        return False
    if module not in _IMPORTS:
        done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=root, env=env, capture_output=True,
                              timeout=TEST_TIMEOUT_S)
        _IMPORTS[module] = done.returncode == 0
    return _IMPORTS[module]


def generated_tests(code: str) -> list[str]:
    """The top-level tests a generated module defines (test functions, Test classes). Pure."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    return [n.name for n in tree.body if (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                                          and n.name.startswith("test")) or
            (isinstance(n, ast.ClassDef) and n.name.startswith("Test"))]


def _pytest(file: Path, root: Path, env: dict, *args: str):
    """`--collect-only` of the file, or a run of the node ids in `args`."""
    targets_ = [a for a in args if "::" in a] or [str(file)]
    options = [a for a in args if "::" not in a]
    try:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                               "--rootdir", str(root), *options, *targets_], cwd=root, env=env, capture_output=True,
                              text=True, timeout=TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, 124, (exc.stdout or b"").decode(errors="replace")
                                           if isinstance(exc.stdout, bytes) else exc.stdout or "timed out", "")


def _refactor(services: Services, path: str, text: str, task: FunctionTask) -> dict:
    req = ActionRequest("refactor", path, text, (task.start, 0), (task.end + 1, 0))
    result, row = _resolve(services, req)
    row["parses"] = result is not None and _parses(result.files[0].text_after)
    if result is not None:
        row["edits"] = len(result.files[0].edits)
    return row


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError):
        return False
