#!/usr/bin/env bash
# The storage forecast on a real history no one here wrote: TypeScript's nightly builds from
# the npm registry, one per day in date order (N of them from START), each unpacked over the
# last and backed up at its build date (under faketime, so that every record, prunes
# included, carries the day it stands for). Two repositories: one that keeps everything,
# and one under retention (forget --keep-daily 14 --keep-weekly 8 --prune after each
# backup), whose history holds what the prunes freed. Then
# crates/ibars-core/examples/eval_forecast_real.rs scores the 30-day forecast at every tenth
# day from day 60. Tarballs are cached in $CACHE (default ~/.cache/ibars-bench/typescript).
# Writes bench/results/DATE-forecast-real.md. With KEEP=DIR the repositories are made in
# DIR and left there; when DIR already holds them, they are scored again without refilling.
#
#   bench/insight/forecast_real.sh [N] [START]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v faketime >/dev/null || apt-get install -y -q faketime >&2
n=${1:-150}
start=${2:-20230301}
cache=${CACHE:-$HOME/.cache/ibars-bench/typescript}
cargo build --release -p ibars >&2
cargo build --release -p ibars-core --example eval_forecast_real >&2
bin=$PWD/target/release/ibars
if [[ -n ${KEEP:-} ]]; then
    w=$KEEP
    mkdir -p "$w"
else
    w=$(mktemp -d /tmp/ibars-forecast-real.XXXXXX)
    trap 'rm -rf "$w"' EXIT
fi
export IBARS_PASSWORD=pw
mkdir -p "$cache" "$w/src"
mapfile -t versions < <(npm view typescript versions --json | python3 -c "
import json, sys
v = [x for x in json.load(sys.stdin) if x.startswith('5.') and '-dev.' in x]
v = sorted(v, key=lambda x: x.split('-dev.')[1])
v = [x for x in v if x.split('-dev.')[1][:8] >= '$start']
# one per day
seen, out = set(), []
for x in v:
    d = x.split('-dev.')[1][:8]
    if d not in seen:
        seen.add(d); out.append(x)
print('\n'.join(out[:$n]))")
fill=true
[[ -d $w/all && -d $w/kept ]] && fill=false
$fill && "$bin" -r "$w/all" init >/dev/null
$fill && "$bin" -r "$w/kept" init >/dev/null
$fill && for v in "${versions[@]}"; do
    d=${v#*-dev.}
    t="${d:0:4}-${d:4:2}-${d:6:2} 03:00:00"
    tgz="$cache/typescript-$v.tgz"
    [[ -f $tgz ]] || npm pack "typescript@$v" --pack-destination "$cache" >/dev/null 2>&1
    rm -rf "$w/src/package"
    tar -xzf "$tgz" -C "$w/src"
    for r in all kept; do
        faketime "$t" "$bin" -r "$w/$r" backup -q --no-detect --host ts-nightly "$w/src" >/dev/null
    done
    faketime "$t" "$bin" -r "$w/kept" forget -q --keep-daily 14 --keep-weekly 8 --prune --grace 0s >/dev/null
done
out=bench/results/$(date +%F)-forecast-real.md
{
    echo "# Storage forecast on a real history: TypeScript nightlies"
    echo
    echo "$(date -u +%FT%TZ); ${#versions[@]} nightly builds of typescript (${versions[0]} to ${versions[-1]}), one a day, each backed up (and the retention run) under faketime at its build date."
    target/release/examples/eval_forecast_real "$w/all" "everything kept"
    target/release/examples/eval_forecast_real "$w/kept" "forget --keep-daily 14 --keep-weekly 8 --prune after each backup"
} | tee "$out"
