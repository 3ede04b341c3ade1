#!/usr/bin/env bash
# README command 2: every test. The daemon's (pytest: unit, LSP end to end, crash, real default model)
# and the extension's (unit tests, then a real VS Code: code-server + Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --no-demo
if ! command -v nvim >/dev/null; then  # tests/daemon/test_neovim.py drives Neovim's built-in LSP client
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq neovim; } >/dev/null
fi
eval "$(bash scripts/vscode-env.sh)"  # Chromium (the dashboard report's browser test needs it), node, code-server
. .venv/bin/activate
python -m pytest -q -p no:cacheprovider "$@"
bash scripts/test-extension.sh
