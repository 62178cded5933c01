#!/bin/bash
# tests/storage/swift.sh start DIR PORT [FILE...] | put DIR PORT FILE NAME [HEADER] | stop DIR
#
# A one-replica OpenStack Swift (Debian's swift-proxy, -account, -container,
# -object and memcached) on 127.0.0.1 only, for the storage tests: the proxy on
# PORT serves the Swift v1 API through tempauth (user test:tester, key
# testing, auth URL http://127.0.0.1:PORT/auth/v1.0) and S3 through s3api
# (access key test:tester, secret testing, region us-east-1, real SigV4
# checks) from the same objects. Everything lives in DIR (rings, configs,
# the store, logs: DIR/proxy.log has one line per request); the processes'
# ids go to DIR/pids. start uploads each FILE into the container "imgs"
# under its base name, and exits once the proxy answers; put uploads FILE
# as imgs/NAME (NAME may hold '/'), with HEADER ("Name: value") stored on it.
set -euo pipefail

usage() {
    echo "usage: $0 start DIR PORT [FILE...] | put DIR PORT FILE NAME [HEADER] | stop DIR" >&2
    exit 2
}

# free_port: a TCP port nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# token PORT: a tempauth token for test:tester (empty when the proxy does not answer).
token() {
    curl -s -o /dev/null -D - -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
        "http://127.0.0.1:$1/auth/v1.0" | tr -d '\r' | sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p' || true
}

# upload PORT TOKEN FILE NAME [HEADER]: FILE as imgs/NAME.
upload() {
    local name extra=()
    name=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$4")
    [ -z "${5:-}" ] || extra=(-H "$5")
    curl -sf -o /dev/null -X PUT -H "X-Auth-Token: $2" "${extra[@]}" -T "$3" \
        "http://127.0.0.1:$1/v1/AUTH_test/imgs/$name" || {
        echo "swift.sh: uploading $3 as $4 failed" >&2
        return 1
    }
}

stop() {
    local dir=$1 pid n
    [ -f "$dir/pids" ] || return 0
    while read -r pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done <"$dir/pids"
    for ((n = 0; n < 50; n++)); do
        local alive=0
        while read -r pid; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done <"$dir/pids"
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    while read -r pid; do
        kill -KILL "$pid" 2>/dev/null || true
    done <"$dir/pids"
    rm -f "$dir/pids"
}

# server_conf FILE KIND PORT: an account, container or object server's configuration.
server_conf() {
    cat >"$1" <<CONF
[DEFAULT]
devices = $dir/srv
mount_check = false
bind_ip = 127.0.0.1
bind_port = $3
swift_dir = $dir
workers = 0
user = $user
log_name = $2-server

[pipeline:main]
pipeline = $2-server

[app:$2-server]
use = egg:swift#$2

[$2-replicator]
[$2-updater]
[$2-auditor]
[$2-sharder]
[object-reconstructor]
[object-expirer]
CONF
}

start() {
    local port=$1
    shift
    local acct_port cont_port obj_port mc_port kind p token f
    user=$(id -un)
    mkdir -p "$dir/srv/d1"
    : >"$dir/pids"
    acct_port=$(free_port)
    cont_port=$(free_port)
    obj_port=$(free_port)
    mc_port=$(free_port)
    for kind in account container object; do
        case $kind in
        account) p=$acct_port ;;
        container) p=$cont_port ;;
        object) p=$obj_port ;;
        esac
        swift-ring-builder "$dir/$kind.builder" create 6 1 1 >/dev/null
        swift-ring-builder "$dir/$kind.builder" add "r1z1-127.0.0.1:$p/d1" 1 >/dev/null
        swift-ring-builder "$dir/$kind.builder" rebalance >/dev/null
        server_conf "$dir/$kind-server.conf" "$kind" "$p"
    done
    cat >"$dir/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
swift_dir = $dir
workers = 0
user = $user
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors proxy-logging cache s3api tempauth proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mc_port

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
CONF
    memcached -l 127.0.0.1 -p "$mc_port" -U 0 -u "$user" >>"$dir/memcached.log" 2>&1 &
    echo $! >>"$dir/pids"
    for kind in account container object; do
        "swift-$kind-server" "$dir/$kind-server.conf" -v >>"$dir/$kind.log" 2>&1 &
        echo $! >>"$dir/pids"
    done
    swift-proxy-server "$dir/proxy-server.conf" -v >>"$dir/proxy.log" 2>&1 &
    echo $! >>"$dir/pids"
    # The proxy answers auth once it listens; the container PUT once the
    # account and container servers do. Python's imports take a while on a
    # busy machine: up to 120 s.
    local until=$((SECONDS + 120))
    while [ "$SECONDS" -lt "$until" ]; do
        token=$(token "$port")
        if [ -n "$token" ] &&
            curl -sf -o /dev/null -X PUT -H "X-Auth-Token: $token" \
                "http://127.0.0.1:$port/v1/AUTH_test/imgs"; then
            break
        fi
        token=
        sleep 0.1
    done
    [ -n "$token" ] || {
        echo "swift.sh: the proxy on port $port did not come up (see $dir/*.log)" >&2
        return 1
    }
    for f in "$@"; do
        upload "$port" "$token" "$f" "$(basename "$f")" || return 1
    done
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
case $cmd in
start)
    [ $# -ge 3 ] || usage
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    port=$3
    shift 3
    if ! start "$port" "$@"; then
        stop "$dir"
        exit 1
    fi
    ;;
put)
    [ $# -eq 5 ] || [ $# -eq 6 ] || usage
    t=$(token "$3")
    [ -n "$t" ] || {
        echo "swift.sh: no token from the proxy on port $3" >&2
        exit 1
    }
    upload "$3" "$t" "$4" "$5" "${6:-}"
    ;;
stop) stop "$dir" ;;
*) usage ;;
esac
