#!/bin/bash
# tests/fleet/run.sh: the fleet drills (make fleet). In a private network namespace:
#   - an origin nginx on 127.0.0.1:8081 (tests/integration/origin.conf.in) serving
#     tests/fixtures plus a 49 MP PNG;
#   - three hosts, 127.0.0.2:9000, 127.0.0.3:9000 and 127.0.0.4:9000: one imgfcgi each
#     (IMGFCGI_LISTEN, two workers, its own memory budget), each supervised by runit's
#     runsv, which starts it again as soon as it exits;
#   - the front: a private copy of conf/nginx-fleet.conf on 127.0.0.1:8080 with the
#     shared cache;
#   - front-cut: the same file on 127.0.0.1:8090 with its upstream replaced by
#     127.0.0.5:9000, a FastCGI host played by drills.py that cuts answers short;
# then runs tests/fleet/drills.py and prints "fleet: N passed, N failed".
#
# The hosts' fixed addresses need the namespace: run as root (CI does).
# Environment: IMGFCGI_BIN (default build/imgfcgi), IMGFCGI_KEEP_TMP=1 keeps the temp dir.
# Arguments go to drills.py (drill name substrings to run only those).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/nginx.sh
. "$repo/scripts/nginx.sh"

if [ -z "${IMGFCGI_IN_NETNS:-}" ]; then
    if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
        echo "fleet: needs root and unshare -n (the hosts listen on fixed loopback addresses)" >&2
        echo "fleet: 0 passed, 1 failed"
        exit 1
    fi
    export IMGFCGI_IN_NETNS=1
    exec unshare -n -- bash -c 'ip link set lo up && exec "$@"' bash "$0" "$@"
fi

unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
bin=${IMGFCGI_BIN:-$repo/build/imgfcgi}
for tool in nginx runsv sv vips curl python3; do
    command -v "$tool" >/dev/null || {
        echo "fleet: $tool is missing (scripts/deps.sh lists the packages)" >&2
        echo "fleet: 0 passed, 1 failed"
        exit 1
    }
done
[ -x "$bin" ] || {
    echo "fleet: no executable $bin (run make)" >&2
    echo "fleet: 0 passed, 1 failed"
    exit 1
}

tmp=$(mktemp -d /tmp/imgfcgi-fleet.XXXXXX)
chmod 0755 "$tmp"
declare -A pids=()
hosts=(127.0.0.2 127.0.0.3 127.0.0.4)
# Each host's own budget: one 49 MP rotation (about 66 MB by imgfcgi's estimate)
# fits, a second waits; the burst drill's five cannot go to one host.
declare -A budgets=([127.0.0.2]=100M [127.0.0.3]=110M [127.0.0.4]=90M)

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$? h name p=0 f=1
    set +e
    for h in "${hosts[@]}"; do
        # Down (SIGTERM, waiting for the drain), then runsv itself goes.
        sv -w 30 force-stop "$tmp/sv/$h" >/dev/null 2>&1
        sv exit "$tmp/sv/$h" >/dev/null 2>&1
    done
    for name in "${!pids[@]}"; do
        stop_pid "${pids[$name]}" 20
    done
    [ -f "$tmp/result" ] && read -r p f <"$tmp/result"
    if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
        for log in "$tmp"/*.log "$tmp"/*/*.log; do
            [ -s "$log" ] || continue
            echo "---- last lines of $log" >&2
            tail -n 15 "$log" >&2
        done
        echo "fleet: kept $tmp for inspection" >&2
        [ "$f" -ne 0 ] || f=1
    elif [ "${IMGFCGI_KEEP_TMP:-0}" = 1 ]; then
        echo "fleet: kept $tmp"
    else
        rm -rf "$tmp"
    fi
    echo "fleet: $p passed, $f failed"
    [ "$f" -eq 0 ] || exit 1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the origin ------------------------------------------------------------
root=$tmp/root
mkdir -p "$root" "$tmp/origin" "$tmp/origin-tmp"
cp -p "$repo"/tests/fixtures/*.jpg "$repo"/tests/fixtures/*.png "$repo"/tests/fixtures/*.gif \
    "$repo"/tests/fixtures/*.webp "$root/"
# 7000 x 7000 = 49 MP, under the default IMGPROXY_MAX_SRC_RESOLUTION of 50 MP.
vips black "$root/big.png" 7000 7000
chmod -R a+rX "$root"
sed -e "s|@DIR@|$tmp|g" -e "s|@PORT@|8081|g" -e "s|@ROOT@|$root|g" \
    "$repo/tests/integration/origin.conf.in" >"$tmp/origin/nginx.conf"
nginx_start "$tmp/origin"
pids[origin]=$NGINX_PID
wait_http "http://127.0.0.1:8081/photo.jpg" 20 "${pids[origin]}"

# --- the hosts, each under runsv -------------------------------------------------
for h in "${hosts[@]}"; do
    d=$tmp/sv/$h
    mkdir -p "$d"
    cat >"$d/run" <<EOF
#!/bin/sh
# One fleet host: imgfcgi listening on TCP itself, logging to host-$h.log.
exec 2>>'$tmp/host-$h.log' 1>&2
exec env MALLOC_ARENA_MAX=2 G_SLICE=always-malloc IMGFCGI_LISTEN=$h:9000 \\
    IMGPROXY_WORKERS=2 IMGFCGI_CONNECTIONS=48 IMGPROXY_TIMEOUT=8 \\
    IMGFCGI_MEMORY_BUDGET=${budgets[$h]} IMGFCGI_ADMISSION_WAIT_MS=1500 IMGFCGI_BUFFER_RESULT=true \\
    IMGPROXY_GRACEFUL_STOP_TIMEOUT=5 IMGPROXY_DOWNLOAD_TIMEOUT=2 \\
    IMGPROXY_AUTO_WEBP=true IMGPROXY_AUTO_AVIF=true IMGPROXY_FREE_MEMORY_INTERVAL=1 \\
    IMGPROXY_LOCAL_FILESYSTEM_ROOT='$root' IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES=true \\
    '$bin'
EOF
    chmod 0755 "$d/run"
    runsv "$d" >>"$tmp/runsv-$h.log" 2>&1 &
    pids[runsv-$h]=$!
done

# --- the fronts ----------------------------------------------------------------
# front_conf NAME PORT [UPSTREAM]: a private copy of conf/nginx-fleet.conf in $tmp/NAME,
# listening on PORT; with UPSTREAM (host:port) its three server lines become that one.
front_conf() {
    local dir=$tmp/$1 s user_line="user www-data;"
    for s in 'user www-data;' '127.0.0.1:8080' '/run/nginx.pid' '/var/log/nginx/' \
        '/var/lib/nginx/' 'server 127.0.0.2:9000'; do
        grep -qF "$s" "$repo/conf/nginx-fleet.conf" || {
            echo "fleet: '$s' not found in conf/nginx-fleet.conf" >&2
            return 1
        }
    done
    mkdir -p "$dir/tmp"
    [ "$(id -u)" -eq 0 ] || user_line="# user www-data; (not root)"
    local up=()
    if [ -n "${3:-}" ]; then
        up=(-e "s|server 127\.0\.0\.2:9000|server $3|" -e '/server 127\.0\.0\.[34]:9000/d')
    fi
    sed -e "s|^user www-data;|$user_line|" -e "s|127\.0\.0\.1:8080|127.0.0.1:$2|g" \
        -e "s|/run/nginx\.pid|$dir/nginx.pid|g" -e "s|/var/log/nginx/|$dir/|g" \
        -e "s|/var/lib/nginx/|$dir/tmp/|g" "${up[@]}" \
        "$repo/conf/nginx-fleet.conf" >"$dir/nginx.conf"
    # The cache directory must be the workers' (www-data when root).
    mkdir -p "$dir/tmp/imgfcgi-cache"
    [ "$(id -u)" -ne 0 ] || chown -R www-data "$dir/tmp"
    nginx_start "$dir"
    pids[$1]=$NGINX_PID
}
front_conf front 8080
front_conf front-cut 8090 127.0.0.5:9000
wait_http "http://127.0.0.1:8080/health" 30 "${pids[front]}"

# --- the drills ------------------------------------------------------------------
set +e
FLEET_TMP="$tmp" FLEET_HOSTS="${hosts[*]}" FLEET_RESULT="$tmp/result" \
    FLEET_BUDGETS="${budgets[127.0.0.2]} ${budgets[127.0.0.3]} ${budgets[127.0.0.4]}" \
    FLEET_ORIGIN_PID="${pids[origin]}" FLEET_ORIGIN_CONF="$tmp/origin/nginx.conf" \
    python3 "$here/drills.py" "$@"
set -e
