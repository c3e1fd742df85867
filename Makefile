# INC — the two commands a new user needs are `make dev` and `make test`.
SHELL := bash
.DEFAULT_GOAL := help

.PHONY: help tools dev test lint unit deny fuzz fuzz-smoke build bench

ARCH ?= arm64

FUZZ_TARGETS := event_json event_form message_json signature_header receipts transformation
FUZZ_SECONDS ?= 600
CARGO_TOOLS := $(CURDIR)/.venv/cargo/bin

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

tools: ## install moto[server], aws-sam-cli, cargo-lambda, standardwebhooks, schemathesis (.venv/), cargo-deny, cargo-fuzz, chromium and Playwright
	@scripts/install-tools.sh moto sam lambda verify deny fuzz browser schemathesis

build: ## sam build: release bootstraps by cargo-lambda into .aws-sam/ (ARCH=arm64, the default, or x86_64)
	@scripts/install-tools.sh sam lambda
	PATH="$(CURDIR)/.venv/lambda/bin:$$PATH" SAM_CLI_TELEMETRY=0 .venv/sam/bin/sam build \
	  --beta-features --parameter-overrides Architecture=$(ARCH)

dev: ## run the local stack: moto, tables and queues from template.yaml, the API on :3000
	@scripts/install-tools.sh moto
	cargo run --bin inc -- dev

bench: ## every benchmark against its limit (release build, local stack): prints the table, writes docs/benchmarks.md
	@scripts/install-tools.sh moto
	cargo build --release --bin ingest --bin deliver --bin api --bin resend --bin campaigns --bin realtime --bin receipts --bin sweeper --bin hello --bin init-phases --bin inc-bench
	target/release/inc-bench

lint: ## formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

deny: ## licences, banned crates and sources of every dependency (advisories need the network: see README)
	@scripts/install-tools.sh deny
	$(CARGO_TOOLS)/cargo-deny check licenses bans sources

fuzz-smoke: ## a few seconds of each fuzz target, as make test runs them
	@scripts/install-tools.sh fuzz
	@for t in $(FUZZ_TARGETS); do \
	  new=$$(mktemp -d); \
	  (cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO_TOOLS)/cargo-fuzz run -s none $$t $$new corpus/$$t -- -max_total_time=5 -print_final_stats=0) || exit 1; \
	  rm -rf $$new; \
	done

fuzz: ## a long fuzz run of every target with AddressSanitizer (FUZZ_SECONDS each, default 600)
	@scripts/install-tools.sh fuzz
	@for t in $(FUZZ_TARGETS); do \
	  (cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO_TOOLS)/cargo-fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS)) || exit 1; \
	done

test: tools lint deny fuzz-smoke ## every test: unit, end to end against moto, SAM lint, cargo-lambda, chromium, schemathesis
	@if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --no-fail-fast; \
	else \
	  cargo test --workspace --no-fail-fast; \
	fi
