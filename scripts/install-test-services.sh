#!/usr/bin/env bash
# Installs the tools the tests run: redis-server and redis-cli (the cache adapter tests start real Redis
# servers and clusters), and moto (a local AWS API server) and cfn-lint (the CloudFormation linter) from PyPI
# into .cache/moto-venv, where test/fixtures finds them. Idempotent: does nothing when already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# Redis: any redis-server/valkey-server with its CLI beside it will do (test/fixtures/redis-cluster.ts looks at
# $REDIS_SERVER, then PATH). The tests start their own servers on free ports; the system service is not needed.
have_redis() {
  if [ -n "${REDIS_SERVER:-}" ]; then
    [ -x "$REDIS_SERVER" ] && [ -x "$(dirname "$REDIS_SERVER")/$(basename "$REDIS_SERVER" | sed 's/-server$/-cli/')" ]
    return
  fi
  { command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 ||
    { command -v valkey-server && command -v valkey-cli; } >/dev/null 2>&1
}
if ! have_redis; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-test-services: installing redis-server with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
    # The package starts the system service where it can; the tests do not use it.
    service redis-server stop >/dev/null 2>&1 || true
  else
    echo "install-test-services: redis-server and redis-cli (or valkey-server and valkey-cli) are not installed." >&2
    echo "Install them (Debian/Ubuntu: sudo apt-get install redis-server), or set REDIS_SERVER to a server binary" >&2
    echo "with its CLI beside it, then re-run." >&2
    exit 1
  fi
fi
redis_server="${REDIS_SERVER:-$(command -v redis-server || command -v valkey-server)}"
echo "install-test-services: $("$redis_server" --version)"

venv="$root/.cache/moto-venv"
moto_version=5.2.5
cfn_lint_version=1.58.0

installed_version() {
  "$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}

if [ -x "$venv/bin/moto_server" ] && [ "$(installed_version moto)" = "$moto_version" ] &&
  [ -x "$venv/bin/cfn-lint" ] && [ "$(installed_version cfn-lint)" = "$cfn_lint_version" ]; then
  echo "install-test-services: moto $moto_version and cfn-lint $cfn_lint_version already in .cache/moto-venv"
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

echo "install-test-services: installing moto[server]==$moto_version and cfn-lint==$cfn_lint_version into .cache/moto-venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "moto[server]==$moto_version" "cfn-lint==$cfn_lint_version" >&2
"$venv/bin/moto_server" --help >/dev/null
"$venv/bin/cfn-lint" --version >/dev/null
echo "install-test-services: moto $(installed_version moto) and cfn-lint $(installed_version cfn-lint) ready"
