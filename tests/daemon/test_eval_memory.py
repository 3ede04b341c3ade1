"""`growpilot eval memory`: which positions are a repository's own way (pure), and the command end to end
with the tiny model on a small repository (the real-model figures are in the README)."""

import json
import os
import sqlite3

from conftest import run_cli, write_files
from growpilot.eval.memory import convention_sites, head_of, project_exceptions, split, summarize

ERRORS = (
    "class ShopError(Exception):\n    pass\n\n\n"
    "class OutOfStock(ShopError):\n    pass\n\n\n"
    "class Unrelated(Base):\n    pass\n"  # a base the repository does not define as an exception
)


def test_project_exceptions_follow_the_class_hierarchy_to_a_builtin():
    files = {"errors.py": ERRORS, "more.py": "class LateError(errors.OutOfStock):\n    pass\n"}
    assert project_exceptions(files) == {"ShopError", "OutOfStock", "LateError"}


def test_sites_are_raises_of_the_repositorys_errors_and_calls_of_its_loggers():
    shop = ("import logging\nlogger = logging.getLogger(__name__)\n\n\n"
            "def buy(item):\n"
            "    if not item:\n"
            "        raise OutOfStock(item)\n"
            "    if item < 0:\n"
            "        raise ValueError(item)\n"  # a builtin: the model's way too, no site
            "    logger.info('bought %s', item)\n"
            "    self.log.debug('x')\n"
            "    print(item)\n")
    files = {"errors.py": ERRORS, "shop.py": shop, "tests/test_shop.py": "        raise OutOfStock(1)\n"}
    sites = convention_sites(files)
    assert [(s.path, s.line, s.category, s.head, s.column) for s in sites] == [
        ("shop.py", 6, "error", "raise OutOfStock", 8), ("shop.py", 9, "logging", "logger", 4),
        ("shop.py", 10, "logging", "self.log", 4)]
    assert sites[1].rest == "logger.info('bought %s', item)"  # what the user typed: the whole line


def test_a_suggestion_is_cut_as_the_sites_head():
    assert head_of("raise ValueError(f'no {x}')\nmore", "error") == "raise ValueError"
    assert head_of("logger.warning('x')", "logging") == "logger"
    assert head_of("self.logger.info('x')", "logging") == "self.logger"
    assert head_of("print(x)", "logging") == "print" and head_of("return None", "error") == "return None"


def test_the_split_is_by_file_and_stable():
    assert {split(f"pkg/m{i}.py") for i in range(20)} == {"history", "heldout"}
    assert split("pkg/m1.py") == split("pkg/m1.py")


def test_summary_counts_wins_where_the_repository_way_is_more_likely():
    rows = [{"preference_site": True, "category": "error", "margin_without": -1.0, "margin_with": 0.5, "examples": [1]},
            {"preference_site": True, "category": "logging", "margin_without": -2.0, "margin_with": -0.1, "examples": []},
            {"preference_site": False, "category": "error"}]
    out = summarize(rows)
    assert out["preference_sites"] == 2 and out["already_the_repository_way"] == 1
    assert out["win_rate_without"] == 0.0 and out["win_rate_with"] == 0.5 and out["gain_points"] == 50.0
    assert out["by_category"]["error"]["gain_points"] == 100.0 and out["by_category"]["logging"]["gain_points"] == 0.0
    assert out["sites_with_examples"] == 0.5


def _module(name: str, n: int) -> str:
    body = "".join(f"\n\ndef handle_{name}_{i}(order):\n    if order.total < {i}:\n"
                   f"        raise OutOfStock(order)\n    logger.info('handled %s', order)\n" for i in range(n))
    return f"import logging\n\nfrom shop.errors import OutOfStock\n\nlogger = logging.getLogger(__name__)\n{body}"


def test_eval_memory_end_to_end_replays_history_into_its_own_store(workspace, tiny_model, tmp_path):
    names = [f"orders{i}" for i in range(12)]
    history = [n for n in names if split(f"shop/{n}.py") == "history"][:2]
    heldout = [n for n in names if split(f"shop/{n}.py") == "heldout"][:2]
    write_files(workspace, {"shop/errors.py": ERRORS, **{f"shop/{n}.py": _module(n, 3) for n in history + heldout}})
    result = run_cli("eval", "memory", "--workspace", str(workspace), "--model", str(tiny_model), "--json",
                     "--lift-tasks", "3", "--rows", str(tmp_path / "rows.jsonl"))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["history"]["positions"] == 12 == out["history"]["accepted"] + out["history"]["rewritten"]
    assert out["heldout_positions"] == 12
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {r["path"] for r in rows} == {f"shop/{n}.py" for n in heldout}
    scored = [r for r in rows if r["preference_site"]]
    assert len(scored) == out["preference_sites"] > 0  # a tiny random model never writes `raise OutOfStock`
    for r in scored:
        if not r["examples"]:
            assert r["margin_with"] == r["margin_without"]  # the very same prompt
        assert all(e["score"] >= out["similarity_threshold"] for e in r["examples"])
        assert r["nearest_similarity"] >= max([e["score"] for e in r["examples"]], default=-1.0)
    # The near-identical history functions are found as examples, and change the prompt.
    assert any(r["examples"] and r["margin_with"] != r["margin_without"] for r in scored)
    assert out["retrieval_lift"]["tasks"] >= 1
    # The user's own event store (GROWPILOT_HOME) holds nothing of the replay.
    store = os.path.join(os.environ["GROWPILOT_HOME"], "events.sqlite")
    if os.path.exists(store):
        assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 0
