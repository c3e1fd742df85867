#!/usr/bin/env bash
# Installs the project's non-Rust tools into project-local virtualenvs under
# .venv/, each in its own (aws-sam-cli downgrades moto's boto3 and click).
# Idempotent: a tool whose stamp matches its pinned version is left alone.
#   scripts/install-tools.sh moto sam lambda verify
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
SAM_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
STANDARDWEBHOOKS_VERSION=1.1.0
PYTHON=${PYTHON:-python3}

install() { # name, pip requirement...
  local name=$1; shift
  local venv=.venv/$name stamp=.venv/$name/.installed
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ]; then return 0; fi
  echo "installing $* into $venv" >&2
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" > "$stamp"
}

[ $# -gt 0 ] || set -- moto sam lambda verify
for tool in "$@"; do
  case $tool in
    moto) install moto "moto[server]==$MOTO_VERSION" ;;
    sam) install sam "aws-sam-cli==$SAM_VERSION" ;;
    lambda) install lambda "cargo-lambda==$CARGO_LAMBDA_VERSION" ;;
    # The official Standard Webhooks verifier, to prove our signatures interoperate.
    verify) install verify "standardwebhooks==$STANDARDWEBHOOKS_VERSION" ;;
    *) echo "unknown tool: $tool" >&2; exit 2 ;;
  esac
done
