#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages some tests use: util-linux (setpriv, mount) and diffutils are on every
# Debian machine; install them if a minimal image lacks them.
need=()
command -v setpriv >/dev/null || need+=(util-linux)
command -v diff >/dev/null || need+=(diffutils)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if ! command -v cargo-nextest >/dev/null; then
  cargo install cargo-nextest --locked
fi
cargo nextest run --workspace --locked --no-fail-fast
