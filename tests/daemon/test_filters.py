import os

from conftest import write_files
from growpilot.config import Settings
from growpilot.indexing.filters import WorkspaceFilter


def _walk(root, **settings):
    return [e.rel for e in WorkspaceFilter(root, Settings(**settings)).walk()]


def test_gitignore_at_every_level_with_negation(workspace):
    write_files(workspace, {
        ".gitignore": "*.gen.py\nsecret/\n!keep.gen.py\n",
        "a.py": "x = 1\n", "b.gen.py": "x\n", "keep.gen.py": "x\n", "secret/s.py": "x\n",
        "pkg/.gitignore": "local.py\n", "pkg/local.py": "x\n", "pkg/ok.py": "x\n",
        "other/local.py": "x\n",  # the rule of pkg/.gitignore does not apply here
    })
    assert _walk(workspace) == ["a.py", "keep.gen.py", "other/local.py", "pkg/ok.py"]


def test_growpilotignore_and_git_info_exclude(workspace):
    write_files(workspace, {".growpilotignore": "fixtures/\n", "fixtures/f.py": "x\n", "main.py": "x\n",
                            ".git/info/exclude": "scratch.py\n", "scratch.py": "x\n"})
    assert _walk(workspace) == ["main.py"]


def test_vendored_dirs_and_unknown_extensions_are_skipped(workspace):
    write_files(workspace, {"node_modules/m/index.js": "x\n", ".venv/lib/x.py": "x\n", "dist/a.js": "x\n",
                            "build/b.py": "x\n", "src/app.ts": "x\n", "data.bin": "x\n", "package-lock.json": "{}",
                            "app.min.js": "x\n"})
    assert _walk(workspace) == ["src/app.ts"]


def test_size_cap(workspace):
    write_files(workspace, {"big.py": "x = 1\n" * 400, "small.py": "x = 1\n"})
    assert _walk(workspace, max_file_bytes=1000) == ["small.py"]


def test_symlinks_followed_by_real_path_without_loops(workspace, tmp_path):
    outside = write_files(tmp_path / "outside", {"lib.py": "def f():\n    pass\n"})
    write_files(workspace, {"pkg/mod.py": "x = 1\n"})
    os.symlink(workspace, workspace / "pkg" / "loop")  # a cycle back to the root
    os.symlink(workspace / "pkg" / "mod.py", workspace / "alias.py")  # same file twice
    os.symlink(outside, workspace / "ext")
    os.symlink(outside / "lib.py", workspace / "ext_file.py")
    # Entries are visited in name order: alias.py claims the real file first, pkg/mod.py is its duplicate.
    # Links leading out of the workspace (a folder or a file) are not followed unless the setting allows it.
    assert _walk(workspace) == ["alias.py"]
    assert _walk(workspace, follow_external_symlinks=True) == ["alias.py", "ext/lib.py"]
    f = WorkspaceFilter(workspace, Settings())
    assert f.entry("ext/lib.py") is None and f.entry("ext_file.py") is None and f.entry("alias.py") is not None


def test_content_gates():
    f = WorkspaceFilter("/", Settings(max_line_chars=500))
    assert f.content_problem(b"abc\0def") == "binary"
    assert "minified" in f.content_problem(b"var a=1;" * 400)
    assert "minified" in f.content_problem(b"x = 1\n" * 10 + b"y" * 600 + b"\n")
    assert f.content_problem(b"def f():\n    return 1\n" * 100) is None


def test_accepts_checks_parents(workspace):
    write_files(workspace, {".gitignore": "gen/\n"})
    f = WorkspaceFilter(workspace, Settings())
    assert f.accepts("src/a.py") and not f.accepts("gen/a.py") and not f.accepts("node_modules/a/b.js")
    assert not f.accepts("README")  # no known language
