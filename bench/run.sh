#!/usr/bin/env bash
# Benchmark ibars against restic and rustic on one generated dataset, in one
# run, and print a Markdown table plus ibars/best-other ratios.
#
#   bench/run.sh [--size-gib 3] [--seed 1] [--work bench/work]
#                [--tools ibars,restic,rustic] [--keep]
#                [--generations 20] [--prune-only]
#
# Tools: ibars, ibars-nodetect (ibars with `backup --no-detect`), restic, rustic.
# See bench/README.md for what is measured and how to read the numbers.
set -euo pipefail
export LC_ALL=C # stable number formatting and sorting

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd -P)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

SIZE_GIB=3
SEED=1
WORK=$BENCH_DIR/work
TOOLS=ibars,restic,rustic
KEEP=0
GENERATIONS=20
PRUNE_ONLY=0
PASSWORD=bench

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while (($#)); do
    case $1 in
    --size-gib) SIZE_GIB=$2; shift 2 ;;
    --size-gib=*) SIZE_GIB=${1#*=}; shift ;;
    --seed) SEED=$2; shift 2 ;;
    --seed=*) SEED=${1#*=}; shift ;;
    --work) WORK=$2; shift 2 ;;
    --work=*) WORK=${1#*=}; shift ;;
    --tools) TOOLS=$2; shift 2 ;;
    --tools=*) TOOLS=${1#*=}; shift ;;
    --keep) KEEP=1; shift ;;
    --generations) GENERATIONS=$2; shift 2 ;;
    --prune-only) PRUNE_ONLY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

IFS=, read -r -a TOOL_LIST <<<"$TOOLS"
check_tool_names

SIZE_GIB=$(printf '%.3f' "$SIZE_GIB") # 3 and 3.0 must hit the same cached dataset

# Stray RESTIC_*/RUSTIC_*/IBARS_* settings from the caller's environment
# would make the tools benchmark something else (see lib.sh).
clean_tool_env

# ---------------------------------------------------------------- tools

ensure_gnu_time

if has_tool restic; then
    command -v restic >/dev/null || { log "installing restic"; apt_install restic; }
    RESTIC_BIN=$(command -v restic)
fi

if has_tool rustic; then
    if ! find_rustic; then
        log "installing rustic (cargo install rustic-rs --locked; this takes a while)"
        cargo install rustic-rs --locked
        RUSTIC_BIN=$HOME/.cargo/bin/rustic
    fi
fi

if has_tool ibars || has_tool ibars-nodetect; then
    if [[ -z ${IBARS_BIN:-} ]]; then
        log "building ibars (cargo build --release -p ibars)"
        (cd "$REPO_ROOT" && cargo build --release -p ibars)
        target_dir=${CARGO_TARGET_DIR:-target}
        [[ $target_dir == /* ]] || target_dir=$REPO_ROOT/$target_dir
        IBARS_BIN=$target_dir/release/ibars
    fi
    [[ -x $IBARS_BIN ]] || die "ibars binary not found at $IBARS_BIN"
    if has_tool ibars-nodetect && ! ibars_has_no_detect; then
        drop_tool ibars-nodetect "$IBARS_BIN has no 'backup --no-detect'"
        ((${#TOOL_LIST[@]})) || die "no tools left to run"
    fi
fi

# ---------------------------------------------------------------- layout

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P) # the tools record absolute paths; avoid symlinks
DATASET=$WORK/dataset        # pristine, reused between runs
MARKER=$WORK/dataset.marker  # kept outside the dataset so it is not backed up
DATA=$WORK/data              # working copy: backed up and mutated
META=$WORK/meta.tsv
RESULTS=$WORK/results.tsv
LOGS=$WORK/logs

rm -rf "$DATA" "$WORK/repos" "$WORK/cache" "$WORK/restore" "$WORK/home" "$LOGS" \
    "$META" "$RESULTS" "$WORK/results.md" "$WORK/results.json"
mkdir -p "$LOGS" "$WORK/repos" "$WORK/cache" "$WORK/restore" "$WORK/home"
: >"$RESULTS"

# Dataset + working copy + one repo per tool (~0.5-1x each) + one restore.
need_kb=$(awk -v g="$SIZE_GIB" -v n="${#TOOL_LIST[@]}" 'BEGIN{printf "%d", g*1048576*(3.2+n)}')
avail_kb=$(df -Pk "$WORK" | awk 'NR==2{print $4}')
if ((avail_kb < need_kb)); then
    echo "warning: only $((avail_kb / 1048576)) GiB free under $WORK, this run may need ~$((need_kb / 1048576)) GiB" >&2
fi

# ---------------------------------------------------------------- dataset

want_marker="size_gib=$SIZE_GIB seed=$SEED gen=$(sha256sum "$BENCH_DIR/gen_dataset.py" | cut -c1-16)"
if [[ -d $DATASET && -f $MARKER && $(<"$MARKER") == "$want_marker" ]]; then
    log "reusing dataset $DATASET ($want_marker)"
else
    log "generating dataset ($SIZE_GIB GiB, seed $SEED)"
    rm -rf "$DATASET" "$MARKER"
    python3 "$BENCH_DIR/gen_dataset.py" --out "$DATASET" --size-gib "$SIZE_GIB" --seed "$SEED"
    echo "$want_marker" >"$MARKER"
fi
# Phase 3 mutates the data, so every run works on a fresh copy and the
# pristine dataset stays reusable.
log "copying dataset to $DATA"
cp -a "$DATASET" "$DATA"

meta tools "$TOOLS"
meta dataset_gib "$SIZE_GIB"
meta seed "$SEED"
meta generations "$GENERATIONS"
meta dataset_files "$(find "$DATA" -type f | wc -l)"
meta dataset_bytes "$(find "$DATA" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')"
meta data_path "$DATA"
meta host "$(uname -srm)"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
meta mem "$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for t in "${TOOL_LIST[@]}"; do result "$t" version "$(tool_version "$t")"; done

# tool_cmd, measure and run_phase are in lib.sh.

# Prints the directory inside DEST that corresponds to DATA: restic-style
# DEST/<absolute DATA path>, DEST/<basename DATA>, or DEST itself.
restore_root() {
    local dest=$1 cand e ok
    local entries
    entries=$(ls -A "$DATA")
    for cand in "$dest$DATA" "$dest/$(basename "$DATA")" "$dest"; do
        [[ -d $cand ]] || continue
        ok=1
        for e in $entries; do [[ -e $cand/$e ]] || { ok=0; break; }; done
        ((ok)) && { echo "$cand"; return 0; }
    done
    return 1
}

# "path mode mtime-seconds" for every regular file under $1, sorted.
file_meta() {
    (cd "$1" && find . -type f -printf '%p\t%m\t%T@\n') |
        awk -F'\t' '{ printf "%s %s %d\n", $1, $2, $3 }' | sort
}

verify_restore() {
    local tool=$1 dest=$2 root
    if ! root=$(restore_root "$dest"); then
        printf '\n!!!!! %s RESTORE MISMATCH: no copy of %s found under %s\n' "$tool" "$DATA" "$dest" >&2
        result "$tool" restore_check "MISMATCH (data not found)"
        EXIT=1
        return
    fi
    local d=$LOGS/$tool-restore.diff
    if diff -rq --no-dereference "$DATA" "$root" >"$d" 2>&1; then
        result "$tool" restore_check ok
        echo "   $tool restore: contents identical ($root)" >&2
    else
        printf '\n!!!!! %s RESTORE MISMATCH: %s differences, first ones (full list in %s):\n' \
            "$tool" "$(wc -l <"$d")" "$d" >&2
        head -n 20 "$d" | sed 's/^/    /' >&2
        result "$tool" restore_check "MISMATCH ($(wc -l <"$d") diffs)"
        EXIT=1
    fi
    # Metadata is reported, not fatal: file mode and mtime (to the second).
    local m=$LOGS/$tool-restore.meta-diff
    if diff <(file_meta "$DATA") <(file_meta "$root") >"$m"; then
        result "$tool" meta_check ok
    else
        result "$tool" meta_check "$(grep -c '^[<>]' "$m") entries differ"
        echo "   $tool restore: mode/mtime differences, see $m" >&2
    fi
}

# ---------------------------------------------------------------- phases

log "warming the page cache with the dataset"
find "$DATA" -type f -print0 | xargs -0 cat >/dev/null

log "phase 1: init + initial backup"
for t in "${TOOL_LIST[@]}"; do
    tool_cmd "$t" init
    measure "$t" init "${CMD[@]}" || continue
    tool_cmd "$t" backup
    measure "$t" backup1 "${CMD[@]}" || true
done

# phase 6: GENERATIONS backups of a changing dataset (not timed), then forget + prune (timed).
prune_phase() {
    log "phase 6: $GENERATIONS generations of 2% changes, then forget --keep-last 5 --prune"
    local g t
    for ((g = 1; g <= GENERATIONS; g++)); do
        python3 "$BENCH_DIR/gen_dataset.py" --mutate "$DATA" --percent 2 --seed $((SEED + 2000 + g)) >/dev/null
        for t in "${TOOL_LIST[@]}"; do
            [[ -z ${FAILED[$t]:-} ]] || continue
            tool_cmd "$t" backup
            if ! (cd "$WORK/home" && "${CMD[@]}") >"$LOGS/$t-generation.out" 2>&1; then
                echo "!!!!! $t backup of generation $g FAILED; see $LOGS/$t-generation.out" >&2
                FAILED[$t]=1
                EXIT=1
            fi
        done
    done
    run_phase prune forget
}

if ((PRUNE_ONLY)); then
    prune_phase
    log "results"
    python3 "$BENCH_DIR/report.py" --work "$WORK"
    ((KEEP)) || rm -rf "$DATA" "$WORK/repos" "$WORK/cache" "$WORK/restore" "$WORK/home"
    exit "$EXIT"
fi

log "phase 2: no-change backup"
run_phase backup2 backup

log "phase 3: mutate 5% of files, then backup"
mut=$(python3 "$BENCH_DIR/gen_dataset.py" --mutate "$DATA" --percent 5 --seed $((SEED + 1000)))
echo "   $mut" >&2
meta mutation "$(sed -E 's/^mutated [^:]*: //; s/, [0-9.]+s$//' <<<"$mut")"
run_phase backup3 backup
for t in "${TOOL_LIST[@]}"; do
    if [[ -z ${FAILED[$t]:-} ]]; then
        result "$t" repo_bytes "$(du -sb "$WORK/repos/$t" | cut -f1)"
    fi
done

log "phase 4: restore latest snapshot into an empty directory (twice, in opposite tool orders)"
# The file system makes whoever creates files soon after a mass deletion search past the
# freed inodes (ext4 skips inodes deleted under ~30 s ago), and restores are deleted to save
# space. So each restore is followed by a pause, and the two rounds run in opposite orders;
# the report takes the mean of the two. Creating many files after an earlier mass deletion
# also costs more (on ext4 without a journal, every new inode is looked up among the cached
# inode-table blocks the deletion left), so a copy of the data set is made and deleted first:
# the first restore then starts where every later one does, after a deletion.
SETTLE=${SETTLE:-35}
reversed=()
for ((i = ${#TOOL_LIST[@]} - 1; i >= 0; i--)); do reversed+=("${TOOL_LIST[i]}"); done
rm -rf "$WORK/restore/warm-up"
mkdir -p "$WORK/restore"
cp -a "$DATA" "$WORK/restore/warm-up"
rm -rf "$WORK/restore/warm-up"
sync
sleep "$SETTLE"
for round in 1 2; do
    if ((round == 1)); then order=("${TOOL_LIST[@]}"); label=restore; else order=("${reversed[@]}"); label=restore2; fi
    for t in "${order[@]}"; do
        [[ -z ${FAILED[$t]:-} ]] || continue
        dest=$WORK/restore/$t
        rm -rf "$dest"
        mkdir -p "$dest"
        tool_cmd "$t" restore "$dest"
        if measure "$t" "$label" "${CMD[@]}" && ((round == 1)); then
            verify_restore "$t" "$dest"
        fi
        ((KEEP && round == 2)) || { rm -rf "$dest"; sync; sleep "$SETTLE"; }
    done
done

log "phase 5: check --read-data (read, decrypt and verify every blob)"
run_phase check check

prune_phase

# ---------------------------------------------------------------- report

log "results"
python3 "$BENCH_DIR/report.py" --work "$WORK"
echo >&2
echo "results: $WORK/results.md, $WORK/results.json; logs: $LOGS" >&2

if ((!KEEP)); then
    # Keep the pristine dataset (reused next time), logs and results.
    rm -rf "$DATA" "$WORK/repos" "$WORK/cache" "$WORK/restore" "$WORK/home"
fi
((EXIT == 0)) || echo "!!!!! some steps FAILED or restores did not match (see above)" >&2
exit "$EXIT"
