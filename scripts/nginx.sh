# scripts/nginx.sh: private nginx instances for run.sh and the integration tests.
# shellcheck shell=bash
# Sourced by run.sh and tests/integration/run.sh; needs bash and curl.

# nginx_private_conf SRC DIR PORT UPSTREAM [USER]
# Writes DIR/nginx.conf: a copy of SRC (conf/nginx*.conf) listening on
# 127.0.0.1:PORT, passing to UPSTREAM (a unix socket path, replacing
# unix:/run/imgfcgi/imgfcgi.sock, or host:port, replacing 127.0.0.1:9000), with its pid file, logs
# and temporary files under DIR, and workers running as USER (default: the
# file's www-data; commented out when not root). Only the strings that conf/nginx.conf
# documents are replaced; fails if one of them is missing, so the real file
# and this copy cannot drift apart silently.
nginx_private_conf() {
    local src=$1 dir=$2 port=$3 sock=$4 user=${5:-www-data} s upstream
    if [ "${sock:0:1}" = / ]; then
        upstream='unix:/run/imgfcgi/imgfcgi.sock'
        sock="unix:$sock"
    else
        upstream='127.0.0.1:9000'
    fi
    for s in 'user www-data;' '127.0.0.1:8080' "$upstream" '/run/nginx.pid' \
        '/var/log/nginx/' '/var/lib/nginx/'; do
        if ! grep -qF "$s" "$src"; then
            echo "nginx_private_conf: '$s' not found in $src" >&2
            return 1
        fi
    done
    mkdir -p "$dir/tmp" || return 1
    local user_line="user $user;"
    if [ "$(id -u)" -ne 0 ]; then
        # nginx would only warn that "user" needs root.
        user_line="# user $user; (not root: the workers run as the caller)"
    fi
    sed -e "s|^user www-data;|$user_line|" \
        -e "s|127\.0\.0\.1:8080|127.0.0.1:$port|g" \
        -e "s|${upstream//./\\.}|$sock|g" \
        -e "s|/run/nginx\.pid|$dir/nginx.pid|g" \
        -e "s|/var/log/nginx/|$dir/|g" \
        -e "s|/var/lib/nginx/|$dir/tmp/|g" \
        "$src" >"$dir/nginx.conf"
}

# nginx_start DIR: starts nginx in the foreground of a background job with
# DIR/nginx.conf; prints nothing, sets NGINX_PID. Errors go to DIR/error.log
# (also the early ones, via -e). When not root, nginx ignores "user" with a warning.
nginx_start() {
    local dir=$1
    nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" || return 1
    nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' &
    # shellcheck disable=SC2034 # read by the caller
    NGINX_PID=$!
}

# free_port: prints a TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [SECONDS [PID...]]: polls URL until it answers 200 (bounded,
# default 20 s); gives up early when one of the PIDs (the servers behind URL) dies.
wait_http() {
    local url=$1 secs=${2:-20} i pid
    shift $(($# < 2 ? $# : 2))
    for ((i = 0; i < secs * 5; i++)); do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        for pid in "$@"; do
            if ! pid_alive "$pid"; then
                echo "pid $pid exited while waiting for $url" >&2
                return 1
            fi
        done
        sleep 0.2
    done
    echo "no 200 from $url after ${secs}s" >&2
    return 1
}

# wait_socket PATH [SECONDS]: waits until the unix socket PATH exists (bounded).
wait_socket() {
    local path=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        if [ -S "$path" ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "no socket $path after ${secs}s" >&2
    return 1
}

# pid_alive PID: true while PID runs (a zombie waiting to be reaped does not count).
pid_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat:0:1}" != "Z" ]
}

# stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 10), then SIGKILL.
stop_pid() {
    local pid=$1 secs=${2:-10} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        if ! pid_alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            return 0
        fi
        sleep 0.1
    done
    echo "pid $pid did not stop after ${secs}s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
}
