"""A client without inline completions: Neovim's built-in LSP client (headless) gets classic
completion items from the daemon and runs its commands."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import write_files
from lsp_fixtures import LSP_FILES

LUA = r"""
local out = {}
local client_id = vim.lsp.start_client({
  name = "growpilot",
  cmd = { PYTHON, "-m", "growpilot", "serve" },
  root_dir = ROOT,
  workspace_folders = { { uri = vim.uri_from_fname(ROOT), name = "ws" } },
  init_options = { modelPath = MODEL, debounceMs = 0, maxTokens = 12 },
})
vim.cmd("edit " .. ROOT .. "/app.py")
vim.lsp.buf_attach_client(0, client_id)
local last = vim.api.nvim_buf_line_count(0)
local col = #vim.api.nvim_buf_get_lines(0, last - 1, last, false)[1]
local params = { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = last - 1, character = col } }
for _ = 1, 360 do  -- the model loads in the background (slowly on a busy machine): completions are empty until then
  local res = vim.lsp.buf_request_sync(0, "textDocument/completion", params, 10000)
  local items = res and res[client_id] and res[client_id].result and res[client_id].result.items or {}
  if #items > 0 then out.item = items[1]; break end
  vim.wait(500)
end
for _ = 1, 240 do  -- the index is built in the background too, and may finish after the model loads
  local status = vim.lsp.buf_request_sync(0, "workspace/executeCommand", { command = "growpilot.status", arguments = {} }, 10000)
  out.status = status and status[client_id] and status[client_id].result
  local folder = out.status and out.status.folders and out.status.folders[1]
  if folder and folder.files == 3 then break end
  vim.wait(500)
end
vim.fn.writefile({ vim.fn.json_encode(out) }, OUT)
vim.lsp.stop_client(client_id)
vim.cmd("qa!")
"""


@pytest.mark.skipif(shutil.which("nvim") is None, reason="Neovim is installed by scripts/test.sh")
def test_neovim_gets_classic_completions(workspace, tiny_model, tmp_path):
    result = _run_neovim(LUA, workspace, tiny_model, tmp_path)
    item = result["item"]
    assert item["data"]["generationId"] and item["command"]["command"] == "growpilot.accept"
    lines = LSP_FILES["app.py"].rstrip("\n").split("\n")
    assert item["textEdit"]["range"]["end"] == {"line": len(lines) - 1, "character": len(lines[-1])}
    assert item["textEdit"]["newText"].strip() and item["label"]
    assert result["status"]["folders"][0]["files"] == 3


ACTION_LUA = r"""
local out = {}
local client_id = vim.lsp.start_client({
  name = "growpilot",
  cmd = { PYTHON, "-m", "growpilot", "serve" },
  root_dir = ROOT,
  workspace_folders = { { uri = vim.uri_from_fname(ROOT), name = "ws" } },
  init_options = { modelPath = MODEL, debounceMs = 0 },
})
vim.cmd("edit " .. ROOT .. "/inventory/models.py")
vim.lsp.buf_attach_client(0, client_id)
local params = { textDocument = { uri = vim.uri_from_bufnr(0) },
                 range = { start = { line = 1, character = 8 }, ["end"] = { line = 1, character = 8 } },
                 context = { diagnostics = {} } }
local chosen
for _ = 1, 360 do  -- listed greyed out until the model is loaded
  local res = vim.lsp.buf_request_sync(0, "textDocument/codeAction", params, 10000)
  local actions = res and res[client_id] and res[client_id].result or {}
  out.titles = {}
  for _, a in ipairs(actions) do
    table.insert(out.titles, a.title)
    if a.title == "Growpilot: Add docstring" and a.disabled == nil then chosen = a end
  end
  if chosen then break end
  vim.wait(500)
end
local resolved = vim.lsp.buf_request_sync(0, "codeAction/resolve", chosen, 120000)
local action = resolved and resolved[client_id] and resolved[client_id].result
out.command = action and action.command
if action and action.edit then
  vim.lsp.util.apply_workspace_edit(action.edit, vim.lsp.get_client_by_id(client_id).offset_encoding)
end
out.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
vim.fn.writefile({ vim.fn.json_encode(out) }, OUT)
vim.lsp.stop_client(client_id)
vim.cmd("qa!")
"""


@pytest.mark.skipif(shutil.which("nvim") is None, reason="Neovim is installed by scripts/test.sh")
def test_neovim_lists_and_applies_a_code_action(workspace, tiny_model, tmp_path):
    import ast

    result = _run_neovim(ACTION_LUA, workspace, tiny_model, tmp_path)
    assert result["titles"][:3] == ["Growpilot: Explain", "Growpilot: Add docstring", "Growpilot: Generate tests"]
    assert result["command"]["command"] == "growpilot.accept" and result["command"]["arguments"][0]["generationId"]
    text = "\n".join(result["lines"])
    tree = ast.parse(text)  # the buffer, edited by Neovim itself, still parses
    assert ast.get_docstring(tree.body[0].body[0]) and result["lines"][2].startswith('        """')


def _run_neovim(lua: str, workspace, tiny_model, tmp_path) -> dict:
    """Run a Lua client script in headless Neovim against the daemon on LSP_FILES; what it wrote out."""
    write_files(workspace, LSP_FILES)
    script, out = tmp_path / "client.lua", tmp_path / "out.json"
    script.write_text(f"local PYTHON, ROOT, MODEL, OUT = {json.dumps(sys.executable)}, {json.dumps(str(workspace))}, "
                      f"{json.dumps(str(tiny_model))}, {json.dumps(str(out))}\n" + lua)
    subprocess.run(["nvim", "--headless", "--clean", "-u", "NONE", "-c", f"luafile {script}"],
                   env=os.environ.copy(), timeout=420, capture_output=True)
    return json.loads(out.read_text())
