# INC — the two commands a new user needs are `make dev` and `make test`.
SHELL := bash
.DEFAULT_GOAL := help

.PHONY: help tools dev test lint unit

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

tools: ## install moto[server], aws-sam-cli, cargo-lambda and standardwebhooks into .venv/ (each its own)
	@scripts/install-tools.sh moto sam lambda verify

dev: ## run the local stack: moto, tables and queues from template.yaml, the API on :3000
	@scripts/install-tools.sh moto
	cargo run --bin inc -- dev

lint: ## formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test: tools lint ## every test: unit, end to end against moto, SAM lint, cargo-lambda
	@if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --no-fail-fast; \
	else \
	  cargo test --workspace --no-fail-fast; \
	fi
