#!/usr/bin/env bash
# Peak memory of `ibars prune` per blob: two repositories of 1 KiB chunks (about N and 4N
# blobs), each with two generations of random data of which forget drops one. The peak RSS of
# `prune --dry-run` (the plan, which holds the per-blob state) and of `prune` (which adds fixed
# pack buffers) is measured with GNU time; the slope between the two sizes is the cost per blob.
#
#   bench/prune_memory.sh [MIB_SMALL] [MIB_LARGE]     (default 32 and 128 MiB per generation)
set -euo pipefail
IBARS_BIN=${IBARS_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/ibars}
small=${1:-32}
large=${2:-128}
work=$(mktemp -d /tmp/ibars-prune-mem.XXXXXX)
trap 'rm -rf "$work"' EXIT
export IBARS_PASSWORD=bench
declare -A rss blobs plan
for mib in "$small" "$large"; do
    repo=$work/repo$mib
    "$IBARS_BIN" -r "$repo" init --chunk-size 1KiB -q >/dev/null
    for g in 1 2; do
        # 64 directories of 16 files: trees of a realistic size.
        rm -rf "$work/src"
        for d in $(seq 64); do
            mkdir -p "$work/src/d$d"
            for f in $(seq 16); do
                head -c $((mib << 10)) /dev/urandom >"$work/src/d$d/f$f"
            done
        done
        "$IBARS_BIN" -r "$repo" backup "$work/src" -q
    done
    "$IBARS_BIN" -r "$repo" forget --keep-last 1 -q
    /usr/bin/time -v -o "$work/time" "$IBARS_BIN" -r "$repo" --json prune --dry-run >/dev/null
    plan[$mib]=$(awk -F': ' '/Maximum resident set size/{print $2}' "$work/time")
    /usr/bin/time -v -o "$work/time" "$IBARS_BIN" -r "$repo" --json prune >"$work/out.json"
    rss[$mib]=$(awk -F': ' '/Maximum resident set size/{print $2}' "$work/time")
    blobs[$mib]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["plan"]["blobs_total"])' "$work/out.json")
    printf '%5s MiB/generation: %8s blobs, peak RSS: plan %6s KiB, prune %6s KiB\n' \
        "$mib" "${blobs[$mib]}" "${plan[$mib]}" "${rss[$mib]}"
done
python3 - "${blobs[$small]}" "${plan[$small]}" "${rss[$small]}" \
    "${blobs[$large]}" "${plan[$large]}" "${rss[$large]}" <<'PY'
import sys
b1, p1, r1, b2, p2, r2 = map(int, sys.argv[1:])
print(f"plan: {(p2 - p1) * 1024 / (b2 - b1):.0f} bytes per blob; whole prune: "
      f"{(r2 - r1) * 1024 / (b2 - b1):.0f} bytes per blob (slopes between {b1} and {b2} blobs)")
PY
