"""The command-line interface other tools drive: exact JSON fields."""

import json

from conftest import run_cli, write_files
from lsp_fixtures import LSP_FILES


def test_index_search_status_json(workspace):
    write_files(workspace, LSP_FILES)
    indexed = run_cli("index", str(workspace), "--json")
    assert indexed.returncode == 0, indexed.stderr
    stats = json.loads(indexed.stdout)
    assert stats["files"] == 3 and stats["chunks"] >= 4 and stats["embedded"] == stats["chunks"] and stats["seconds"] > 0
    again = json.loads(run_cli("index", str(workspace), "--json").stdout)
    assert again["embedded"] == 0

    found = run_cli("search", "invalidate the widget cache", "--workspace", str(workspace), "-k", "2", "--json")
    hits = json.loads(found.stdout)
    assert len(hits) == 2 and hits[0]["path"] == "inventory/helpers.py"
    assert {"path", "start_line", "end_line", "score", "text"} <= hits[0].keys() and hits[0]["start_line"] >= 1

    status = json.loads(run_cli("status", "--workspace", str(workspace), "--json").stdout)
    assert status["files"] == 3 and status["vectors"] == status["chunks"] and status["embedded_total"] == stats["embedded"]
    assert status["feedback"] == {"generations": 0, "accepted": 0, "up": 0, "down": 0}


def test_complete_json(workspace, tiny_model):
    write_files(workspace, LSP_FILES)
    line = LSP_FILES["app.py"].count("\n")
    result = run_cli("complete", f"{workspace / 'app.py'}:{line}:20", "--workspace", str(workspace),
                     "--model", str(tiny_model), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["text"] and len(out["generation_id"]) == 32 and out["latency_ms"] > 0
    assert out["timings"]["snippets"]  # retrieval ran


def test_bad_position_is_a_clear_error(workspace):
    result = run_cli("complete", "nofile.py:0:1", "--workspace", str(workspace))
    assert result.returncode != 0 and "FILE:LINE:COL" in result.stderr


def test_bench_complete_json(workspace, tiny_model):
    """The completion benchmark drives the real server over stdio, with the default debounce, and reports
    where the time goes (the split read back from the daemon's events.sqlite)."""
    assert "error" in json.loads(run_cli("bench", "complete", "--workspace", str(workspace), "--model",
                                         str(tiny_model), "--json").stdout)  # nothing to complete yet
    # A file long enough that a request is still inside the tiny model when the bench cancels it.
    long = "".join(f"def restock_{i}(widget_id, ttl_seconds):\n    total_{i} = widget_id * {i} + ttl_seconds\n"
                   f"    CACHE.pop(widget_id, None)\n    return total_{i}\n\n\n" for i in range(150))
    write_files(workspace, {**LSP_FILES, "stock.py": long})
    result = run_cli("bench", "complete", "--workspace", str(workspace), "--runs", "2", "--model", str(tiny_model),
                     "--json", env={"GROWPILOT_SETTINGS": json.dumps({"promptTokens": 16384})})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["transport"] == "lsp-stdio" and out["debounce_ms"] == 75 and out["device"] == "cpu"
    assert out["requests"] >= 1 and out["end_to_end_ms"]["p50"] >= out["model_ms"]["p50"] > 0
    assert out["end_to_end_ms"]["p50"] >= out["server_total_ms"]["p50"] >= 75  # the debounce is in it
    split = out["server_overhead_split_ms"]
    assert set(split) == {"retrieval", "prompt_build", "encode", "postprocess"}
    assert split["encode"]["p50"] > 0 and split["retrieval"]["p95"] > 0  # a warmed request retrieves nothing
    # settled with warmUp on and off, one position each: the warm-up left the prompt in the KV cache
    assert out["settled_without_warm_up_ms"]["n"] >= 1
    assert out["kv_reuse_share"] > out["settled_without_warm_up_ms"]["kv_reuse_share_median"]
    assert out["calibration"]["tasks"] >= 0  # waited for (too few call sites here: context stays on)
    assert out["server_overhead_ms"]["p50"] >= split["retrieval"]["p50"]
    assert out["fully_cold_ms"] > 0 and out["typing_along_a_line_ms"]["n"] >= 1 and out["cache_hit_ms"]["n"] >= 1
    assert out["cancel_to_reply_ms"]["n"] >= 1 and out["cancel_to_reply_ms"]["p95"] < 1000
    assert out["rss_with_model_mb"] > 100 and out["peak_rss_mb"] >= out["rss_with_model_mb"]
