"""The daemon's view of learning: progress folded into what a user sees, failures named, the last
outcome remembered across restarts (from the registry)."""

from growpilot.training.errors import Cancelled, TooLittleCode, TrainerFailed
from growpilot.training.registry import Registry
from growpilot.training.supervisor import LearningState, error_kind, last_outcome, progress_view


def test_progress_events_become_the_status_a_user_reads():
    state = LearningState()
    assert progress_view({"event": "phase", "phase": "data"}, state) and state.state == "preparing"
    assert progress_view({"event": "step", "step": 9, "steps": 20, "eta_s": 130}, state)
    assert (state.state, state.percent, state.message) == ("training", 45, "training 45%, ~3 min left")
    assert progress_view({"event": "phase", "phase": "evaluating"}, state) and state.state == "evaluating"
    assert progress_view({"event": "eval_progress", "done": 1, "total": 5}, state) and state.message == "evaluating 20%"
    assert not progress_view({"event": "eval", "heldout_loss": 1.0}, state)  # nothing a user sees changed


def test_failures_have_a_kind_clients_can_branch_on():
    assert [error_kind(e) for e in (TooLittleCode("x"), Cancelled("x"), TrainerFailed("x"))] == [
        "too_little_code", "cancelled", "trainer_failed"]


def test_the_last_outcome_comes_from_the_registry(workspace, tmp_path):
    assert last_outcome(workspace) is None
    weights = tmp_path / "w"
    weights.mkdir()
    (weights / "adapter_config.json").write_text("{}")
    Registry.for_workspace(workspace).add(weights, {"decision": "rejected", "reason": "no better than the base"})
    assert last_outcome(workspace) | {"finished": None} == {"decision": "rejected", "version": "v1",
                                                             "reason": "no better than the base", "finished": None}
