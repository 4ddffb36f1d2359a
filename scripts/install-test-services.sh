#!/usr/bin/env bash
# Installs the tools the tests run: redis-server and redis-cli (the cache adapter tests start real Redis
# servers and clusters), moto (a local AWS API server) and cfn-lint (the CloudFormation linter) from PyPI
# into .cache/moto-venv, and AWS's Lambda runtime interface client (aws-lambda-ric, built from source with
# its native addon) into ${XDG_CACHE_HOME:-~/.cache}/llm-gateway, where test/fixtures finds them.
# Idempotent: does nothing when already there.
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

install_moto() {
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
}

if [ -x "$venv/bin/moto_server" ] && [ "$(installed_version moto)" = "$moto_version" ] &&
  [ -x "$venv/bin/cfn-lint" ] && [ "$(installed_version cfn-lint)" = "$cfn_lint_version" ]; then
  echo "install-test-services: moto $moto_version and cfn-lint $cfn_lint_version already in .cache/moto-venv"
else
  install_moto
fi

# AWS's Lambda runtime interface client, which test/lambda-runtime runs the bundled function under. Its npm
# install builds curl and aws-lambda-cpp from bundled sources (cmake, make, a C/C++ compiler, xz for the
# archives) and then a N-API addon with node-gyp (python3). It needs Node >= 22: it is installed with the
# Node 24 of scripts/with-node24.sh (the Lambda runtime's major), whose headers node-gyp builds against, so
# nothing is downloaded from nodejs.org. It lives outside the repo, keyed by version, so `npm ci` and a
# fresh checkout keep it.
ric_version=4.0.2
ric_cache="${XDG_CACHE_HOME:-$HOME/.cache}/llm-gateway"
ric_dir="$ric_cache/aws-lambda-ric-$ric_version"
ric_addon="$ric_dir/node_modules/aws-lambda-ric/rapid-client.node"

missing_build_tools() {
  local tool
  for tool in cmake make cc c++ python3 xz; do
    command -v "$tool" >/dev/null 2>&1 || printf '%s ' "$tool"
  done
}

install_ric() {
  local missing started log node24_dir
  missing="$(missing_build_tools)"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "install-test-services: installing cmake, make, g++, python3 and xz-utils with apt-get (missing: $missing)" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        cmake make g++ python3 xz-utils >&2
    else
      echo "install-test-services: building aws-lambda-ric needs: $missing" >&2
      echo "Install them (Debian/Ubuntu: sudo apt-get install cmake make g++ python3 xz-utils), then re-run." >&2
      exit 1
    fi
  fi

  started=$SECONDS
  # Node 24 from the npm registry (cached in .cache/node24); its include/node holds the headers node-gyp needs.
  node24_dir="$(bash "$root/scripts/with-node24.sh" node -p 'require("node:path").resolve(process.execPath, "../..")')"
  # A copy left half-built by an interrupted run has no addon: start it again.
  rm -rf "$ric_dir"
  mkdir -p "$ric_dir"
  log="$ric_cache/aws-lambda-ric-$ric_version-install.log"
  echo "install-test-services: building aws-lambda-ric@$ric_version into $ric_dir (about a minute; log: $log)" >&2
  if ! npm_config_nodedir="$node24_dir" bash "$root/scripts/with-node24.sh" \
    npm install --prefix "$ric_dir" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts=false \
    --foreground-scripts "aws-lambda-ric@$ric_version" >"$log" 2>&1 || [ ! -f "$ric_addon" ]; then
    tail -n 40 "$log" >&2
    echo "install-test-services: building aws-lambda-ric@$ric_version failed; the full log is $log" >&2
    exit 1
  fi
  echo "install-test-services: aws-lambda-ric@$ric_version ready in $ric_dir (built in $((SECONDS - started)) s)"
}

if [ "$(uname -s)" != Linux ]; then
  # Its install skips the native build outside Linux, and scripts/with-node24.sh is Linux-only.
  echo "install-test-services: aws-lambda-ric builds only on Linux; test/lambda-runtime will skip here" >&2
elif [ -f "$ric_addon" ]; then
  echo "install-test-services: aws-lambda-ric@$ric_version already built in $ric_dir"
else
  install_ric
fi
