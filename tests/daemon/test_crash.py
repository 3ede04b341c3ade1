"""kill -9 an indexing process at several points; the next run must leave the index consistent
(with either vector store: FAISS, or Qdrant local mode)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from growpilot.config import Settings
from growpilot.indexing.indexer import WorkspaceIndex
from test_indexer import consistent

WORDS = "alpha beta gamma delta omega parse render load store fetch merge split score rank build".split()


def _module(rng: random.Random, n: int) -> str:
    out = [f'"""Module {n}."""\n']
    for f in range(4):
        name = "_".join(rng.sample(WORDS, 3)) + f"_{n}_{f}"
        body = "\n".join(f"    v{i} = {rng.randrange(1000)} * value + {i}" for i in range(rng.randrange(3, 12)))
        out.append(f"def {name}(value):\n{body}\n    return v0\n")
    return "\n\n".join(out)


def _start(env, *args):
    return subprocess.Popen([sys.executable, "-m", "growpilot", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def _mutate(ws, rng, round_no):
    files = sorted(p for p in ws.rglob("*.py"))
    for path in rng.sample(files, 3):
        path.write_text(_module(rng, 10_000 + round_no))
    files[round_no].unlink()
    (ws / f"pkg_new/added_{round_no}.py").parent.mkdir(exist_ok=True)
    (ws / f"pkg_new/added_{round_no}.py").write_text(_module(rng, 20_000 + round_no))


@pytest.mark.parametrize("vector_store", ["faiss", "qdrant"])
def test_kill_at_several_points_then_restart_is_consistent(workspace, embedder, vector_store):
    env = {**os.environ, "GROWPILOT_SETTINGS": json.dumps({"vectorStore": vector_store})}
    rng = random.Random(7)
    for n in range(240):
        path = workspace / f"pkg{n % 8}" / f"mod_{n}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(_module(rng, n))
    kills = 0
    for round_no, delay in enumerate([3.0, 7.0, 9.0, 11.0, 13.0, 16.0]):
        proc = _start(env, "index", str(workspace), "--json")
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        _mutate(workspace, rng, round_no)
    # A watcher killed while it is applying a burst of edits.
    proc = _start(env, "watch", str(workspace))
    time.sleep(12)
    for path in sorted(workspace.rglob("*.py"))[:30]:
        path.write_text(_module(rng, 30_000 + len(path.name)))
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert kills >= 3, "the workspace indexed too fast for the kills to land mid-run"

    done = subprocess.run([sys.executable, "-m", "growpilot", "index", str(workspace), "--json"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    index = WorkspaceIndex(workspace, embedder, Settings(vector_store=vector_store))
    try:
        assert index.refresh().changed == 0
        consistent(index)
        files = sorted(p.relative_to(workspace).as_posix() for p in workspace.rglob("*.py"))
        assert sorted(index.catalog.file_rows()) == files
        probe = workspace / "pkg_new" / "added_5.py"
        name = probe.read_text().split("def ")[1].split("(")[0]
        hit = index.search(name, k=1)[0]
        assert hit.path == "pkg_new/added_5.py" and name in hit.text
    finally:
        index.close()
