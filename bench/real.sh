#!/usr/bin/env bash
# The real-tree leg of the benchmark: back up a large tree of real system files (binaries,
# libraries, Python, docs, headers) with each tool, side by side in one run: initial backup,
# second backup after a realistic change, no-change backup. Every phase runs twice, in
# opposite tool orders, each round into its own repository. Prints a Markdown table with
# wall/CPU times, peak RSS, repo sizes, ibars/faster-other ratios and the cost of ibars'
# anomaly features (ibars vs ibars-nodetect).
#
#   IBARS_BIN=/path/to/release/ibars bench/real.sh [--tree DIR] [--work bench/work/real]
#       [--tools ibars,ibars-nodetect,restic,rustic] [--percent 5] [--keep]
#
# Without --tree the tree is a copy of system directories made once and cached in WORK/tree
# (see bench/README.md, "Real-tree leg"); --tree DIR backs up a copy of DIR instead. Tools
# that are not installed are skipped; nothing is built or installed except GNU time.
set -euo pipefail
export LC_ALL=C # stable number formatting, sorting and glob order

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd -P)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

# The default tree: these system directories (globs expand in C sort order), each copied with
# `cp -a` to the same path under WORK/tree, minus the excluded paths (relative to the tree).
SYSTEM_SOURCES=(/usr/lib/x86_64-linux-gnu /usr/lib/python3* /usr/share/doc /usr/bin /usr/include /usr/lib/gcc)
# Mesa's dri/ is one 25 MiB driver hard-linked under 13 names: 330 MB of one file.
SYSTEM_EXCLUDES=(usr/lib/x86_64-linux-gnu/dri)
# The replacement directory of the change phase is cut from this one (not in the tree).
DONOR_SOURCES=(/usr/share/locale /usr/share/man)

TREE_ARG=
WORK=$BENCH_DIR/work/real
TOOLS=ibars,ibars-nodetect,restic,rustic
PERCENT=5
KEEP=0
PASSWORD=bench

usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case $1 in
    --tree) TREE_ARG=$2; shift 2 ;;
    --tree=*) TREE_ARG=${1#*=}; shift ;;
    --work) WORK=$2; shift 2 ;;
    --work=*) WORK=${1#*=}; shift ;;
    --tools) TOOLS=$2; shift 2 ;;
    --tools=*) TOOLS=${1#*=}; shift ;;
    --percent) PERCENT=$2; shift 2 ;;
    --percent=*) PERCENT=${1#*=}; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

IFS=, read -r -a TOOL_LIST <<<"$TOOLS"
check_tool_names
clean_tool_env
ensure_gnu_time

if [[ -n $TREE_ARG ]]; then
    [[ -d $TREE_ARG ]] || die "--tree $TREE_ARG is not a directory"
    TREE_ARG=$(cd "$TREE_ARG" && pwd -P)
fi

# ---------------------------------------------------------------- layout

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P) # the tools record absolute paths; avoid symlinks
if [[ -n $TREE_ARG ]]; then
    case $TREE_ARG/ in "$WORK"/*) die "--tree must not be inside the work dir $WORK" ;; esac
    case $WORK/ in "$TREE_ARG"/*) die "the work dir $WORK must not be inside --tree $TREE_ARG" ;; esac
fi
TREE_CACHE=$WORK/tree # the default tree, made once (cached)
TREE_MARKER=$WORK/tree.marker
DONOR=$WORK/donor # the replacement's source, made once (cached)
DONOR_MARKER=$WORK/donor.marker
DATA=$WORK/data # working copy: backed up and changed
META=$WORK/meta.tsv
RESULTS=$WORK/results.tsv
LOGS=$WORK/logs

rm -rf "$DATA" "$WORK/repos" "$WORK/cache" "$WORK/home" "$WORK/bin" "$LOGS" \
    "$META" "$RESULTS" "$WORK/results.md" "$WORK/results.json" "$WORK/tree.tmp" "$WORK/donor.tmp"
mkdir -p "$LOGS" "$WORK/repos" "$WORK/cache" "$WORK/home" "$WORK/bin"
: >"$RESULTS"

# ---------------------------------------------------------------- tools

if has_tool restic; then
    RESTIC_BIN=$(command -v restic || true)
    [[ -n $RESTIC_BIN ]] || drop_tool restic "not installed (no restic on PATH; apt-get install restic)"
fi
if has_tool rustic; then
    find_rustic || drop_tool rustic "not installed (no rustic on PATH or in ~/.cargo/bin)"
fi
if has_tool ibars || has_tool ibars-nodetect; then
    src=${IBARS_BIN:-$REPO_ROOT/target/release/ibars}
    if [[ ! -x $src ]]; then
        for t in ibars ibars-nodetect; do
            if has_tool $t; then drop_tool $t "no ibars binary at $src (set IBARS_BIN)"; fi
        done
    else
        # A copy, so that a rebuild during the run cannot swap the binary between phases.
        cp "$src" "$WORK/bin/ibars"
        IBARS_BIN=$WORK/bin/ibars
        meta ibars_bin "$src (sha256 $(sha256sum "$IBARS_BIN" | cut -c1-16))"
        if has_tool ibars-nodetect && ! ibars_has_no_detect; then
            drop_tool ibars-nodetect "$src has no 'backup --no-detect'"
        fi
    fi
fi
((${#TOOL_LIST[@]})) || die "no tools left to run"
log "tools: $TOOLS"

# ---------------------------------------------------------------- tree

describe() { python3 "$BENCH_DIR/real_tree.py" describe "$1"; }

if [[ -z $TREE_ARG ]]; then
    shopt -s nullglob
    sources=(${SYSTEM_SOURCES[@]})
    shopt -u nullglob
    present=()
    for s in "${sources[@]}"; do if [[ -d $s ]]; then present+=("$s"); fi; done
    ((${#present[@]})) || die "none of ${SYSTEM_SOURCES[*]} exists"
    want="real-tree v1 sources=${present[*]} exclude=${SYSTEM_EXCLUDES[*]}"
    if [[ -d $TREE_CACHE && -f $TREE_MARKER && $(head -n1 "$TREE_MARKER") == "$want" ]]; then
        log "reusing the cached tree $TREE_CACHE"
    else
        log "copying the default tree (once): ${present[*]}"
        rm -rf "$TREE_CACHE" "$TREE_MARKER" "$WORK/tree.tmp"
        mkdir -p "$WORK/tree.tmp"
        for s in "${present[@]}"; do
            # (not `cp --parents`: coreutils 9.1 fails on absolute sources outside /)
            mkdir -p "$WORK/tree.tmp$(dirname "$s")"
            cp -a "$s" "$WORK/tree.tmp$(dirname "$s")/"
        done
        for e in "${SYSTEM_EXCLUDES[@]}"; do rm -rf "${WORK:?}/tree.tmp/$e"; done
        info=$(describe "$WORK/tree.tmp")
        mv "$WORK/tree.tmp" "$TREE_CACHE"
        { echo "$want"; echo "$info"; } >"$TREE_MARKER"
    fi
    TREE=$TREE_CACHE
    tree_info=$(tail -n +2 "$TREE_MARKER")
    meta tree_source "copy of ${present[*]} (cp -a) without ${SYSTEM_EXCLUDES[*]}, made $(date -u -r "$TREE_MARKER" +%Y-%m-%d)"
else
    TREE=$TREE_ARG
    log "describing --tree $TREE"
    tree_info=$(describe "$TREE")
    meta tree_source "copy of --tree $TREE"
fi
while IFS=$'\t' read -r k v; do meta "tree_$k" "$v"; done <<<"$tree_info"

donor_src=
for s in "${DONOR_SOURCES[@]}"; do if [[ -d $s ]]; then donor_src=$s; break; fi; done
[[ -n $donor_src ]] || die "no source for the replacement directory (none of ${DONOR_SOURCES[*]})"
case $TREE/ in "$donor_src"/*) echo "warning: the tree is inside $donor_src, the replacement is not new data" >&2 ;; esac
want="donor v1 source=$donor_src"
if [[ -d $DONOR && -f $DONOR_MARKER && $(<"$DONOR_MARKER") == "$want" ]]; then
    log "reusing the cached replacement source $DONOR"
else
    log "copying the replacement source (once): $donor_src"
    rm -rf "$DONOR" "$DONOR_MARKER" "$WORK/donor.tmp"
    cp -a "$donor_src" "$WORK/donor.tmp"
    mv "$WORK/donor.tmp" "$DONOR"
    echo "$want" >"$DONOR_MARKER"
fi
meta donor_source "$donor_src (copy in $DONOR)"

tree_kb=$(du -sk "$TREE" | cut -f1)
# Working copy + two repositories per tool (assume each as large as the tree).
need_kb=$((tree_kb * (1 + 2 * ${#TOOL_LIST[@]})))
avail_kb=$(df -Pk "$WORK" | awk 'NR==2{print $4}')
if ((avail_kb < need_kb)); then
    echo "warning: only $((avail_kb / 1048576)) GiB free under $WORK, this run may need ~$((need_kb / 1048576)) GiB" >&2
fi

log "copying the tree to $DATA"
cp -a "$TREE" "$DATA"

meta tools "$TOOLS"
meta percent "$PERCENT"
meta data_path "$DATA"
meta host "$(uname -srm)"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
meta mem "$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for t in "${TOOL_LIST[@]}"; do result "$t" version "$(tool_version "$t")"; done

# ---------------------------------------------------------------- phases

reversed=()
for ((i = ${#TOOL_LIST[@]} - 1; i >= 0; i--)); do reversed+=("${TOOL_LIST[i]}"); done

# rounds LABEL PHASE: PHASE for every tool that has not failed, round 1 in the
# given tool order into repos/<tool>-r1, round 2 in the opposite order into
# repos/<tool>-r2. Measurements are labelled LABEL_r1 and LABEL_r2.
rounds() {
    local label=$1 phase=$2 round t order
    for round in 1 2; do
        if ((round == 1)); then order=("${TOOL_LIST[@]}"); else order=("${reversed[@]}"); fi
        REPO_SUFFIX=-r$round
        for t in "${order[@]}"; do
            [[ -z ${FAILED[$t]:-} ]] || continue
            tool_cmd "$t" "$phase"
            measure "$t" "${label}_r$round" "${CMD[@]}" || true
        done
    done
    REPO_SUFFIX=
}

log "warming the page cache with the tree and the replacement source"
find "$DATA" "$DONOR" -type f -print0 | xargs -0 cat >/dev/null

log "phase 1: init + initial backup into an empty repository (two rounds, opposite tool orders)"
for round in 1 2; do
    if ((round == 1)); then order=("${TOOL_LIST[@]}"); else order=("${reversed[@]}"); fi
    REPO_SUFFIX=-r$round
    for t in "${order[@]}"; do
        [[ -z ${FAILED[$t]:-} ]] || continue
        tool_cmd "$t" init
        measure "$t" "init_r$round" "${CMD[@]}" || continue
        tool_cmd "$t" backup
        measure "$t" "initial_r$round" "${CMD[@]}" || true
    done
done
REPO_SUFFIX=

log "phase 2: change the tree (replace a directory, rewrite ${PERCENT}% of files, touch ${PERCENT}%), then back up"
change_info=$(python3 "$BENCH_DIR/real_tree.py" change --data "$DATA" --pristine "$TREE" --donor "$DONOR" --percent "$PERCENT")
sed 's/^/   /' <<<"$change_info" >&2
while IFS=$'\t' read -r k v; do meta "change_$k" "$v"; done <<<"$change_info"
rounds change backup

log "phase 3: no-change backup"
rounds nochange backup

for t in "${TOOL_LIST[@]}"; do
    for round in 1 2; do
        if [[ -d $WORK/repos/$t-r$round ]]; then
            result "$t" "repo_bytes_r$round" "$(du -sb "$WORK/repos/$t-r$round" | cut -f1)"
        fi
    done
done

# ---------------------------------------------------------------- report

log "results"
python3 "$BENCH_DIR/report_real.py" --work "$WORK"
echo >&2
echo "results: $WORK/results.md, $WORK/results.json; logs: $LOGS" >&2

if ((!KEEP)); then
    # Keep the cached tree and replacement source, logs and results.
    rm -rf "$DATA" "$WORK/repos" "$WORK/cache" "$WORK/home" "$WORK/bin"
fi
((EXIT == 0)) || echo "!!!!! some steps FAILED (see above)" >&2
exit "$EXIT"
