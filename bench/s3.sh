#!/usr/bin/env bash
# The S3 leg of the benchmark: ibars and restic against the same one-node Garage on loopback,
# side by side in one run: initial backup, no-change backup, restore. Prints a Markdown table
# with times, ibars/restic ratios and the S3 requests each phase made (from Garage's metrics),
# plus how many data-pack reads ibars' no-change backup made (from its request log).
#
#   bench/s3.sh [--size-gib 3] [--seed 1] [--work bench/work]
#
# Uses the dataset bench/run.sh generates (generating it if missing). IBARS_BIN picks the
# ibars binary (default: a release build). Needs restic and garage (installed if missing).
set -euo pipefail
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd -P)
SIZE_GIB=3
SEED=1
WORK=$BENCH_DIR/work
PASSWORD=bench
SETTLE=${SETTLE:-35}

while (($#)); do
    case $1 in
    --size-gib) SIZE_GIB=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
for v in $(compgen -e); do
    case $v in RESTIC_* | IBARS_* | AWS_*) [[ $v == IBARS_BIN ]] || unset "$v" ;; esac
done
log() { printf '\n==> %s\n' "$*" >&2; }

command -v restic >/dev/null || { log "installing restic"; apt-get install -y -q restic; }
if [[ -z ${IBARS_BIN:-} ]]; then
    (cd "$REPO_ROOT" && cargo build --release -p ibars)
    IBARS_BIN=$REPO_ROOT/target/release/ibars
fi

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
SIZE_GIB=$(printf '%.3f' "$SIZE_GIB")
DATASET=$WORK/dataset
MARKER=$WORK/dataset.marker
want_marker="size_gib=$SIZE_GIB seed=$SEED gen=$(sha256sum "$BENCH_DIR/gen_dataset.py" | cut -c1-16)"
if [[ ! -d $DATASET || ! -f $MARKER || $(<"$MARKER") != "$want_marker" ]]; then
    log "generating dataset ($SIZE_GIB GiB, seed $SEED)"
    rm -rf "$DATASET" "$MARKER"
    python3 "$BENCH_DIR/gen_dataset.py" --out "$DATASET" --size-gib "$SIZE_GIB" --seed "$SEED"
    echo "$want_marker" >"$MARKER"
fi

S3=$WORK/s3
rm -rf "$S3"
mkdir -p "$S3/logs" "$S3/cache" "$S3/restore"
port=$((20000 + RANDOM % 20000))
"$REPO_ROOT/scripts/garage.sh" start "$S3/garage" "$port"
trap '"$REPO_ROOT/scripts/garage.sh" stop "$S3/garage"' EXIT
# shellcheck disable=SC1091
source "$S3/garage/env"
metrics_url=http://127.0.0.1:$((port + 3))/metrics
endpoint=$IBARS_S3_ENDPOINT

# S3 requests by API call so far, as "GetObject=12 PutObject=3 ...".
requests() {
    curl -s "$metrics_url" | awk -F'[{}"= ]+' '/^api_s3_request_counter\{/ {print $3, $NF}' | sort
}
# Difference of two `requests` snapshots, as "GetObject=2 PutObject=1".
delta() {
    join -a 2 -e 0 -o 2.1,1.2,2.2 <(echo "$1") <(echo "$2") |
        awk '$3 - $2 > 0 {printf "%s%s=%d", sep, $1, $3 - $2; sep=" "}'
}

tool_cmd() {
    local tool=$1 phase=$2 dest=${3:-}
    case $tool in
    restic)
        local base=(env RESTIC_PASSWORD="$PASSWORD" restic -r "s3:$endpoint/ibars/restic"
            --cache-dir "$S3/cache/restic")
        case $phase in
        init) CMD=("${base[@]}" init --repository-version 2) ;;
        backup) CMD=("${base[@]}" backup --host bench "$DATASET") ;;
        restore) CMD=("${base[@]}" restore latest --target "$dest") ;;
        esac ;;
    ibars)
        local base=(env IBARS_PASSWORD="$PASSWORD" XDG_CACHE_HOME="$S3/cache/ibars"
            IBARS_LOG=ibars::request=debug "$IBARS_BIN" -r "s3:$endpoint/ibars/ibars")
        case $phase in
        init) CMD=("${base[@]}" init) ;;
        backup) CMD=("${base[@]}" backup "$DATASET") ;;
        restore) CMD=("${base[@]}" restore latest --target "$dest") ;;
        esac ;;
    esac
}

declare -A WALL REQ
measure() {
    local tool=$1 label=$2 before after t0 t1
    shift 2
    sync
    before=$(requests)
    t0=$(date +%s.%N)
    "$@" >"$S3/logs/$tool-$label.out" 2>"$S3/logs/$tool-$label.err" || {
        echo "!!!!! $tool $label failed; see $S3/logs/$tool-$label.err" >&2
        tail -n 5 "$S3/logs/$tool-$label.err" >&2
        exit 1
    }
    t1=$(date +%s.%N)
    after=$(requests)
    WALL[$tool-$label]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')
    REQ[$tool-$label]=$(delta "$before" "$after")
    printf '   %-7s %-9s %8ss  %s\n' "$tool" "$label" "${WALL[$tool-$label]}" "${REQ[$tool-$label]}" >&2
}

log "warming the page cache"
find "$DATASET" -type f -print0 | xargs -0 cat >/dev/null

for t in ibars restic; do
    tool_cmd $t init
    "${CMD[@]}" >/dev/null 2>&1
done
log "initial backup"
for t in ibars restic; do tool_cmd $t backup; measure $t backup1 "${CMD[@]}"; done
log "no-change backup"
for t in restic ibars; do tool_cmd $t backup; measure $t backup2 "${CMD[@]}"; done
pack_gets=$(grep -c 'GET data/' "$S3/logs/ibars-backup2.err" || true)

log "restore (two rounds in opposite orders, $SETTLE s apart)"
# As in run.sh: make and delete a copy of the data first, so that the first restore, like every
# later one, follows a mass deletion.
rm -rf "$S3/restore/warm-up"
mkdir -p "$S3/restore"
cp -a "$DATASET" "$S3/restore/warm-up"
rm -rf "$S3/restore/warm-up"
sync
for round in 1 2; do
    if ((round == 1)); then order=(ibars restic); else order=(restic ibars); fi
    for t in "${order[@]}"; do
        dest=$S3/restore/$t
        rm -rf "$dest"
        mkdir -p "$dest"
        sleep "$SETTLE"
        tool_cmd $t restore "$dest"
        measure $t "restore$round" "${CMD[@]}"
        if ((round == 1)); then
            diff -rq --no-dereference "$DATASET" "$dest$DATASET" >/dev/null ||
                { echo "!!!!! $t restore differs from the dataset" >&2; exit 1; }
            echo "   $t restore: contents identical" >&2
        fi
        rm -rf "$dest"
        sync
    done
done

mean() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (a + b) / 2}'; }
for t in ibars restic; do WALL[$t-restore]=$(mean "${WALL[$t-restore1]}" "${WALL[$t-restore2]}"); done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a / b}'; }

{
    echo "## S3 leg: one-node Garage on loopback ($(du -sh "$DATASET" | cut -f1), $(find "$DATASET" -type f | wc -l) files)"
    echo
    echo "ibars $("$IBARS_BIN" --version | awk '{print $NF}'), $(restic version | awk '{print $1, $2}'), garage $(garage --version 2>/dev/null | awk '{print $2}'); $(nproc) cores; $(date -u +%Y-%m-%d)"
    echo
    echo "| phase | ibars s | restic s | ibars/restic | ibars requests | restic requests |"
    echo "|---|---:|---:|---:|---|---|"
    for p in backup1 backup2 restore; do
        # Requests of the restore row are round 1's.
        q=$p
        [[ $p == restore ]] && q=restore1
        rq_i=${REQ[ibars-$q]:-}
        rq_r=${REQ[restic-$q]:-}
        echo "| $p | ${WALL[ibars-$p]} | ${WALL[restic-$p]} | $(ratio "${WALL[ibars-$p]}" "${WALL[restic-$p]}") | $rq_i | $rq_r |"
    done
    echo
    echo "Restore is the mean of two rounds (requests: round 1). backup2 is a no-change backup;"
    echo "ibars' request log shows $pack_gets data-pack read(s) in it."
} | tee "$S3/results.md"
