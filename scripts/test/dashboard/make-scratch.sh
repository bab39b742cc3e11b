#!/usr/bin/env bash
# Build a scratch repository, config and dashboard user for trying the dashboard by hand or
# running dashboard.test.mjs: a week of daily backups, then one whose files were overwritten
# with random bytes (a flagged anomaly), a job that succeeds and a job that fails.
#
#   scripts/test/dashboard/make-scratch.sh [DIR] [PORT]
#
# Needs a built ibars (IBARS_BIN, default target/debug/ibars). Prints the environment that
# dashboard.test.mjs reads; the daemon is started by the caller (see README.md).
set -euo pipefail
T=${1:-/tmp/ibars-dash}
PORT=${2:-8181}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
ibars=${IBARS_BIN:-$root/target/debug/ibars}

rm -rf "$T"
mkdir -p "$T/src/docs" "$T/src/photos" "$T/src/notes"
echo pw > "$T/pw"
export IBARS_PASSWORD_FILE="$T/pw"
unset IBARS_PASSWORD
"$ibars" -q -r "$T/repo" init --pack-size 1MiB --chunk-size 64KiB

# Text that compresses well, so that random bytes later stand out.
text() { # N SEED
    local i
    for ((i = 0; i < $1; i++)); do
        echo "line $i of file $2: the quick brown fox jumps over the lazy dog, again and again"
    done
}
for i in $(seq 1 40); do text 200 "doc$i" > "$T/src/docs/report-$i.txt"; done
for i in $(seq 1 10); do text 50 "note$i" > "$T/src/notes/note-$i.md"; done
head -c 300000 /dev/urandom > "$T/src/photos/holiday.jpg"
text 3000 big > "$T/src/notes/big.log"

# Six normal nights, the last seven days before today: a few files change each day.
day() { date -d "-$1 days" '+%Y-%m-%d 02:00:00'; }
for d in 1 2 3 4 5 6; do
    for i in $(seq 1 $((d + 1))); do text $((100 + d * 10)) "day$d-$i" > "$T/src/notes/day$d-$i.md"; done
    text $((200 + d)) "doc-day$d" > "$T/src/docs/report-$d.txt"
    "$ibars" -q -r "$T/repo" backup --tag daily --time "$(day $((8 - d)))" "$T/src" > /dev/null
done

# Yesterday: most of docs/ overwritten with random bytes: flagged (exit code 4).
for i in $(seq 1 35); do head -c 16000 /dev/urandom > "$T/src/docs/report-$i.txt"; done
rc=0
"$ibars" -q -r "$T/repo" backup --tag daily --time "$(day 1)" "$T/src" > /dev/null 2> "$T/flagged.txt" || rc=$?
if [ "$rc" != 4 ]; then echo "expected the last backup to be flagged (exit 4), got $rc" >&2; exit 1; fi

cat > "$T/ibars.toml" <<TOML
[daemon]
socket = "$T/run/ibars.sock"
state_dir = "$T/state"
time_zone = "UTC"
listen = "127.0.0.1:$PORT"

[[repository]]
name = "main"
location = "$T/repo"
password_file = "$T/pw"

[[job]]
name = "home"
repository = "main"
kind = "backup"
schedule = "0 2 * * *"
paths = ["$T/src"]
max_age = "26h"

[[job]]
name = "broken"
repository = "main"
kind = "backup"
schedule = "0 3 * * *"
paths = ["/nonexistent/path"]
TOML

echo 'secret-pass-1' > "$T/userpw"
"$ibars" --config "$T/ibars.toml" user add admin --role admin --password-file "$T/userpw" > /dev/null

file="$T/src/notes/big.log"
cat <<ENV
export IBARS_URL=http://127.0.0.1:$PORT
export IBARS_USER=admin
export IBARS_USER_PASSWORD=secret-pass-1
export IBARS_REPO=main
export IBARS_FAILED_JOB=broken
export IBARS_DOWNLOAD_PATH=$file
export IBARS_DOWNLOAD_SHA256=$(sha256sum "$file" | cut -d' ' -f1)
export IBARS_RESTORE_TARGET=$T/state/restore/run1
export IBARS_SHOTS=$T/shots
ENV
