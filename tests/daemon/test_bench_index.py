"""`growpilot bench index`: the cold run is timed until the index is persisted and closed; the edit →
searchable figure edits a real function of the largest file and finds it by words of its new body."""

import ast
import textwrap
import time

import faiss
from conftest import write_files
from growpilot.bench.index_bench import bench_index, cold_run, plausible_edit
from growpilot.config import Settings
from lsp_fixtures import LSP_FILES

FUNCTION = '''    def reserve(self, widget_id, count):
        """Hold `count` widgets for an order."""
        available = self.stock.get(widget_id, 0) - self.held.get(widget_id, 0)
        if available < count:
            raise OutOfStock(widget_id)
        self.held[widget_id] = self.held.get(widget_id, 0) + count
        return available - count'''


def _big_file(n: int = 12) -> str:
    body = "\n\n".join(FUNCTION.replace("reserve", f"reserve_{i}") for i in range(n))
    return f"class Ledger:\n    def __init__(self):\n        self.stock, self.held = {{}}, {{}}\n\n{body}\n"


def test_the_edit_renames_a_local_and_adds_a_statement():
    new, query = plausible_edit(FUNCTION)
    ast.parse(textwrap.dedent(new))  # still Python
    assert "available_checked = self.stock" in new and "return available_checked - count" in new
    assert "available <" not in new and "if available_checked is None:" in new
    assert query in new and query.endswith('raise ValueError("no available to use")') and "probe" not in query
    assert "available_checked = self.stock" in query and "def reserve" in query
    again, _ = plausible_edit(new, 1)
    assert "available_checked_resolved" in again and again != new
    assert plausible_edit("x = 1\n") is None and plausible_edit("def f(a):\n    return a\n") is None
    assert plausible_edit("def f(a):\n    a = a + 1\n    return a\n") is None  # a parameter, not a local


def test_a_cold_run_is_timed_until_the_index_is_persisted_and_closed(workspace, tmp_path, embedder):
    write_files(workspace, {**LSP_FILES, "ledger.py": _big_file()})
    state = tmp_path / "state"
    started = time.perf_counter()
    stats, seconds = cold_run(workspace, state, embedder, Settings())
    outside = time.perf_counter() - started - seconds
    # The FAISS file is written when the index closes (fsync: milliseconds); a timer stopped before it
    # would leave that much outside.
    assert 0 <= outside < 0.003, outside
    assert faiss.read_index(str(state / "vectors.faiss")).ntotal == stats.chunks > 0


def test_bench_index_edits_a_function_of_the_largest_file(workspace):
    write_files(workspace, {**LSP_FILES, "ledger.py": _big_file()})
    before = (workspace / "ledger.py").read_text()
    result = bench_index(str(workspace), runs=1, edits=3, scale_chunks=2000)
    edits = result["edit_to_searchable_ms"]
    assert edits["n"] == 3 and edits["missed"] == 0 and edits["files"] == ["ledger.py"], edits
    assert edits["p50"] > 0 and edits["top_k"] == 5
    assert result["cold"]["seconds"][0] > 0 and result["cold"]["throughput_ratio_median"] > 0
    assert (workspace / "ledger.py").read_text() == before  # the bench edits a copy
