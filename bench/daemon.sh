#!/usr/bin/env bash
# The daemon's idle cost and its scrape time (issue 14), on a release build:
#   - an idle daemon with 20 jobs (each run once, so every series exists): its RSS, and the
#     CPU time it uses over IDLE seconds of idleness (it should sleep until the next due time);
#   - GET /metrics with those 20 jobs and a repository of 10,000 snapshots: the latency of
#     1,000 scrapes on one connection, and the size of the answer.
# Writes bench/results/DATE-daemon.md.
#
#   bench/daemon.sh [IDLE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-60}
cargo build --release -p ibars >&2
cargo build --release -p ibars-core --example many_snapshots >&2
bin=$PWD/target/release/ibars
w=$(mktemp -d /tmp/ibars-bench-daemon.XXXXXX)
cleanup() {
    [[ -f $w/pid ]] && kill "$(cat "$w/pid")" 2>/dev/null || true
    sleep 1
    rm -rf "$w"
}
trap cleanup EXIT
echo pw >"$w/pw"
for r in repo offsite; do
    "$bin" -r "$w/$r" --password-file "$w/pw" init >/dev/null
done
mkdir -p "$w/src"
head -c 2000000 /dev/urandom >"$w/src/data"
"$bin" -r "$w/repo" --password-file "$w/pw" backup "$w/src" >/dev/null
target/release/examples/many_snapshots "$w/repo" pw 9999 >&2
port=$((20000 + RANDOM % 20000))
# Schedules twelve hours away: nothing falls due while it is measured.
h=$(( ($(date -u +%-H) + 12) % 24 ))
{
    printf '[daemon]\nsocket = "%s/ibars.sock"\nstate_dir = "%s/state"\nmetrics_listen = "127.0.0.1:%s"\ntime_zone = "UTC"\n\n' "$w" "$w" "$port"
    for r in repo offsite; do
        printf '[[repository]]\nname = "%s"\nlocation = "%s/%s"\npassword_file = "%s/pw"\n\n' "$r" "$w" "$r" "$w"
    done
    for i in $(seq 1 20); do
        printf '[[job]]\nname = "job%02d"\nrepository = "repo"\nschedule = "%d %d * * *"\n' "$i" "$i" "$h"
        case $i in
            1[3-6]) printf 'kind = "check"\n' ;;
            1[7-8]) printf 'kind = "forget"\nkeep_last = 100000\n' ;;
            19) printf 'kind = "prune"\n' ;;
            20) printf 'kind = "copy"\ntarget = "offsite"\n' ;;
            *) printf 'kind = "backup"\npaths = ["%s/src"]\nmax_age = "26h"\n' "$w" ;;
        esac
        printf '\n'
    done
} >"$w/ibars.toml"
MALLOC_ARENA_MAX=2 "$bin" daemon --config "$w/ibars.toml" >"$w/daemon.log" 2>&1 &
echo $! >"$w/pid"
pid=$(cat "$w/pid")
for _ in $(seq 100); do "$bin" jobs --socket "$w/ibars.sock" status >/dev/null 2>&1 && break; sleep 0.1; done
for i in $(seq -w 1 20); do
    "$bin" jobs --socket "$w/ibars.sock" run "job$i" --wait >/dev/null
done
# Let the stats refreshes after the runs finish, then settle.
sleep 15
snapshots=$("$bin" -r "$w/repo" --password-file "$w/pw" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"])')
rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu)
sleep "$idle"
c1=$(cpu)
rss_after_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hz=$(getconf CLK_TCK)
scrape=$(python3 - "$port" <<'PY'
import http.client, sys, time
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port)
times, size = [], 0
for _ in range(1000):
    t = time.perf_counter()
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    times.append((time.perf_counter() - t) * 1000)
    size = len(body)
    series = sum(1 for l in body.decode().splitlines() if l and not l.startswith("#"))
times.sort()
print(f"{times[len(times)//2]:.3f} {times[int(len(times)*0.99)]:.3f} {times[-1]:.3f} {size} {series}")
PY
)
read -r p50 p99 pmax size series <<<"$scrape"
day=$(date -u +%Y-%m-%d)
out=bench/results/$day-daemon.md
cat >"$out" <<MD
# Daemon: idle cost and scrape time ($day)

\`bench/daemon.sh $idle\` on this machine ($(nproc) cores), release build, MALLOC_ARENA_MAX=2 as
the binary sets it. 20 jobs (12 backup, 4 check, 2 forget, 1 prune, 1 copy), each run once
through \`ibars jobs run --wait\` so that every per-job series exists; all next due twelve hours
later. The repository holds $snapshots snapshots (9,999 copies of one, made by the
\`many_snapshots\` example).

| measure | value | target |
|---|---:|---|
| RSS after the 20 runs and 15 s of quiet | $((rss_kib / 1024)) MiB ($rss_kib KiB) | ≤ 20 MiB |
| RSS after $idle s more of idleness | $((rss_after_kib / 1024)) MiB ($rss_after_kib KiB) | ≤ 20 MiB |
| peak RSS of the daemon process (VmHWM) | $((hwm_kib / 1024)) MiB | |
| CPU time used in $idle s idle | $((c1 - c0)) ticks of 1/$hz s | none measurable |
| GET /metrics, median of 1,000 | $p50 ms | ≤ 5 ms |
| GET /metrics, p99 / max | $p99 ms / $pmax ms | |
| /metrics answer | $size bytes, $series series | |

A scrape renders values the daemon set when a job ended; it reads no repository, so the number
of snapshots does not enter it. The jobs themselves run as child processes, whose memory is
theirs, not the daemon's.
MD
cat "$out"
