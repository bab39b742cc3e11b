#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages some tests use: util-linux (setpriv, mount), diffutils and tzdata are on every
# Debian machine; install them if a minimal image lacks them.
need=()
command -v setpriv >/dev/null || need+=(util-linux)
command -v diff >/dev/null || need+=(diffutils)
# The forecast tests run each day of a history under faketime, so that every run carries its day.
command -v faketime >/dev/null || need+=(faketime)
# The schedule tests name IANA time zones (Europe/Berlin), read from the system's tzdata.
[ -e /usr/share/zoneinfo/Europe/Berlin ] || need+=(tzdata)
# The daemon's tests: a real Prometheus scrapes it, Python serves as webhook receiver and runs
# the SMTP server, openssl makes the SMTP server's certificate.
command -v prometheus >/dev/null || need+=(prometheus)
command -v python3 >/dev/null || need+=(python3 python3-pip)
command -v openssl >/dev/null || need+=(openssl)
# The dashboard's browser test: Debian's Chromium (never a downloaded browser) and Node.js,
# which drives it through npm's playwright-core.
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
# From PyPI: aiosmtpd, the SMTP server of the alert tests; schemathesis (`st`), which fuzzes
# the API from its OpenAPI document.
pip_install() {
  python3 -m pip install -q "$@" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "$@"
}
python3 -c 'import aiosmtpd' 2>/dev/null || pip_install aiosmtpd
command -v st >/dev/null || pip_install 'schemathesis==4.32.5'
# playwright-core, as locked in scripts/test/dashboard/package-lock.json.
[ -d scripts/test/dashboard/node_modules/playwright-core ] \
  || (cd scripts/test/dashboard && npm ci --no-audit --no-fund)

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if ! command -v cargo-nextest >/dev/null; then
  cargo install cargo-nextest --locked
fi

# A real S3 store for the object-storage tests: one Garage node on loopback, shared by all
# tests (each uses its own prefix), stopped on exit. Installed with cargo when missing.
# A three-node cluster (replication factor 3) runs the fault-injection test below; the
# cluster tests that kill nodes start clusters of their own.
garage_dir=$(mktemp -d /tmp/ibars-test-garage.XXXXXX)
cluster_dir=$(mktemp -d /tmp/ibars-test-cluster.XXXXXX)
trap 'scripts/garage.sh stop "$garage_dir"; scripts/garage.sh stop "$cluster_dir"; rm -rf "$garage_dir" "$cluster_dir"' EXIT
port=$((20000 + RANDOM % 20000))
scripts/garage.sh start "$garage_dir" "$port"
scripts/garage.sh cluster "$cluster_dir" $((port + 100))
export IBARS_TEST_GARAGE=$garage_dir/env

cargo nextest run --workspace --locked --no-fail-fast
# The core integration tests once more, on S3 instead of memory.
IBARS_TEST_CORE_ON_S3=$garage_dir/env cargo nextest run -p ibars-core --locked --no-fail-fast \
  --test roundtrip --test lifecycle --test erasure --test backup_behaviour --test concurrent_backups
# Injected request failures (10%, then 40%) on the three-node cluster: backups complete or fail
# cleanly, and check --read-data passes.
IBARS_TEST_CORE_ON_S3=$cluster_dir/env cargo nextest run -p ibars-core --locked --no-fail-fast \
  --test faults
