#!/usr/bin/env bash
# What the inline features cost a first backup of text-heavy real data, now that they include
# the secret scan of each file's first MiB (issue 16): the same backup with features on and
# with --no-detect (no magic, no sampling, no secret scan), alternated, each into a fresh
# repository, on a release build. The tree: /usr/share/doc, the Python standard library and
# the cargo registry's sources of this machine (text, mostly small files). The page cache is
# warmed by a first untimed pass. Writes bench/results/DATE-features-cost.md.
#
#   bench/features_cost.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release -p ibars >&2
bin=$PWD/target/release/ibars
w=$(mktemp -d /tmp/ibars-bench-features.XXXXXX)
trap 'rm -rf "$w"' EXIT
echo pw >"$w/pw"
mkdir -p "$w/src"
py=$(ls -d /usr/lib/python3.* | tail -1)
cp -r /usr/share/doc "$w/src/doc"
cp -r "$py" "$w/src/python"
cp -r "$HOME/.cargo/registry/src" "$w/src/registry" 2>/dev/null || true
size=$(du -sb "$w/src" | cut -f1)
files=$(find "$w/src" -type f | wc -l)
find "$w/src" -type f -exec cat {} + >/dev/null
one() {
    rm -rf "$w/repo"
    "$bin" -r "$w/repo" --password-file "$w/pw" init >/dev/null
    local t0 t1
    t0=$(date +%s.%N)
    "$bin" -r "$w/repo" --password-file "$w/pw" backup -q "$@" "$w/src" >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
on=() off=()
for i in $(seq "$runs"); do
    on+=("$(one)")
    off+=("$(one --no-detect)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_on=$(median "${on[@]}")
m_off=$(median "${off[@]}")
out=bench/results/$(date +%F)-features-cost.md
{
    echo "# Inline features (with the secret scan) on a first backup of real text"
    echo
    echo "$(date -u +%FT%TZ), $(nproc) cores; tree: $files files, $((size / 1000000)) MB (/usr/share/doc, $(basename "$py"), the cargo registry's sources); $runs runs each, alternated, fresh repositories, warm page cache."
    echo
    echo "| backup | runs (s) | median (s) |"
    echo "|---|---|---:|"
    echo "| features on (default) | ${on[*]} | $m_on |"
    echo "| --no-detect | ${off[*]} | $m_off |"
    echo
    echo "Ratio on / off: $(echo "scale=3; $m_on / $m_off" | bc)"
} | tee "$out"
