"""Context calibration (completion/calibration.py): a workspace is asked, on its own cross-file call
sites, whether retrieved context lowers the model's loss there, and snippets are shown only if so."""

import json

import pytest

from conftest import write_files
from growpilot.completion import calibration
from growpilot.completion.calibration import MIN_TASKS, decide
from growpilot.config import settings_from

NOUNS = ["route", "ticket", "parcel", "invoice", "driver", "vehicle", "depot", "shift", "rate", "zone"]


def test_context_stays_on_only_where_it_lowered_the_loss():
    helps = [(0.8, 1.0)] * MIN_TASKS
    hurts = [(1.1, 1.0)] * MIN_TASKS
    assert decide(helps, "m").enabled and decide(helps, "m").ratio == pytest.approx(0.8)
    assert not decide(hurts, "m").enabled and decide(hurts, "m").ratio == pytest.approx(1.1)
    few = decide(hurts[:MIN_TASKS - 1], "m")
    assert few.enabled and few.ratio is None and few.tasks == MIN_TASKS - 1  # too little to go on


def _workspace(root):
    """Ten modules each defining a helper, and ten callers that import and call them: ten call sites."""
    files = {}
    for n in NOUNS:
        files[f"lib/{n}s.py"] = f'def make_{n}(name, size):\n    """A {n} called `name`."""\n    return {{"{n}": name, "size": size}}\n'
        files[f"app/use_{n}.py"] = (f"from lib.{n}s import make_{n}\n\n\n"
                                    f"def build_{n}(rows):\n    first = rows[0]\n    made = make_{n}(first, len(rows))\n"
                                    f"    return made\n")
    write_files(root, files)


def test_a_workspace_is_calibrated_once_per_model_and_the_answer_gates_its_snippets(workspace, tiny_model):
    from growpilot.server.services import Services

    _workspace(workspace)
    settings, _ = settings_from({"modelPath": str(tiny_model)})
    services = Services(settings)
    services.pause_s = 0.0  # no user here to wait for (test_calibration_waits_for_a_pause)
    try:
        services.model.load(settings)
        folder = services.add_folder(workspace)
        services.index_folder(folder)
        assert services.workspace_for(str(workspace)).context_enabled  # not asked yet: on
        found = services.calibrate_context(folder)
        assert found.tasks >= MIN_TASKS and found.ratio is not None
        assert found.enabled == (found.ratio < 1.0)
        stored = json.loads((folder.index.state_dir / calibration.FILE).read_text())
        assert stored == found.as_dict() and services.status()["folders"][0]["context"] == found.as_dict()

        ws = services.workspace_for(str(workspace / "app" / "use_route.py"))
        assert ws.context_enabled == found.enabled
        # The engine follows it: no snippets where context was found not to help.
        from test_retrieval_context import _ctx

        ctx = _ctx("from lib.routes import make_route\n\n\ndef go(rows):\n    r = ", "app/new.py")
        assert bool(services.engine.retrieve(ws, ctx)) == found.enabled
        assert services.engine.ranked_context(ws, ctx)  # the ranking itself is unchanged

        # Asked once: a second open reads the answer; another model is asked again.
        folder.context = None
        assert services.calibrate_context(folder) == found
        assert calibration.load(folder.index.state_dir, "another-model") is None

        # The setting overrides the answer either way.
        for gate, expected in (("always", True), ("never", False)):
            services.apply_settings(settings_from({"modelPath": str(tiny_model), "contextGate": gate})[0])
            assert services.workspace_for(str(workspace)).context_enabled is expected
    finally:
        services.close()


def test_calibration_waits_for_a_pause_in_the_users_work(workspace, tiny_model):
    """Its prompts go to the model only after `pause_s` without edits or requests: while the user types,
    it neither delays their completions nor evicts the prompt cached for the next keystroke."""
    import threading
    import time

    from growpilot.server.services import Services

    _workspace(workspace)
    settings, _ = settings_from({"modelPath": str(tiny_model)})
    services = Services(settings)
    services.pause_s = 1.0
    scored = []
    services.engine.model.load(settings)
    backend = services.model.backend
    real_score = backend.score
    backend.score = lambda *a, **k: scored.append(time.monotonic()) or real_score(*a, **k)  # counts, then scores
    try:
        folder = services.add_folder(workspace)
        services.index_folder(folder)
        result = []
        worker = threading.Thread(target=lambda: result.append(services.calibrate_context(folder)))
        typing_until = time.monotonic() + 3.0
        worker.start()
        while time.monotonic() < typing_until:  # the user types: an edit every 0.2 s
            last_edit = time.monotonic()
            services.idle.activity()
            time.sleep(0.2)
        assert not scored and worker.is_alive()
        worker.join(120)
        assert result and result[0].tasks >= MIN_TASKS
        assert len(scored) == 2 * result[0].tasks and scored[0] >= last_edit + services.pause_s - 0.05
    finally:
        services.close()
