#!/usr/bin/env bash
# Benchmark ibars against restic and rustic on one generated dataset, in one
# run, and print a Markdown table plus ibars/best-other ratios.
#
#   bench/run.sh [--size-gib 3] [--seed 1] [--work bench/work]
#                [--tools ibars,restic,rustic] [--keep]
#                [--generations 20] [--prune-only]
#
# See bench/README.md for what is measured and how to read the numbers.
set -euo pipefail
export LC_ALL=C # stable number formatting and sorting

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd -P)

SIZE_GIB=3
SEED=1
WORK=$BENCH_DIR/work
TOOLS=ibars,restic,rustic
KEEP=0
GENERATIONS=20
PRUNE_ONLY=0
PASSWORD=bench

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
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
((${#TOOL_LIST[@]})) || { echo "--tools is empty" >&2; exit 2; }
for t in "${TOOL_LIST[@]}"; do
    case $t in ibars | restic | rustic) ;; *) echo "unknown tool: $t" >&2; exit 2 ;; esac
done
has_tool() { [[ ",$TOOLS," == *",$1,"* ]]; }

SIZE_GIB=$(printf '%.3f' "$SIZE_GIB") # 3 and 3.0 must hit the same cached dataset

# Stray RESTIC_*/RUSTIC_*/IBARS_* settings from the caller's environment
# (repository, password file, ...) would make the tools benchmark something
# else; everything a tool needs is passed explicitly below.
for v in $(compgen -e); do
    case $v in RESTIC_* | RUSTIC_* | IBARS_*) [[ $v == IBARS_BIN ]] || unset "$v" ;; esac
done

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools

SUDO=
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
APT_UPDATED=0
apt_install() {
    # Wait for a concurrent apt/dpkg instead of failing on its lock.
    local apt=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q)
    if ! "${apt[@]}" install "$@" && ((!APT_UPDATED)); then
        "${apt[@]}" update
        APT_UPDATED=1
        "${apt[@]}" install "$@"
    fi
}

[[ -x /usr/bin/time ]] || { log "installing GNU time"; apt_install time; }
# Capture first: `grep -q` closing the pipe early would fail the pipeline under pipefail.
time_probe=$(/usr/bin/time -v true 2>&1 || true)
grep -q 'Maximum resident set size' <<<"$time_probe" ||
    die "/usr/bin/time is not GNU time (need -v for peak RSS)"

if has_tool restic; then
    command -v restic >/dev/null || { log "installing restic"; apt_install restic; }
    RESTIC_BIN=$(command -v restic)
fi

if has_tool rustic; then
    RUSTIC_BIN=$(command -v rustic || true)
    if [[ -z $RUSTIC_BIN && -x $HOME/.cargo/bin/rustic ]]; then
        RUSTIC_BIN=$HOME/.cargo/bin/rustic
    fi
    if [[ -z $RUSTIC_BIN ]]; then
        log "installing rustic (cargo install rustic-rs --locked; this takes a while)"
        cargo install rustic-rs --locked
        RUSTIC_BIN=$HOME/.cargo/bin/rustic
    fi
fi

if has_tool ibars; then
    if [[ -z ${IBARS_BIN:-} ]]; then
        log "building ibars (cargo build --release -p ibars)"
        (cd "$REPO_ROOT" && cargo build --release -p ibars)
        target_dir=${CARGO_TARGET_DIR:-target}
        [[ $target_dir == /* ]] || target_dir=$REPO_ROOT/$target_dir
        IBARS_BIN=$target_dir/release/ibars
    fi
    [[ -x $IBARS_BIN ]] || die "ibars binary not found at $IBARS_BIN"
fi

tool_version() {
    case $1 in
    restic) "$RESTIC_BIN" version | awk '{print $2; exit}' ;;
    rustic) "$RUSTIC_BIN" --version | awk '{print $NF; exit}' ;;
    ibars) "$IBARS_BIN" --version 2>/dev/null | awk '{print $NF; exit}' || echo unknown ;;
    esac
}

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

meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

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

# ---------------------------------------------------------------- commands

# Sets CMD to the command line for TOOL doing PHASE (init | backup | check | restore
# DEST). Passwords go through each tool's environment variable (or flag) and
# caches live under WORK so nothing in $HOME is read or written.
tool_cmd() {
    local tool=$1 phase=$2 dest=${3:-}
    local repo=$WORK/repos/$tool cache=$WORK/cache/$tool
    case $tool in
    restic)
        local base=(env RESTIC_PASSWORD="$PASSWORD" "$RESTIC_BIN" -r "$repo" --cache-dir "$cache")
        case $phase in
        init) CMD=("${base[@]}" init --repository-version 2) ;;
        backup) CMD=("${base[@]}" backup --host bench "$DATA") ;;
        restore) CMD=("${base[@]}" restore latest --target "$dest") ;;
        check) CMD=("${base[@]}" check --read-data) ;;
        forget) CMD=("${base[@]}" forget --keep-last 5 --prune) ;;
        esac
        ;;
    rustic)
        # rustic merges config profiles from /etc/rustic, ~/.config/rustic and
        # the cwd. Point HOME/XDG at an empty dir, run from an empty cwd (see
        # measure), and name a profile that cannot exist anywhere.
        local base=(env HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config"
            XDG_CACHE_HOME="$WORK/home/.cache"
            "$RUSTIC_BIN" -P ibars-bench-no-such-profile -r "$repo" --password "$PASSWORD"
            --cache-dir "$cache" --no-progress)
        case $phase in
        init) CMD=("${base[@]}" init) ;;
        backup) CMD=("${base[@]}" backup --host bench "$DATA") ;;
        restore) CMD=("${base[@]}" restore latest "$dest") ;;
        check) CMD=("${base[@]}" check --read-data) ;;
        forget) CMD=("${base[@]}" forget --keep-last 5 --prune) ;;
        esac
        ;;
    ibars)
        local base=(env IBARS_PASSWORD="$PASSWORD" "$IBARS_BIN" -r "$repo")
        case $phase in
        init) CMD=("${base[@]}" init) ;;
        backup) CMD=("${base[@]}" backup "$DATA") ;;
        restore) CMD=("${base[@]}" restore latest --target "$dest") ;;
        check) CMD=("${base[@]}" check --read-data --no-record) ;;
        forget) CMD=("${base[@]}" forget --keep-last 5 --prune) ;;
        esac
        ;;
    esac
}

declare -A FAILED=()
EXIT=0

# measure TOOL PHASE_LABEL CMD...: run under GNU time, record wall seconds,
# peak RSS and exit code. Output goes to logs/TOOL-PHASE.out.
measure() {
    local tool=$1 label=$2
    shift 2
    local out=$LOGS/$tool-$label
    # Flush earlier writeback (dataset copy, previous tool's repo) so it does
    # not land inside this measurement.
    sync
    echo "   $tool $label: $*" >"$out.cmd"
    local rc=0
    (cd "$WORK/home" && /usr/bin/time -v -o "$out.time" "$@") >"$out.out" 2>&1 || rc=$?
    local wall rss
    # "|| true": a command that could not even start leaves no usable report.
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$out.time" 2>/dev/null |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else if (NF == 2) print $1*60 + $2 }' || true)
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$out.time" 2>/dev/null || true)
    result "$tool" "wall_$label" "$wall"
    result "$tool" "rss_kb_$label" "$rss"
    result "$tool" "rc_$label" "$rc"
    if ((rc)); then
        printf '\n!!!!! %s %s FAILED (exit %s); last lines of %s.out:\n' "$tool" "$label" "$rc" "$out" >&2
        tail -n 20 "$out.out" | sed 's/^/    /' >&2
        FAILED[$tool]=1
        EXIT=1
        return 1
    fi
    printf '   %-7s %-8s %8ss  %6s MiB\n' "$tool" "$label" "$wall" "$((${rss:-0} / 1024))" >&2
}

# Runs PHASE for every tool that has not failed yet.
run_phase() {
    local label=$1 phase=$2
    for t in "${TOOL_LIST[@]}"; do
        [[ -z ${FAILED[$t]:-} ]] || continue
        tool_cmd "$t" "$phase"
        measure "$t" "$label" "${CMD[@]}" || true
    done
}

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
