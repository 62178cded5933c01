#!/bin/bash
# tests/integration/run.sh: real origin + imgfcgi (via spawn.sh) + nginx (conf/nginx.conf) on 127.0.0.1.
#
# Starts, in a temp dir:
#   - an origin nginx (origin.conf.in) serving a copy of tests/fixtures plus
#     generated files, with status, redirect, slow and gzip routes;
#   - imgfcgi #1 (no signature) and imgfcgi #2 (IMGPROXY_KEY/SALT set), each
#     through spawn.sh on its own unix socket;
#   - one front nginx per instance, each a private sed'ed copy of conf/nginx.conf;
# then runs test_http.py against them and stops everything (trap EXIT).
#
# Environment:
#   IMGFCGI_BIN        the binary (default: build/imgfcgi)
#   IMGFCGI_ASAN=1     sanitizer build: ASan/UBSan logs fail the run
#   IMGFCGI_NO_NETNS=1 do not move into a private network namespace (root only)
#   IMGFCGI_KEEP_TMP=1 keep the temp dir even when everything passed
#   IMGFCGI_LOAD_REQUESTS  requests in the mixed load (default 1000)
# Extra arguments go to test_http.py (test name substrings to run only those).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/nginx.sh
. "$repo/scripts/nginx.sh"

# As root, run inside a fresh network namespace that has only loopback: no
# request of the suite (nor a DNS lookup) can leave the machine.
if [ "$(id -u)" -eq 0 ] && [ -z "${IMGFCGI_IN_NETNS:-}" ] && [ -z "${IMGFCGI_NO_NETNS:-}" ] &&
    command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
    export IMGFCGI_IN_NETNS=1
    exec unshare -n -- bash -c 'ip link set lo up && exec "$@"' bash "$0" "$@"
fi

# Nothing here may go through a proxy of the caller's environment (curl honours these);
# only imgfcgi #2 gets one below, on purpose.
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

bin=${IMGFCGI_BIN:-$repo/build/imgfcgi}
asan=${IMGFCGI_ASAN:-0}
for tool in nginx spawn-fcgi vipsheader vips curl python3 gzip; do
    command -v "$tool" >/dev/null || {
        echo "integration: $tool is missing (run tests/run.sh as root to install packages)" >&2
        exit 1
    }
done
[ -x "$bin" ] || {
    echo "integration: no executable $bin (run make)" >&2
    exit 1
}

tmp=$(mktemp -d /tmp/imgfcgi-it.XXXXXX)
# nginx workers run as www-data when we are root: they must reach the sockets.
chmod 0755 "$tmp"
declare -A pids=()
extra_pass=0
extra_fail=0
status=1

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$? i pid n code
    set +e
    # imgfcgi first (SIGTERM: a clean exit lets LeakSanitizer run), then nginx.
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        case $i in
        imgfcgi*)
            if pid_alive "$pid"; then
                kill -TERM "$pid"
                for ((n = 0; n < 300; n++)); do
                    pid_alive "$pid" || break
                    sleep 0.1
                done
                if pid_alive "$pid"; then
                    echo "FAIL $i: still running 30 s after SIGTERM; killed" >&2
                    kill -KILL "$pid"
                    extra_fail=$((extra_fail + 1))
                fi
                wait "$pid"
                code=$?
                if [ "$code" -ne 0 ]; then
                    echo "FAIL $i: exit status $code after SIGTERM (expected 0)" >&2
                    extra_fail=$((extra_fail + 1))
                else
                    extra_pass=$((extra_pass + 1))
                fi
            else
                echo "FAIL $i: not running at the end of the suite" >&2
                extra_fail=$((extra_fail + 1))
            fi
            ;;
        esac
    done
    for i in "${!pids[@]}"; do
        case $i in
        imgfcgi*) ;;
        *) stop_pid "${pids[$i]}" 10 ;;
        esac
    done
    if [ "$asan" = 1 ]; then
        local logs
        logs=$(find "$tmp/asan" -type f 2>/dev/null | sort)
        if [ -n "$logs" ]; then
            echo "FAIL sanitizers: reports in $tmp/asan:" >&2
            for f in $logs; do
                echo "==== $f" >&2
                cat "$f" >&2
            done
            extra_fail=$((extra_fail + 1))
        else
            extra_pass=$((extra_pass + 1))
        fi
    fi
    local p=0 f=0
    if [ -f "$tmp/result" ]; then
        read -r p f <"$tmp/result"
    elif [ "$rc" -ne 0 ] || [ "$status" -ne 0 ]; then
        f=1
    fi
    p=$((p + extra_pass))
    f=$((f + extra_fail))
    if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
        for log in "$tmp"/*.log; do
            [ -s "$log" ] || continue
            echo "---- last lines of $log" >&2
            tail -n 20 "$log" >&2
        done
        echo "integration: kept $tmp for inspection" >&2
    elif [ "${IMGFCGI_KEEP_TMP:-0}" = 1 ]; then
        echo "integration: kept $tmp"
    else
        rm -rf "$tmp"
    fi
    echo "integration: $p passed, $f failed"
    if [ "$f" -ne 0 ] && [ "$rc" -eq 0 ]; then
        rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the source tree: fixtures plus generated files ----------------------
root=$tmp/root
mkdir -p "$root/sub" "$tmp/outside"
cp -p "$repo"/tests/fixtures/*.jpg "$repo"/tests/fixtures/*.png "$repo"/tests/fixtures/*.gif \
    "$repo"/tests/fixtures/*.webp "$root/"
cp -p "$root/photo.jpg" "$root/sub/photo.jpg"
cp -p "$root/photo.jpg" "$root/my photo@2x.jpg"
cp -p "$root/photo.jpg" "$tmp/outside/secret.jpg"
ln -s ../outside/secret.jpg "$root/escape.jpg"
ln -s "$tmp/outside" "$root/outside-dir"
ln -s photo.jpg "$root/inside-link.jpg"
printf 'this is not an image\n' >"$root/text.txt"
# JPEG magic, then garbage.
python3 -c 'import sys; sys.stdout.buffer.write(b"\xff\xd8\xff\xe0" + bytes((i * 7919) % 251 for i in range(4096)))' \
    >"$root/broken.jpg"
# 8000x8000 = 64 MP > the default IMGPROXY_MAX_SRC_RESOLUTION of 50 MP, 62 KB on disk.
vips black "$root/big.png" 8000 8000
# A valid JPEG (the decoder stops at EOI) padded past IMGPROXY_MAX_SRC_FILE_SIZE.
{
    cat "$root/photo.jpg"
    head -c 4000000 /dev/zero
} >"$root/padded.jpg"
gzip -9 -k "$root/photo.jpg"
chmod -R a+rX "$root" "$tmp/outside"

# --- origin ------------------------------------------------------------
origin_port=$(free_port)
mkdir -p "$tmp/origin" "$tmp/origin-tmp"
sed -e "s|@DIR@|$tmp|g" -e "s|@PORT@|$origin_port|g" -e "s|@ROOT@|$root|g" \
    "$here/origin.conf.in" >"$tmp/origin/nginx.conf"
nginx -t -q -p "$tmp/origin" -e "$tmp/origin-error.log" -c "$tmp/origin/nginx.conf"
nginx -p "$tmp/origin" -e "$tmp/origin-error.log" -c "$tmp/origin/nginx.conf" -g 'daemon off;' &
pids[origin]=$!
wait_http "http://127.0.0.1:$origin_port/photo.jpg" 20 "${pids[origin]}"

# --- imgfcgi instances ---------------------------------------------------
common_env=(
    IMGPROXY_LOCAL_FILESYSTEM_ROOT="$root"
    IMGPROXY_DOWNLOAD_TIMEOUT=2
    IMGPROXY_WORKERS=2
    IMGPROXY_MAX_REDIRECTS=3
    IMGPROXY_MAX_SRC_FILE_SIZE=3000000
    IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES=true
    IMGPROXY_GRACEFUL_STOP_TIMEOUT=5
    IMGFCGI_LOG_LEVEL=info
)
if [ "$asan" = 1 ]; then
    mkdir -p "$tmp/asan"
    chmod 0777 "$tmp/asan"
    common_env+=(
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$tmp/asan/asan"
        LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$tmp/asan/ubsan"
        G_SLICE=always-malloc
        IMGPROXY_TIMEOUT=30
    )
fi
# As root, hand the socket to nginx's worker user; otherwise both run as us.
owner_args=()
if [ "$(id -u)" -eq 0 ]; then
    owner_args=(-U www-data)
fi

# start_instance NAME ENV...: imgfcgi through spawn.sh, in the foreground of a background job.
start_instance() {
    local name=$1
    shift
    env "$@" IMGFCGI_BIN="$bin" "$repo/spawn.sh" -n -s "$tmp/$name.sock" -M 0660 "${owner_args[@]}" \
        >>"$tmp/$name.log" 2>&1 &
    pids[$name]=$!
    wait_socket "$tmp/$name.sock" 20
}

start_instance imgfcgi1 "${common_env[@]}" IMGFCGI_METRICS_PATH=/metrics
# The signature instance reaches http:// sources through the origin as an HTTP
# proxy, so the documented vector (example.com) never needs DNS or a network.
start_instance imgfcgi2 "${common_env[@]}" IMGPROXY_KEY=736563726574 IMGPROXY_SALT=68656C6C6F \
    http_proxy="http://127.0.0.1:$origin_port"

# --- front nginx: private copies of conf/nginx.conf ------------------------
front1_port=$(free_port)
nginx_private_conf "$repo/conf/nginx.conf" "$tmp/front1" "$front1_port" "$tmp/imgfcgi1.sock"
nginx_start "$tmp/front1"
pids[front1]=$NGINX_PID
front2_port=$(free_port)
nginx_private_conf "$repo/conf/nginx.conf" "$tmp/front2" "$front2_port" "$tmp/imgfcgi2.sock"
nginx_start "$tmp/front2"
pids[front2]=$NGINX_PID

wait_http "http://127.0.0.1:$front1_port/health" 30 "${pids[front1]}" "${pids[imgfcgi1]}"
wait_http "http://127.0.0.1:$front2_port/health" 30 "${pids[front2]}" "${pids[imgfcgi2]}"

# --- the suite -------------------------------------------------------------
set +e
IT_FRONT="http://127.0.0.1:$front1_port" \
    IT_SIGNED_FRONT="http://127.0.0.1:$front2_port" \
    IT_ORIGIN="http://127.0.0.1:$origin_port" \
    IT_ORIGIN_LOG="$tmp/origin-access.log" \
    IT_ROOT="$root" \
    IT_PID="${pids[imgfcgi1]}" \
    IT_SIGNED_PID="${pids[imgfcgi2]}" \
    IT_KEY=736563726574 IT_SALT=68656C6C6F \
    IT_RESULT="$tmp/result" \
    IT_ASAN="$asan" \
    IT_LOAD_REQUESTS="${IMGFCGI_LOAD_REQUESTS:-1000}" \
    python3 "$here/test_http.py" "$@"
status=$?
set -e
exit "$status"
