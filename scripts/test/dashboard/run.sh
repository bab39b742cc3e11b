#!/usr/bin/env bash
# Run the dashboard's browser test end to end: a scratch repository and config
# (make-scratch.sh), a daemon on a loopback port, one successful and one failed job run, then
# dashboard.test.mjs. Stops the daemon it started. Needs a built target/debug/ibars (or
# IBARS_BIN), node and /usr/bin/chromium.
#
#   scripts/test/dashboard/run.sh            # assets embedded in the binary
#   DEV=1 scripts/test/dashboard/run.sh      # assets from the work tree (IBARS_DASHBOARD_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
ibars=${IBARS_BIN:-$root/target/debug/ibars}
T=${IBARS_SCRATCH:-$(mktemp -d /tmp/ibars-dash.XXXXXX)}
PORT=${PORT:-$((20000 + RANDOM % 20000))}

[ -d "$here/node_modules/playwright-core" ] || (cd "$here" && npm ci --no-audit --no-fund)

"$here/make-scratch.sh" "$T" "$PORT" > "$T.env"
# shellcheck disable=SC1090
. "$T.env"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; }
trap cleanup EXIT

export IBARS_PASSWORD_FILE="$T/pw"
if [ -n "${DEV:-}" ]; then
    export IBARS_DASHBOARD_DIR="$root/crates/ibars-daemon/assets"
fi
"$ibars" --config "$T/ibars.toml" daemon > "$T/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    "$ibars" --config "$T/ibars.toml" jobs status > /dev/null 2>&1 && break
    sleep 0.2
done
"$ibars" --config "$T/ibars.toml" jobs run home --wait > /dev/null
"$ibars" --config "$T/ibars.toml" jobs run broken --wait > /dev/null || true


cd "$here"
node dashboard.test.mjs
