#!/usr/bin/env bash
# Runs a command with Node.js 24, the Lambda runtime's major version (see scripts/with-node.sh).
exec bash "$(dirname "$0")/with-node.sh" 24 "$@"
