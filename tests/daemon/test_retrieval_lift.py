"""`growpilot eval retrieval-lift`: which lines become tasks (pure), and the command end to end with the
tiny model (the real-model figures are in the README)."""

import json

from conftest import run_cli, write_files
from growpilot.completion.crossfile import build_tasks

FILES = {
    "geo/distance.py": "def haversine_km(a, b):\n    return 0.0\n",
    "notes.py": '"""Distances come from haversine_km(a, b)."""\n',  # a docstring's mention is no call: no task
    "trips.py": ("from geo.distance import haversine_km\n\n\n"
                 "def local_helper(x):\n    return x\n\n\n"
                 "def trip(stops):\n"
                 "    first = local_helper(stops)\n"  # defined in this file: not a task
                 "    total = haversine_km(stops[0], stops[1])\n"  # first use of an imported name: the task
                 "    again = haversine_km(stops[1], stops[2])\n"  # used before: the file itself tells
                 "    return total + again\n"),
}
DEFINITIONS = {"haversine_km": {"geo/distance.py"}, "local_helper": {"trips.py"}}


def test_a_task_is_the_first_use_of_a_name_defined_in_another_file():
    [task] = build_tasks(FILES, DEFINITIONS, limit=10)
    assert (task.path, task.line, task.name) == ("trips.py", 9, "haversine_km")
    assert task.column == FILES["trips.py"].split("\n")[9].index("haversine_km")
    assert task.gold == "haversine_km(stops[0], stops[1])" and task.defined_in == ("geo/distance.py",)


def test_columns_count_characters_not_bytes():
    files = {**FILES, "trips.py": "from geo.distance import haversine_km\nkm = {'é': haversine_km(1, 2)}\n"}
    [task] = build_tasks(files, DEFINITIONS, limit=10)
    assert task.gold == "haversine_km(1, 2)}"


def test_eval_command_reports_both_conditions(workspace, tiny_model, tmp_path):
    write_files(workspace, FILES)
    result = run_cli("eval", "retrieval-lift", "--workspace", str(workspace), "--tasks", "5",
                     "--model", str(tiny_model), "--json", "--rows", str(tmp_path / "rows.jsonl"))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    with_context = out["with_context"]
    assert out["tasks"] == 1 and with_context["nll"] > 0 and out["nll_without_context"] > 0
    assert abs(with_context["nll_ratio"] - with_context["nll"] / out["nll_without_context"]) < 1e-3
    lo, hi = with_context["nll_ratio_ci95"]
    assert lo <= with_context["nll_ratio"] <= hi
    assert out["definition_retrieved"] == 1.0  # the snippet shows `def haversine_km`
    [row] = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert row["gold"] == "haversine_km(stops[0], stops[1])" and abs(row["nll_with"] - with_context["nll"]) < 1e-3
    assert {"path": "geo/distance.py", "start_line": 1, "end_line": 2, "why": "imported", "symbol": "haversine_km"} in row["snippets"]
    assert out["calibration"] == {**out["calibration"], "enabled": True, "ratio": None, "tasks": 0}  # too small to ask
    assert row["served"] == "with" and out["served"]["nll_ratio"] == with_context["nll_ratio"]


def test_the_cursor_files_later_lines_are_not_there_to_retrieve(workspace, tiny_model, tmp_path):
    later = "".join(f"\n\ndef filler_{i}(x):\n    return x + {i}\n" for i in range(12))
    replay = "\n\ndef replay_trip(stops):\n    return haversine_km(stops[0], stops[1])\n"
    write_files(workspace, {**FILES, "trips.py": FILES["trips.py"] + later + replay})
    result = run_cli("eval", "retrieval-lift", "--workspace", str(workspace), "--tasks", "5",
                     "--model", str(tiny_model), "--json", "--rows", str(tmp_path / "rows.jsonl"))
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    # Only what exists when the line is first typed: nothing of trips.py after the cursor's line.
    assert all(s["path"] != "trips.py" or s["end_line"] <= row["line"] for s in row["snippets"]), row["snippets"]
    assert not row["gold_in_snippets"]
