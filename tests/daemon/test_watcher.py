"""Integration through the real watcher (inotify) on a temp workspace: search results follow the files."""

import errno
import os
import shutil
import threading
import time

import pytest
from watchdog.observers import Observer

from conftest import write_files
from growpilot.config import Settings
from growpilot.indexing.indexer import WorkspaceIndex
from growpilot.indexing.watcher import Watcher
from test_indexer import FILES, consistent


class Watched:
    def __init__(self, index: WorkspaceIndex, **kw):
        self.index = index
        self.batches: list[set[str]] = []
        self.changed = threading.Condition()
        self.watcher = Watcher(str(index.root), self._on_batch, debounce_s=0.1, **kw)

    def _on_batch(self, paths):
        self.index.update(paths)
        with self.changed:
            self.batches.append(paths)
            self.changed.notify_all()

    def wait_until(self, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; batches seen: {self.batches}"
                self.changed.wait(min(left, 0.2))

    def files(self):
        return sorted(self.index.catalog.file_rows())


@pytest.fixture
def watched(workspace, embedder):
    write_files(workspace, FILES)
    index = WorkspaceIndex(workspace, embedder, Settings())
    index.refresh()
    w = Watched(index)
    w.watcher.start()
    time.sleep(0.2)
    yield w
    w.watcher.stop()
    index.close()


def test_edit_becomes_searchable(watched, workspace):
    (workspace / "billing/tax.py").write_text("def refund_customer_deposit(x):\n    return -x\n")
    watched.wait_until(lambda: any("refund_customer_deposit" in h.text for h in watched.index.search("refund deposit", k=3)))
    assert not any("apply_vat" in h.text for h in watched.index.search("apply_vat", k=10))
    consistent(watched.index)


def test_new_file_delete_and_rename(watched, workspace):
    (workspace / "web/new_page.ts").write_text("export const renderLandingPage = () => '<h1>hi</h1>';\n")
    watched.wait_until(lambda: "web/new_page.ts" in watched.files())
    (workspace / "docs/guide.md").unlink()
    watched.wait_until(lambda: "docs/guide.md" not in watched.files())
    os.rename(workspace / "web/routes.ts", workspace / "web/router.ts")
    watched.wait_until(lambda: "web/router.ts" in watched.files() and "web/routes.ts" not in watched.files())
    assert watched.index.search("registerRoutes", k=1)[0].path == "web/router.ts"
    consistent(watched.index)


def test_directory_rename_create_and_delete(watched, workspace):
    embedded = watched.index.status()["embedded_total"]
    shutil.move(workspace / "billing", workspace / "finance")
    watched.wait_until(lambda: watched.files() == ["docs/guide.md", "finance/invoice.py", "finance/tax.py", "web/routes.ts"])
    assert watched.index.status()["embedded_total"] == embedded  # a move re-embeds nothing
    write_files(workspace, {"api/v1/users.py": "def list_active_users():\n    return []\n"})
    watched.wait_until(lambda: "api/v1/users.py" in watched.files())
    shutil.rmtree(workspace / "finance")
    watched.wait_until(lambda: not any(f.startswith("finance/") for f in watched.files()))
    assert all(not h.path.startswith("finance/") for h in watched.index.search("invoice vat", k=10))
    consistent(watched.index)


def test_ignored_paths_do_not_enter(watched, workspace):
    write_files(workspace, {"node_modules/pkg/index.js": "module.exports = 1\n", "keep.py": "x = 1\n"})
    watched.wait_until(lambda: "keep.py" in watched.files())
    assert not any(f.startswith("node_modules") for f in watched.files())


def test_inotify_limit_falls_back_to_polling(workspace, embedder, caplog):
    class ExhaustedObserver(Observer):
        def schedule(self, *a, **kw):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    write_files(workspace, FILES)
    index = WorkspaceIndex(workspace, embedder, Settings())
    index.refresh()
    w = Watched(index, observer_factory=ExhaustedObserver)
    w.watcher.start()
    try:
        assert w.watcher.polling and "polling" in caplog.text
        time.sleep(1.2)
        (workspace / "late.py").write_text("def added_while_polling():\n    pass\n")
        w.wait_until(lambda: "late.py" in w.files())
    finally:
        w.watcher.stop()
        index.close()
