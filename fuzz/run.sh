#!/usr/bin/env bash
# Fuzz every parser of repository data for a bounded time each, then report the executions run
# and the crashes found per target. Not run in CI: it takes SECONDS x 12 and needs cargo-fuzz.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Uses the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z sanitizer flags), and
# AddressSanitizer. Limits: 10 s per input (an endless loop is a crash), 1 GiB per allocation
# (an allocation sized by an untrusted length is a crash), 2 GiB of RSS.
# Exit status: 0 when no target crashed, 1 otherwise. Crashing inputs land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(pack_header index tree snapshot key_file config parity sealed scrub_state lock history_record blob)
fi
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
(cd .. && cargo run -q --release -p ibars-core --example fuzz_seeds -- fuzz/corpus)
cargo fuzz build -O
mkdir -p logs
status=0
printf '%-14s %12s %10s %8s\n' target executions exec/s crashes
for t in "${targets[@]}"; do
  log=logs/$t.log
  set +e
  cargo fuzz run -O "$t" corpus/"$t" -- -max_total_time="$secs" -timeout=10 \
    -malloc_limit_mb=1024 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=0
  if [ $rc -ne 0 ]; then
    crashes=$(grep -c 'Test unit written to' "$log" || true)
    [ "$crashes" -eq 0 ] && crashes=1
    status=1
  fi
  printf '%-14s %12s %10s %8s\n' "$t" "${runs:-?}" "${rate:-?}" "$crashes"
done
[ $status -eq 0 ] || echo "crashes found: see fuzz/logs/ and fuzz/artifacts/" >&2
exit $status
