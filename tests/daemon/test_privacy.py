"""Privacy: secret files are never read by the model or indexed, files holding a secret are not indexed,
stored prompts are redacted, and a folder's index and suggestion history can be deleted over LSP."""

import asyncio
import sqlite3
import sys
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import write_files
from growpilot.config import Settings
from growpilot.indexing.filters import WorkspaceFilter
from growpilot.indexing.secrets import REDACTED, find_secrets, is_secret_path, redact
from growpilot.learning.events import EventStore, GenerationRecord
from growpilot.training.corpus import collect_files
from lsp_fixtures import LSP_FILES, Recorder, command, end_of, init_params, open_doc, plain

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "growpilot", "serve"])
# Realistic fakes, assembled at run time so that this file does not hold them verbatim.
AWS_ID = "AKIA" + "Z3MHQW7RTXKL4P2N"
AWS_SECRET = "8nFq2Rz0VtL4mXy7sB1cD9eG3hJ6kP5w" + "QaT0uZrY"
PEM = "\n".join(["-----BEGIN " + "RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
                 "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK", "-----END " + "RSA PRIVATE KEY-----"])
ARCHIVE_PY = ("import boto3\n\n\n"
              "def zanzibar_archive_client():\n"
              '    """The S3 client of the nightly archive."""\n'
              f'    aws_secret_access_key = "{AWS_SECRET}"\n'
              f'    return boto3.client("s3", aws_access_key_id="{AWS_ID}", aws_secret_access_key=aws_secret_access_key)\n')


# ----- pure rules
@pytest.mark.parametrize("path, secret", [
    (".env", True), ("config/.env.production", True), ("deploy/prod.env", True), (".envrc", True),
    ("certs/server.pem", True), ("tls/SERVER.KEY", True), ("/home/me/.ssh/id_ed25519", True), ("id_rsa.pub", True),
    (".npmrc", True), ("file:///w/.pypirc", True), ("gcp/credentials.json", True), ("infra/prod.tfvars", True),
    ("config/secrets.yaml", True), ("store.kdbx", True),
    (".env.example", False), (".env.sample", False), (".env.template", False), ("app.env.dist", False),
    ("secrets.py", False), ("venv/.env/lib/site.py", False), ("app.py", False), ("environment.ts", False),
])
def test_secret_file_names(path, secret):
    assert is_secret_path(path) is secret


def test_find_and_redact_keep_everything_but_the_secret():
    text = (f'import os\n\nAWS_ID = "{AWS_ID}"\ndb = "postgres://admin:Sup3rS3cretPw@db.internal/app"\n'
            f'password = "correct-horse-battery"\nKEY = """{PEM}"""\nprint(KEY)\n')
    kinds = {kind for _, kind in find_secrets(text, "settings.py")}
    assert {"AWS Access Key", "Basic Auth Credentials", "Secret Keyword", "Private Key"} <= kinds
    out = redact(text, "settings.py")
    assert out.split("\n")[:5] == ["import os", "", f'AWS_ID = "{REDACTED}"', f'db = "postgres://admin:{REDACTED}@db.internal/app"',
                                   f'password = "{REDACTED}"']
    assert out.split("\n")[5:10] == [REDACTED] * 4 + ["print(KEY)"]  # the key's whole block
    assert out.count("\n") == text.count("\n")
    for secret in (AWS_ID, "Sup3rS3cretPw", "correct-horse-battery", "MIIEowIBAAKCAQEA", "bwKfBstIs"):
        assert secret not in out


def test_ordinary_code_is_left_alone():
    code = ('import hashlib\n\nAPI_KEY_ENV = "OPENAI_API_KEY"\napi_key = os.environ["OPENAI_API_KEY"]\n'
            'digest = hashlib.sha256(b"x").hexdigest()\nlabel = "the quick brown fox jumps over the lazy dog"\n')
    assert find_secrets(code, "app.py") == [] and redact(code, "app.py") == code


def test_secret_files_and_contents_are_not_indexed_or_trained_on(workspace):
    write_files(workspace, {"app.py": "x = 1\n", "archive.py": ARCHIVE_PY, "conf/.env": "TOKEN=abc\n",
                            "deploy/id_rsa": PEM, "secrets.yaml": "token: abc\n", ".env.example": "TOKEN=\n"})
    flt = WorkspaceFilter(workspace, Settings())
    walked = [e.rel for e in flt.walk()]
    assert "conf/.env" not in walked and "deploy/id_rsa" not in walked and "secrets.yaml" not in walked
    assert flt.content_problem(ARCHIVE_PY.encode(), "archive.py") == "holds a secret"
    assert flt.content_problem(b"x = 1\n", "app.py") is None
    assert [f.rel for f in collect_files(workspace, Settings())] == [r for r in walked if r != "archive.py"]


def test_stored_prompts_and_outputs_are_redacted(growpilot_home):
    store = EventStore()
    gid = store.record_generation(GenerationRecord(
        workspace="/ws", path="app.py", line=3, character=0, kind="inline", mode="line",
        prompt=f'<|fim_prefix|>aws_secret_access_key = "{AWS_SECRET}"\n<|fim_suffix|><|fim_middle|>',
        output=f'token = "{AWS_SECRET}"', model="tiny", adapter=None, latency_ms=1.0, source="model"))
    row = store.generation(gid)
    assert AWS_SECRET not in row["prompt"] + row["output"] and REDACTED in row["prompt"]
    assert row["prompt"].endswith("<|fim_middle|>")
    store.close()


# ----- the daemon, as a client sees it
@pytest.fixture
def root(workspace):
    return write_files(workspace, {**LSP_FILES, "inventory/archive.py": ARCHIVE_PY, "deploy/.env": f"AWS_KEY={AWS_ID}\n"})


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, root, tiny_model):
    lsp_client.rec = Recorder(lsp_client, "growpilot/indexReady", "growpilot/modelReady")
    lsp_client.init = await lsp_client.initialize_session(
        init_params(root, {"modelPath": str(tiny_model), "debounceMs": 0, "maxTokens": 12}))
    await lsp_client.rec.wait("growpilot/indexReady")
    await lsp_client.rec.wait("growpilot/modelReady")
    yield
    await lsp_client.shutdown_session()


def _rows(home, sql="SELECT path, prompt FROM generations"):
    db = sqlite3.connect(home / "events.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def _inline(client, uri, pos):
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri), position=pos))
    return list(result.items if isinstance(result, types.InlineCompletionList) else result)


async def test_a_secret_file_gets_no_completion_no_action_and_leaves_no_record(client: LanguageClient, root, growpilot_home):
    experimental = plain(client.init.capabilities.experimental)
    assert ".env" in experimental["growpilot"]["secretFilePatterns"]
    assert "*.example" in experimental["growpilot"]["secretFileExceptions"]
    # The text the tiny model completes in app.py: only the file's name can make the answer empty.
    text = LSP_FILES["app.py"]
    uri = open_doc(client, root, "deploy/.env", text)
    started = time.monotonic()
    assert await _inline(client, uri, end_of(text)) == []
    classic = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=end_of(text)))
    assert not classic.items and time.monotonic() - started < 5
    assert await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), types.Range(types.Position(4, 0), types.Position(4, 0)),
        types.CodeActionContext(diagnostics=[]))) is None
    assert (await command(client, "growpilot.status"))["feedback"]["generations"] == 0  # flushes the history
    assert _rows(growpilot_home) == []
    # The same text in an ordinary file is completed (and recorded).
    assert await _inline(client, open_doc(client, root, "app.py"), end_of(text))
    assert (await command(client, "growpilot.status"))["feedback"]["generations"] == 1


async def test_a_file_holding_a_secret_is_not_indexed_and_prompts_are_stored_redacted(client: LanguageClient, root,
                                                                                         growpilot_home):
    assert client.rec.seen["growpilot/indexReady"][0]["files"] == 3  # LSP_FILES; not archive.py, not .env
    hits = await command(client, "growpilot.search", {"query": "zanzibar_archive_client aws_secret_access_key", "k": 10})
    assert not any(h["path"] == "inventory/archive.py" or AWS_SECRET in h["text"] for h in hits)
    # A secret in the visible text of an ordinary file: the model sees it, the history does not.
    text = LSP_FILES["app.py"] + f'\n\nARCHIVE_KEY = "{AWS_SECRET}"\n'
    items = await _inline(client, open_doc(client, root, "app.py", text), end_of(LSP_FILES["app.py"]))
    assert items
    await command(client, "growpilot.status")
    [(path, prompt)] = _rows(growpilot_home)
    assert path == "app.py" and AWS_SECRET not in prompt and f'ARCHIVE_KEY = "{REDACTED}"' in prompt
    assert "return helpers" in prompt and "<|fim_middle|>" in prompt


async def test_delete_index_then_reindex_and_clear_history(client: LanguageClient, root, growpilot_home):
    query = {"query": "frobnicate_widget_cache", "k": 3}
    assert await command(client, "growpilot.search", query)
    state_dir = (await command(client, "growpilot.status"))["folders"][0]["state_dir"]
    deleted = await command(client, "growpilot.deleteIndex", {"folderUri": root.as_uri()})
    assert deleted["folderUri"] == root.as_uri() and "catalog.sqlite" in deleted["deleted"] and deleted["bytes"] > 0
    assert await command(client, "growpilot.search", query) == []
    folder = (await command(client, "growpilot.status"))["folders"][0]
    assert (folder["files"], folder["chunks"], folder["vectors"]) == (0, 0, 0)
    db = sqlite3.connect(f"{state_dir}/catalog.sqlite")  # the file there now is a new, empty one
    assert db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0
    db.close()
    # The watcher goes on: a file written now is indexed into the new index.
    (root / "inventory/restock.py").write_text("def restock_quokka_pallets(count):\n    return count\n")
    deadline = time.monotonic() + 20
    while not (hits := await command(client, "growpilot.search", {"query": "restock_quokka_pallets", "k": 1})):
        assert time.monotonic() < deadline, "the watcher stopped indexing after deleteIndex"
        await asyncio.sleep(0.2)
    assert hits[0]["path"] == "inventory/restock.py"
    rebuilt = await command(client, "growpilot.reindex")
    assert rebuilt["folders"][0]["files"] == 4
    assert (await command(client, "growpilot.search", query))[0]["path"] == "inventory/helpers.py"

    items = await _inline(client, open_doc(client, root, "app.py"), end_of(LSP_FILES["app.py"]))
    await command(client, "growpilot.accept", {"generationId": items[0].command.arguments[0]["generationId"]})
    cleared = await command(client, "growpilot.clearHistory")
    assert cleared == {"folderUri": root.as_uri(), "generations": 1, "events": 1}
    assert _rows(growpilot_home) == [] and _rows(growpilot_home, "SELECT * FROM events") == []
    assert (await command(client, "growpilot.status"))["feedback"]["generations"] == 0
