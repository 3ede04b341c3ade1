#!/usr/bin/env bash
# Tests the VS Code extension: type-check + unit tests, then the end-to-end test in a real VS Code
# (code-server + Chromium) against the real daemon. Installs what is missing first.
#   scripts/test-extension.sh [all|unit|e2e]      (default: all)
# The e2e needs the daemon: GROWPILOT_E2E_PYTHON (default .venv/bin/python) must import growpilot.
# GROWPILOT_E2E_MODEL=<model dir or .gguf> makes it faster; see tests/extension/e2e/run.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"

# npm ci starts from scratch; skip it when node_modules already matches package.json.
npm ls --depth=0 >/dev/null 2>&1 || npm ci --no-audit --no-fund

if [ "$what" = all ] || [ "$what" = unit ]; then
  npm run test:unit
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
  eval "$(bash scripts/vscode-env.sh)"
  npm run test:e2e
fi
