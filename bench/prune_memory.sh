#!/usr/bin/env bash
# Peak memory of `ibars prune` per blob: two repositories of 1 KiB chunks (about N and 4N
# blobs), each with two generations of random data of which forget drops one; prune's peak RSS
# is measured with GNU time, and the slope between the two sizes is the cost per blob.
#
#   bench/prune_memory.sh [MIB_SMALL] [MIB_LARGE]     (default 32 and 128 MiB per generation)
set -euo pipefail
IBARS_BIN=${IBARS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/ibars}
small=${1:-32}
large=${2:-128}
work=$(mktemp -d /tmp/ibars-prune-mem.XXXXXX)
trap 'rm -rf "$work"' EXIT
export IBARS_PASSWORD=bench
declare -A rss blobs
for mib in "$small" "$large"; do
    repo=$work/repo$mib
    "$IBARS_BIN" -r "$repo" init --chunk-size 1KiB -q >/dev/null
    for g in 1 2; do
        rm -rf "$work/src" && mkdir -p "$work/src"
        head -c $((mib << 20)) /dev/urandom >"$work/src/data.bin"
        "$IBARS_BIN" -r "$repo" backup "$work/src" -q
    done
    "$IBARS_BIN" -r "$repo" forget --keep-last 1 -q
    /usr/bin/time -v -o "$work/time" "$IBARS_BIN" -r "$repo" --json prune >"$work/out.json"
    rss[$mib]=$(awk -F': ' '/Maximum resident set size/{print $2}' "$work/time")
    blobs[$mib]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plan"]["blobs_total"])' "$work/out.json")
    printf '%5s MiB/generation: %8s blobs, peak RSS %6s KiB\n' "$mib" "${blobs[$mib]}" "${rss[$mib]}"
done
python3 - "${blobs[$small]}" "${rss[$small]}" "${blobs[$large]}" "${rss[$large]}" <<'PY'
import sys
b1, r1, b2, r2 = map(int, sys.argv[1:])
print(f"prune memory: {(r2 - r1) * 1024 / (b2 - b1):.0f} bytes per blob "
      f"(slope between {b1} and {b2} blobs)")
PY
