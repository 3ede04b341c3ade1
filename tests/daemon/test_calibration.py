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
