"""Idle-time training: the scheduler's decisions with a fake clock and pure inputs, the device and data
readings, and (over the real LSP server, tiny model) an idle workspace that starts a cycle by itself,
yields within about a second to an edit and resumes in the next idle window."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from growpilot.training.scheduler import (Device, Scheduler, device_check, gpu_free_mb, new_code_samples,
                                          new_feedback_samples, on_battery)
from lsp_fixtures import command, open_doc, start_session
from test_training_cycle import NOUNS, make_workspace, options

CPU = Device(True, "cpu", "the CPU")
H = 3600.0


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def plan(s: Scheduler, root=Path("/ws"), *, samples=500, device=CPU, running=None, idle_min=10, hours=6, need=100):
    return s.decide_for(root, idle_s=idle_min * 60, min_interval_s=hours * H, min_samples=need, new_samples=samples,
                        device=device, running=running)


def test_idle_starts_and_activity_resets_the_countdown():
    clock = Clock()
    s = Scheduler(clock)
    s.activity()
    clock.t += 9 * 60
    d = plan(s)
    assert (d.status, d.why) == ("scheduled", "idle") and d.as_dict(clock.t)["in_s"] == 60
    assert "in 60 s" in d.reason
    clock.t += 61
    assert plan(s).status == "start"
    s.activity()  # the user is back before it started: a full idle window again
    d = plan(s)
    assert d.status == "scheduled" and d.as_dict(clock.t)["in_s"] == 600
    clock.t += 600
    assert plan(s).status == "start"


def test_no_cycle_without_new_data_or_before_the_interval():
    clock = Clock()
    s = Scheduler(clock)
    root = Path("/ws")
    d = plan(s, samples=99)
    assert (d.status, d.why, d.new_samples, d.needed) == ("not_scheduled", "no_new_data", 99, 100)
    assert "99 new training samples" in d.reason
    s.started(root, automatic=True, chunks=["a" * 32])
    assert plan(s, running="ws").status == "running"
    assert s.ended(root, None) is False  # finished: the interval counts from here
    clock.t += 2 * H
    d = plan(s)
    assert (d.status, d.why) == ("scheduled", "interval") and d.as_dict(clock.t)["in_s"] == 4 * H
    assert plan(s, samples=0).status == "not_scheduled"  # the data check comes first
    clock.t += 4 * H
    assert plan(s).status == "start"
    assert plan(s, idle_min=0).why == "off"  # idleMinutes 0: never automatically
    assert plan(s, running="other").status == "running"  # one cycle at a time, whichever folder


def test_a_yielded_cycle_resumes_in_the_next_idle_window_without_new_data_or_interval():
    clock = Clock()
    s = Scheduler(clock)
    root = Path("/ws")
    s.started(root, automatic=True, chunks=["a" * 32])
    assert s.activity() == [root] and s.activity() == []  # yields once
    assert s.ended(root, "cancelled") is True
    d = plan(s, samples=0)
    assert d.status == "scheduled" and d.why == "idle" and d.reason.startswith("resumes in")
    clock.t += 601
    assert plan(s, samples=0).status == "start"
    s.started(root, automatic=True, chunks=["b" * 32])  # resuming: the data it sees is the old run's
    assert s.record(root).seen_chunks == ["a" * 12]
    assert s.ended(root, None) is False and plan(s, samples=0).status == "not_scheduled"


def test_activity_never_stops_a_cycle_the_user_started():
    s = Scheduler(Clock())
    root = Path("/ws")
    s.started(root, automatic=False, chunks=[])
    assert s.activity() == []
    assert s.ended(root, "cancelled") is False  # Cancel Training: no resume, the interval applies
    s.started(root, automatic=True, chunks=[])
    assert s.adopt(root) is True and s.activity() == []  # Retrain Now while it ran: it is the user's now


def test_battery_and_never_block_the_cpu_and_a_full_gpu_blocks():
    assert device_check("auto", "auto", None, True, 8000).why == "battery"
    assert device_check("auto", "auto", None, False, 8000).allowed
    assert device_check("auto", "auto", None, None, 8000).allowed  # unknown power: allowed
    assert device_check("auto", "always", None, True, 8000).allowed
    assert device_check("auto", "never", None, False, 8000).why == "cpu_never"
    assert device_check("auto", "auto", None, False, 500).why == "memory"
    assert device_check("auto", "never", [20_000], True, 8000).kind == "cuda"  # a GPU: the CPU rule does not apply
    assert device_check("auto", "auto", [1_000], False, 8000).why == "gpu_memory"
    assert device_check("cpu", "auto", [20_000], False, 8000).kind == "cpu"
    assert device_check("cuda", "always", None, False, 8000).why == "no_gpu"
    blocked = plan(Scheduler(Clock()), device=device_check("auto", "auto", None, True, 8000))
    assert (blocked.status, blocked.why) == ("not_scheduled", "battery")


def test_power_supply_readings(tmp_path):
    def supply(name, **files):
        (tmp_path / name).mkdir()
        for key, value in files.items():
            (tmp_path / name / key).write_text(value + "\n")

    assert on_battery(str(tmp_path)) is None  # a desktop or a container: nothing to read
    supply("BAT0", type="Battery", status="Discharging")
    supply("hidpp_battery_0", type="Battery", status="Full", scope="Device")  # a mouse
    assert on_battery(str(tmp_path)) is True
    supply("AC", type="Mains", online="1")
    assert on_battery(str(tmp_path)) is False


def test_gpu_readings_from_nvidia_smi(tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 81000\necho 1200\n")
    smi.chmod(0o755)
    assert gpu_free_mb(str(smi)) == [81000, 1200]
    assert device_check("auto", "never", gpu_free_mb(str(smi)), True, None).allowed  # the freest GPU
    broken = tmp_path / "broken-smi"
    broken.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    broken.chmod(0o755)
    assert gpu_free_mb(str(broken)) is None  # no driver: the CPU rules apply


def test_new_data_counts_changed_code_and_feedback():
    chunks = {"a" * 32: 60, "b" * 32: 30, "c" * 32: 6}
    assert new_code_samples(chunks, []) == 16  # 96 lines, one sample per 6
    assert new_code_samples(chunks, ["a" * 12, "c" * 12]) == 5  # only the changed function counts
    rows = [{"created": 10, "up": 1}, {"created": 20, "accepts": 1}, {"created": 30, "accepts": 1, "down": 1},
            {"created": 5, "up": 1}]
    assert new_feedback_samples(rows, None) == 3 + 2 + 3
    assert new_feedback_samples(rows, 8) == 3 + 2  # since the last cycle started; never a 👎 one


def test_the_schedule_survives_a_restart(tmp_path):
    clock = Clock()
    s = Scheduler(clock, lambda root: tmp_path)
    s.started(Path("/ws"), automatic=True, chunks=["a" * 32])
    s.activity()
    s.ended(Path("/ws"), "cancelled")
    again = Scheduler(clock, lambda root: tmp_path).record(Path("/ws"))
    assert again.resume and again.seen_chunks == ["a" * 12] and again.last_start == clock.t
    # A folder trained before the schedule existed (Retrain Now, `growpilot train`): its newest version's time.
    trained = Scheduler(clock, lambda root: tmp_path / "new", lambda root: clock.t - 3600)
    assert trained.record(Path("/ws")).last_end == clock.t - 3600
    assert plan(trained).why == "interval"


# ----- over LSP: the real server and trainer, the tiny model
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])
pytestmark = pytest.mark.usefixtures("small_training")
IDLE_S = 8.0  # longer than a trainer takes to checkpoint and exit on this loaded 2-core machine


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, workspace, tiny_model):
    make_workspace(workspace)
    # Steps the tiny model cannot finish in the seconds the test watches (trainMaxMinutes ends it).
    await start_session(lsp_client, workspace, options(
        tiny_model, trainMaxSteps=100_000, trainMaxMinutes=0.5, debounceMs=0, maxTokens=8, idleMinutes=IDLE_S / 60,
        trainMinNewSamples=20, trainMinIntervalHours=1, trainOnCpu="always"), "growpilot/trainingDone",
        "growpilot/trainingSchedule")
    yield
    await lsp_client.shutdown_session()


async def _learning(client) -> dict:
    return (await command(client, "growpilot.status"))["learning"][client.root.as_uri()]


async def _until(client, what, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await _learning(client)
        if what(state):
            return state
        await asyncio.sleep(0.1)
    raise TimeoutError(f"learning state never matched; last: {state}")


def _training(state: dict) -> bool:
    """The trainer subprocess reports steps (not only the phase: its process is up and working)."""
    return state["state"] == "training" and "%" in state["message"]


async def test_an_idle_workspace_trains_by_itself_yields_to_an_edit_and_resumes(client: LanguageClient):
    uri = open_doc(client, client.root, f"services/{NOUNS[0]}_service.py")
    opened = time.monotonic()
    # The user just opened a file: a full idle window before anything trains (a start the daemon was
    # about to make once the model had loaded is dropped, or yields at once).
    await asyncio.sleep(0.5)
    while time.monotonic() - opened < IDLE_S - 0.5:
        state = await _learning(client)
        assert state["state"] == "idle" and state["schedule"]["status"] == "scheduled", state
        await asyncio.sleep(0.2)
    # (A cycle started just before the didOpen arrived has ended, cancelled: the count starts here.)
    n = len(client.rec.seen["growpilot/trainingDone"])
    state = await _until(client, _training, 240)  # nobody touched anything: it started by itself
    assert time.monotonic() - opened >= IDLE_S and state["automatic"] is True
    assert len(client.rec.seen["growpilot/trainingDone"]) == n

    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(0, 0), types.Position(0, 0)), text="# back\n")]))
    edited = time.monotonic()
    pausing = await _until(client, lambda s: s["state"] != "training", 5)
    took = time.monotonic() - edited
    assert pausing["state"] in ("stopping", "idle") and took < 1.0, f"{took:.2f}s to yield: {pausing}"
    stopped = await _until(client, lambda s: s["state"] == "idle", 30)
    gone = time.monotonic() - edited  # the trainer saved its checkpoint and exited
    print(f"yield: state left training after {took:.2f}s, trainer gone after {gone:.2f}s")
    assert gone < 10, f"the trainer took {gone:.1f}s to checkpoint and exit"
    done = await client.rec.wait("growpilot/trainingDone", count=n + 1, timeout=30)
    assert (done["error_kind"], done["automatic"], done["yielded"]) == ("cancelled", True, True), done
    run_name = done["error"].split("resumes ")[1].split()[0]
    assert stopped["schedule"]["status"] == "scheduled" and stopped["schedule"]["reason"].startswith("resumes")

    # The next idle window resumes the run from its checkpoint (trainMinNewSamples and the interval waived).
    resumed = await _until(client, _training, 120)
    assert resumed["automatic"] is True
    done = await client.rec.wait("growpilot/trainingDone", count=n + 2, timeout=300)  # trainMaxMinutes ends it
    assert done["error"] is None and done["automatic"] is True and not done["yielded"], done
    assert done["steps"] > 0 and done["version"] == "v1"
    assert Path(done["run_dir"]).name == run_name  # the yielded run, from its checkpoint
    after = await _learning(client)
    assert after["last"]["version"] == "v1" and after["schedule"]["status"] == "not_scheduled", after
    assert after["schedule"]["why"] in ("no_new_data", "interval"), after
    assert client.rec.seen["growpilot/trainingSchedule"]
