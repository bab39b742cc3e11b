#!/usr/bin/env bash
# The API's latency on a large repository (issue 15), on a release build:
#   - GET /api/v1/overview with 10,000 snapshots and 5,000 history records (20 jobs): p50/p99
#     of 1,000 requests on one keep-alive connection, after a warm-up;
#   - the snapshot browser on a directory of 100,000 entries: every page of 500 entries
#     (GET .../tree?path=DIR&offset=N), the first one (which parses the directory) apart.
# Writes bench/results/DATE-api.md.
#
#   bench/api.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p ibars >&2
cargo build --release -p ibars-core --example many_snapshots >&2
bin=$PWD/target/release/ibars
w=$(mktemp -d /tmp/ibars-bench-api.XXXXXX)
cleanup() {
    [[ -f $w/pid ]] && kill "$(cat "$w/pid")" 2>/dev/null || true
    sleep 1
    rm -rf "$w"
}
trap cleanup EXIT
echo pw >"$w/pw"
"$bin" -r "$w/repo" --password-file "$w/pw" init >/dev/null
mkdir -p "$w/src/big"
head -c 2000000 /dev/urandom >"$w/src/data"
python3 - "$w/src/big" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(100_000):
    open(os.path.join(d, f"file-{i:06d}.txt"), "w").close()
PY
t0=$(date +%s.%N)
"$bin" -r "$w/repo" --password-file "$w/pw" backup "$w/src" >/dev/null
t1=$(date +%s.%N)
target/release/examples/many_snapshots "$w/repo" pw 9999 4999 >&2
port=$((20000 + RANDOM % 20000))
h=$(( ($(date -u +%-H) + 12) % 24 ))
{
    printf '[daemon]\nsocket = "%s/ibars.sock"\nstate_dir = "%s/state"\nlisten = "127.0.0.1:%s"\ntime_zone = "UTC"\n\n' "$w" "$w" "$port"
    printf '[[repository]]\nname = "repo"\nlocation = "%s/repo"\npassword_file = "%s/pw"\n\n' "$w" "$w"
    for i in $(seq 1 20); do
        printf '[[job]]\nname = "job%02d"\nrepository = "repo"\nschedule = "%d %d * * *"\nkind = "backup"\npaths = ["%s/src"]\nmax_age = "26h"\n\n' "$i" "$i" "$h" "$w"
    done
} >"$w/ibars.toml"
token=$("$bin" --config "$w/ibars.toml" token create --name bench --role admin 2>/dev/null)
MALLOC_ARENA_MAX=2 "$bin" daemon --config "$w/ibars.toml" >"$w/daemon.log" 2>&1 &
echo $! >"$w/pid"
for _ in $(seq 100); do "$bin" jobs --socket "$w/ibars.sock" status >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" jobs --socket "$w/ibars.sock" run job01 --wait >/dev/null
result=$(python3 - "$port" "$token" "$w/src/big" <<'PY'
import http.client, json, sys, time, urllib.parse
port, token, big = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
h = {"Authorization": f"Bearer {token}"}
def get(path):
    t = time.perf_counter()
    c.request("GET", path, headers=h)
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, (path, r.status, body[:200])
    return (time.perf_counter() - t) * 1000, body
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]
for _ in range(20):
    get("/api/v1/overview")
times = [get("/api/v1/overview")[0] for _ in range(1000)]
o = json.loads(get("/api/v1/overview")[1])
snaps = o["repositories"][0]["snapshots"]
hist = len(json.loads(get("/api/v1/repositories/repo/history?limit=5000")[1]))
q = urllib.parse.quote(big)
first, body = get(f"/api/v1/repositories/repo/snapshots/latest/tree?path={q}&offset=0&limit=500")
total = json.loads(body)["total"]
pages = [get(f"/api/v1/repositories/repo/snapshots/latest/tree?path={q}&offset={o}&limit=500")[0]
         for o in range(500, total, 500)]
print(f"{pct(times,.5):.2f} {pct(times,.99):.2f} {max(times):.2f} {snaps} {hist} {first:.1f} "
      f"{pct(pages,.5):.2f} {pct(pages,.99):.2f} {max(pages):.2f} {total} {len(pages)+1}")
PY
)
read -r o50 o99 omax snaps hist first p50 p99 pmax total npages <<<"$result"
day=$(date -u +%Y-%m-%d)
out=bench/results/$day-api.md
cat >"$out" <<MD
# API: overview and snapshot browser latency ($day)

\`bench/api.sh\` on this machine ($(nproc) cores), release build, plain HTTP on loopback, one
keep-alive connection, an admin token. The repository holds $snaps snapshots (9,999 copies of
one made by the \`many_snapshots\` example) and $hist history records (4,999 copies of one);
the daemon has 20 backup jobs, one of which ran. The backed-up tree has a directory of
$total empty files (backed up in $(printf '%.0f' "$(echo "$t1 - $t0" | bc)") s).

| measure | value | target |
|---|---:|---|
| GET /api/v1/overview, p50 of 1,000 (after 20 warm-up requests) | $o50 ms | |
| GET /api/v1/overview, p99 / max | $o99 ms / $omax ms | p99 ≤ 50 ms |
| tree page of 500 entries of $total, first page (parses the directory) | $first ms | ≤ 100 ms |
| tree pages 2 to $npages, p50 | $p50 ms | |
| tree pages, p99 / max | $p99 ms / $pmax ms | each ≤ 100 ms |

The overview reads the jobs' state from memory and the snapshot list from the daemon's read
handle, which lists the repository's snapshots at most every 2 s and reads only new ones. A
directory is parsed once and kept (the last 16 trees) while its pages are read.
MD
cat "$out"
