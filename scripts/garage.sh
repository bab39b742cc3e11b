#!/usr/bin/env bash
# Start a one-node Garage S3 store on loopback for tests and benchmarks, with a bucket and a key.
#
#   scripts/garage.sh start DIR [S3_PORT]   start (installing garage with cargo if missing);
#                                           writes DIR/env with AWS_* and IBARS_S3_* exports
#   scripts/garage.sh stop DIR              stop it (the data in DIR stays)
#
# The server listens on 127.0.0.1 only: S3 on S3_PORT (default 3900), RPC on S3_PORT+1,
# admin on S3_PORT+3. Its log is DIR/garage.log.
set -euo pipefail
cmd=${1:?usage: garage.sh start|stop DIR [S3_PORT]}
dir=${2:?usage: garage.sh start|stop DIR [S3_PORT]}
port=${3:-3900}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)

if [[ $cmd == stop ]]; then
    if [[ -f $dir/pid ]]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    exit 0
fi
[[ $cmd == start ]] || { echo "unknown command $cmd" >&2; exit 2; }

if ! command -v garage >/dev/null; then
    echo "installing garage (cargo install garage --locked; about 10-20 minutes)" >&2
    cargo install garage --locked >&2
fi

cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((port + 1))"
rpc_public_addr = "127.0.0.1:$((port + 1))"
rpc_secret = "$(openssl rand -hex 32 2>/dev/null || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((port + 3))"
TOML

g() { garage -c "$dir/garage.toml" "$@"; }
garage -c "$dir/garage.toml" server >"$dir/garage.log" 2>&1 &
echo $! >"$dir/pid"
for _ in $(seq 100); do
    g status >/dev/null 2>&1 && break
    sleep 0.2
done
node=$(g node id -q 2>/dev/null | cut -d@ -f1)
[[ -n $node ]] || { echo "garage did not start; see $dir/garage.log" >&2; exit 1; }
g layout assign -z dc1 -c 10G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create ibars >/dev/null
keyinfo=$(g key create ibars-key)
key_id=$(awk '/Key ID/{print $NF}' <<<"$keyinfo")
secret=$(awk '/Secret key/{print $NF}' <<<"$keyinfo")
g bucket allow --read --write --owner ibars --key ibars-key >/dev/null
cat >"$dir/env" <<ENV
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=garage
export IBARS_S3_ENDPOINT=http://127.0.0.1:$port
export IBARS_S3_BUCKET=ibars
ENV
echo "garage running on 127.0.0.1:$port (pid $(cat "$dir/pid")); source $dir/env" >&2
