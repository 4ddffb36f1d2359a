#!/usr/bin/env bash
# Installs the local services the tests run against: moto (a local AWS API server from PyPI) in
# .cache/moto-venv, where test/fixtures/moto-server.ts finds it. Idempotent: does nothing when already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.cache/moto-venv"
moto_version=5.2.5

installed_version() {
  "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true
}

if [ -x "$venv/bin/moto_server" ] && [ "$(installed_version)" = "$moto_version" ]; then
  echo "install-test-services: moto $moto_version already in .cache/moto-venv"
  exit 0
fi

# Debian splits venv/ensurepip out of python3 into python3-venv.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-test-services: installing python3-venv with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
  else
    echo "install-test-services: 'python3 -m venv' is not available." >&2
    echo "Install Python 3 with its venv module (Debian/Ubuntu: sudo apt-get install python3-venv), then re-run." >&2
    exit 1
  fi
fi

# A venv left half-made by an interrupted run has no working pip: start it again.
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
fi

echo "install-test-services: installing moto[server]==$moto_version into .cache/moto-venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$moto_version" >&2
echo "install-test-services: $("$venv/bin/moto_server" --help >/dev/null && echo "moto $(installed_version) ready")"
