# Shell helpers shared by bench/run.sh and bench/real.sh. Sourced, not run.
#
# The caller sets (before calling the functions that use them):
#   TOOLS, TOOL_LIST   the tools of this run (comma list and array)
#   WORK, DATA, LOGS   work dir, the tree that is backed up, per-command logs
#   META, RESULTS      raw result files (see report.py)
#   PASSWORD           repository password for every tool
#   RESTIC_BIN, RUSTIC_BIN, IBARS_BIN   the binaries (for the tools in TOOL_LIST)
#   REPO_SUFFIX        optional: appended to each tool's repository and cache
#                      directory name (real.sh's rounds); empty by default
#
# Tools: restic, rustic, ibars, and ibars-nodetect (the same ibars binary and
# repository layout, with `backup --no-detect`: no anomaly features).

KNOWN_TOOLS="ibars ibars-nodetect restic rustic"
REPO_SUFFIX=${REPO_SUFFIX:-}

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

has_tool() { [[ ",$TOOLS," == *",$1,"* ]]; }

# Exits unless every entry of TOOL_LIST is a known tool.
check_tool_names() {
    ((${#TOOL_LIST[@]})) || { echo "--tools is empty" >&2; exit 2; }
    local t
    for t in "${TOOL_LIST[@]}"; do
        [[ " $KNOWN_TOOLS " == *" $t "* ]] || { echo "unknown tool: $t" >&2; exit 2; }
    done
}

# drop_tool TOOL REASON: removes TOOL from TOOL_LIST/TOOLS, saying why.
drop_tool() {
    local t keep=()
    printf '\n!!!!! skipping %s: %s\n' "$1" "$2" >&2
    for t in "${TOOL_LIST[@]}"; do [[ $t == "$1" ]] || keep+=("$t"); done
    TOOL_LIST=("${keep[@]}")
    TOOLS=$(IFS=,; echo "${TOOL_LIST[*]}")
}

# Stray RESTIC_*/RUSTIC_*/IBARS_* settings from the caller's environment
# (repository, password file, ...) would make the tools benchmark something
# else; everything a tool needs is passed explicitly.
clean_tool_env() {
    local v
    for v in $(compgen -e); do
        case $v in RESTIC_* | RUSTIC_* | IBARS_*) [[ $v == IBARS_BIN ]] || unset "$v" ;; esac
    done
}

# ---------------------------------------------------------------- installing

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

# GNU time (installed with apt if missing) is needed for peak RSS and CPU times.
ensure_gnu_time() {
    [[ -x /usr/bin/time ]] || { log "installing GNU time"; apt_install time; }
    # Capture first: `grep -q` closing the pipe early would fail the pipeline under pipefail.
    local time_probe
    time_probe=$(/usr/bin/time -v true 2>&1 || true)
    grep -q 'Maximum resident set size' <<<"$time_probe" ||
        die "/usr/bin/time is not GNU time (need -v for peak RSS)"
}

# Sets RUSTIC_BIN to rustic on PATH or in ~/.cargo/bin; fails if there is none.
find_rustic() {
    RUSTIC_BIN=$(command -v rustic || true)
    if [[ -z $RUSTIC_BIN && -x $HOME/.cargo/bin/rustic ]]; then
        RUSTIC_BIN=$HOME/.cargo/bin/rustic
    fi
    [[ -n $RUSTIC_BIN ]]
}

# True if $IBARS_BIN knows `backup --no-detect`.
ibars_has_no_detect() {
    local help
    help=$("$IBARS_BIN" backup --help 2>&1 || true)
    grep -q -- '--no-detect' <<<"$help"
}

tool_version() {
    case $1 in
    restic) "$RESTIC_BIN" version | awk '{print $2; exit}' ;;
    rustic) "$RUSTIC_BIN" --version | awk '{print $NF; exit}' ;;
    ibars | ibars-nodetect) "$IBARS_BIN" --version 2>/dev/null | awk '{print $NF; exit}' || echo unknown ;;
    esac
}

meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# ---------------------------------------------------------------- commands

# Sets CMD to the command line for TOOL doing PHASE (init | backup | check | restore
# DEST). Passwords go through each tool's environment variable (or flag) and
# caches live under WORK so nothing in $HOME is read or written.
tool_cmd() {
    local tool=$1 phase=$2 dest=${3:-}
    local repo=$WORK/repos/$tool$REPO_SUFFIX cache=$WORK/cache/$tool$REPO_SUFFIX
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
    ibars | ibars-nodetect)
        local base=(env IBARS_PASSWORD="$PASSWORD" "$IBARS_BIN" -r "$repo")
        local nodetect=()
        [[ $tool == ibars-nodetect ]] && nodetect=(--no-detect)
        case $phase in
        init) CMD=("${base[@]}" init) ;;
        backup) CMD=("${base[@]}" backup "${nodetect[@]}" "$DATA") ;;
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
# user and system CPU seconds, peak RSS and exit code. Output goes to
# logs/TOOL-PHASE.out.
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
    local wall rss user sys
    # "|| true": a command that could not even start leaves no usable report.
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$out.time" 2>/dev/null |
        awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else if (NF == 2) print $1*60 + $2 }' || true)
    rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$out.time" 2>/dev/null || true)
    user=$(awk -F': ' '/User time \(seconds\)/{print $2}' "$out.time" 2>/dev/null || true)
    sys=$(awk -F': ' '/System time \(seconds\)/{print $2}' "$out.time" 2>/dev/null || true)
    result "$tool" "wall_$label" "$wall"
    result "$tool" "rss_kb_$label" "$rss"
    result "$tool" "cpu_user_$label" "$user"
    result "$tool" "cpu_sys_$label" "$sys"
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
