#!/usr/bin/env bash
# Garage S3 stores on loopback for tests and benchmarks, with a bucket and a key.
#
#   scripts/garage.sh start DIR [S3_PORT]     one node (installing garage with cargo if
#                                             missing); writes DIR/env with AWS_* and
#                                             IBARS_S3_* exports
#   scripts/garage.sh cluster DIR [S3_PORT]   three nodes, replication factor 3, in DIR/n0..n2;
#                                             DIR/env points at node 0
#   scripts/garage.sh kill-node DIR I         SIGKILL node I of a cluster
#   scripts/garage.sh start-node DIR I        start node I again (its data is kept)
#   scripts/garage.sh stop DIR                stop every node (the data in DIR stays)
#
# Node I listens on 127.0.0.1 only: S3 on S3_PORT+10*I (default S3_PORT 3900), RPC on +1,
# admin on +3. Its log is garage.log in its directory.
set -euo pipefail
usage="usage: garage.sh start|cluster|kill-node|start-node|stop DIR [S3_PORT|I]"
cmd=${1:?$usage}
dir=${2:?$usage}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)

node_dirs() { if [[ -d $dir/n0 ]]; then echo "$dir"/n*; else echo "$dir"; fi; }

case $cmd in
stop)
    for d in $(node_dirs); do
        if [[ -f $d/pid ]]; then
            kill "$(cat "$d/pid")" 2>/dev/null || true
            rm -f "$d/pid"
        fi
    done
    exit 0 ;;
kill-node)
    d=$dir/n${3:?node number}
    kill -9 "$(cat "$d/pid")" 2>/dev/null || true
    rm -f "$d/pid"
    exit 0 ;;
start-node)
    d=$dir/n${3:?node number}
    garage -c "$d/garage.toml" server >>"$d/garage.log" 2>&1 &
    echo $! >"$d/pid"
    for _ in $(seq 100); do
        garage -c "$d/garage.toml" status >/dev/null 2>&1 && exit 0
        sleep 0.2
    done
    echo "node did not come back; see $d/garage.log" >&2
    exit 1 ;;
start) nodes=1 ;;
cluster) nodes=3 ;;
*) echo "$usage" >&2; exit 2 ;;
esac
port=${3:-3900}

if ! command -v garage >/dev/null; then
    echo "installing garage (cargo install garage --locked; about 10-20 minutes)" >&2
    cargo install garage --locked >&2
fi

rpc_secret=$(openssl rand -hex 32 2>/dev/null || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# write_config NODE_DIR S3_PORT
write_config() {
    local d=$1 p=$2
    mkdir -p "$d"
    cat >"$d/garage.toml" <<TOML
metadata_dir = "$d/meta"
data_dir = "$d/data"
db_engine = "sqlite"
replication_factor = $nodes
rpc_bind_addr = "127.0.0.1:$((p + 1))"
rpc_public_addr = "127.0.0.1:$((p + 1))"
rpc_secret = "$rpc_secret"
compression_level = "none"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$p"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((p + 3))"
TOML
}

if [[ $nodes == 1 ]]; then
    first=$dir
    write_config "$first" "$port"
    node_list=("$first")
else
    node_list=()
    for i in 0 1 2; do
        write_config "$dir/n$i" $((port + 10 * i))
        node_list+=("$dir/n$i")
    done
    first=$dir/n0
fi

for d in "${node_list[@]}"; do
    garage -c "$d/garage.toml" server >"$d/garage.log" 2>&1 &
    echo $! >"$d/pid"
done
g() { garage -c "$first/garage.toml" "$@"; }
ids=()
for d in "${node_list[@]}"; do
    id=
    for _ in $(seq 100); do
        garage -c "$d/garage.toml" status >/dev/null 2>&1 &&
            id=$(garage -c "$d/garage.toml" node id -q 2>/dev/null) && break
        sleep 0.2
    done
    [[ -n $id ]] || { echo "garage did not start; see $d/garage.log" >&2; exit 1; }
    ids+=("$id")
done
for id in "${ids[@]:1}"; do
    g node connect "$id" >/dev/null
done
# So that restarted nodes find each other again.
if ((nodes > 1)); then
    peers=$(printf '"%s", ' "${ids[@]}")
    for d in "${node_list[@]}"; do
        sed -i "/^rpc_secret/a bootstrap_peers = [${peers%, }]" "$d/garage.toml"
    done
fi
zone=0
for id in "${ids[@]}"; do
    zone=$((zone + 1))
    g layout assign -z "dc$zone" -c 10G "${id%@*}" >/dev/null
done
g layout apply --version 1 >/dev/null
# Every node must know the layout before the store is usable.
for _ in $(seq 100); do
    g bucket create ibars >/dev/null 2>&1 && break
    sleep 0.2
done
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
echo "garage ($nodes node(s)) running on 127.0.0.1:$port; source $dir/env" >&2
