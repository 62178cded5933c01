#!/bin/bash
# tests/integration/run.sh [HOST] [TEST...]: real origin + imgfcgi behind one FastCGI host on 127.0.0.1.
#
# Starts, in a temp dir:
#   - an origin nginx (origin.conf.in) serving a copy of tests/fixtures plus
#     generated files, with status, redirect, slow and gzip routes;
#   - origin.py, an origin whose ETag, Last-Modified, Cache-Control, Expires,
#     206 and 304 answers the query string chooses, logging what it receives;
#   - imgfcgi #3 (every HTTP header feature on), #4 (IMGPROXY_SECRET, fallback
#     file), #5 (fallback data, error status) and #6 (fallback URL), each
#     through spawn.sh behind a private copy of conf/nginx.conf, and
#     conf/nginx-cache.conf in front of #3, whatever HOST is;
#   - with HOST=nginx, imgfcgi-dl and imgfcgi-q (small IMGPROXY_WORKERS, IMGPROXY_TIMEOUT
#     and IMGPROXY_REQUESTS_QUEUE_SIZE) for test_deadline.py and
#     tests/hostile/overload.py (60 s; run when no test names are given, or "overload");
#   - imgfcgi #1 (no signature) and imgfcgi #2 (IMGPROXY_KEY/SALT set), each
#     behind its own front web server, a private sed'ed copy of a conf/ file.
#     HOST (default nginx) says which:
#       nginx       #1: imgfcgi opens IMGFCGI_LISTEN itself, conf/nginx-keepalive.conf
#                   (fastcgi_keep_conn + keepalive); #2: spawn.sh -n on a unix
#                   socket, conf/nginx.conf. Adds the keep-alive pinning test and
#                   an nginx -s reload under load.
#       spawn-fcgi  spawn.sh -F 2 pools on TCP, conf/nginx-tcp.conf; SIGTERM to one
#                   child of the pool under load.
#       lighttpd    conf/lighttpd.conf: lighttpd spawns imgfcgi (bin-path,
#                   max-procs 2); a graceful restart (SIGUSR1) under load.
#       apache      conf/apache-fcgid.conf: Apache mod_fcgid spawns imgfcgi, mounted
#                   under /img; apache2 -k graceful under load.
#   - with HOST nginx: OpenStack Swift (tests/storage/swift.sh) and imgfcgi-st/-stbad
#     reading s3:// and swift:// from it (test_storage.py);
#   - with HOST nginx: imgfcgi-info (test_info.py), imgfcgi #7 (test_conformance.py), #8/#9/#10 (test_ssrf.py:
#     the source-address guard, IMGPROXY_ALLOWED_SOURCES, limits before work),
#     imgfcgi-ps (test_pro_sources.py: chains, /enc/, fallback_image_url, hashsum),
#     imgfcgi-wp/-wp2 (test_wm_pdf.py: watermarks, pages, PDF sources and results) and
#     imgfcgi-hx/-hxn (tests/hostile/hostile.py, each behind its own conf/nginx.conf);
# then runs test_http.py against them and stops everything (trap EXIT).
#
# Environment:
#   IMGFCGI_BIN        the binary (default: build/imgfcgi)
#   IMGFCGI_ASAN=1     sanitizer build: ASan/UBSan logs fail the run
#   IMGFCGI_TSAN=1     ThreadSanitizer build: the same, with TSan logs and tests/tsan.supp
#   IMGFCGI_NO_NETNS=1 do not move into a private network namespace (root only)
#   IMGFCGI_KEEP_TMP=1 keep the temp dir even when everything passed
#   IMGFCGI_LOAD_REQUESTS  requests in the mixed load (default 1000)
# Extra arguments go to test_http.py (test name substrings to run only those).
set -euo pipefail


here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/nginx.sh
. "$repo/scripts/nginx.sh"

# The Node client test needs @imgproxy/imgproxy-node: install it from the
# lockfile while the npm registry (or npm's cache) is still reachable.
if [ -z "${IMGFCGI_IN_NETNS:-}" ] && [ ! -d "$repo/tests/clients/node_modules/@imgproxy/imgproxy-node" ] &&
    command -v npm >/dev/null; then
    (cd "$repo/tests/clients" && timeout 300 npm ci --no-audit --no-fund --prefer-offline >&2) ||
        echo "integration: npm ci in tests/clients failed; the client tests will fail" >&2
fi

# Azurite (the abs:// tests) from its lockfile, the same way.
if [ -z "${IMGFCGI_IN_NETNS:-}" ] && [ ! -x "$repo/tests/storage/azurite/node_modules/.bin/azurite-blob" ] &&
    command -v npm >/dev/null; then
    (cd "$repo/tests/storage/azurite" && timeout 300 npm ci --no-audit --no-fund --prefer-offline >&2) ||
        echo "integration: npm ci in tests/storage/azurite failed; the abs:// tests will fail" >&2
fi

# As root, run inside a fresh network namespace that has only loopback: no
# request of the suite (nor a DNS lookup) can leave the machine.
if [ "$(id -u)" -eq 0 ] && [ -z "${IMGFCGI_IN_NETNS:-}" ] && [ -z "${IMGFCGI_NO_NETNS:-}" ] &&
    command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
    export IMGFCGI_IN_NETNS=1
    exec unshare -n -- bash -c 'ip link set lo up && exec "$@"' bash "$0" "$@"
fi

host=nginx
case ${1:-} in
nginx | spawn-fcgi | lighttpd | apache)
    host=$1
    shift
    ;;
esac

# Nothing here may go through a proxy of the caller's environment (curl honours these);
# only imgfcgi #2 gets one below, on purpose.
unset http_proxy https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

bin=${IMGFCGI_BIN:-$repo/build/imgfcgi}
asan=${IMGFCGI_ASAN:-0}
tsan=${IMGFCGI_TSAN:-0}
# A TSan build is as slow as an ASan one and collects its reports the same way.
[ "$tsan" = 1 ] && asan=1
tools=(nginx spawn-fcgi vipsheader vips curl python3 gzip)
case $host in
nginx) tools+=(swift-proxy-server swift-ring-builder memcached) ;;
lighttpd) tools+=(lighttpd) ;;
apache) tools+=(apache2) ;;
esac
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || {
        echo "integration: $tool is missing (run tests/run.sh as root to install packages)" >&2
        exit 1
    }
done
[ -x "$bin" ] || {
    echo "integration: no executable $bin (run make)" >&2
    exit 1
}

tmp=$(mktemp -d "/tmp/imgfcgi-it-$host.XXXXXX")
# nginx workers run as www-data when we are root: they must reach the sockets.
chmod 0755 "$tmp"
declare -A pids=()
extra_pass=0
extra_fail=0
status=1

# term_within_30s NAME PID: SIGTERM, then up to 30 s for PID to go; if it is still
# there, SIGKILL and one failure for NAME.
# shellcheck disable=SC2317 # called from the EXIT trap
term_within_30s() {
    local n
    kill -TERM "$2" 2>/dev/null
    for ((n = 0; n < 300; n++)); do
        pid_alive "$2" || return 0
        sleep 0.1
    done
    pid_alive "$2" || return 0
    echo "FAIL $1: still running 30 s after SIGTERM; killed" >&2
    kill -KILL "$2"
    extra_fail=$((extra_fail + 1))
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$? i pid code
    set +e
    # imgfcgi first (SIGTERM: a clean exit lets LeakSanitizer run), then nginx.
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        case $i in
        imgfcgi*)
            if pid_alive "$pid"; then
                term_within_30s "$i" "$pid"
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
    [ -z "${swift_dir:-}" ] || "$repo/tests/storage/swift.sh" stop "$swift_dir"
    for i in "${!pids[@]}"; do
        case $i in
        imgfcgi*) ;;
        pool*)
            # Not our children: no exit status, but they must go within 30 s.
            term_within_30s "$i" "${pids[$i]}"
            ;;
        *) stop_pid "${pids[$i]}" 20 ;;
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
        local extra cp cf
        for extra in "$tmp"/result-?*; do
            [ -f "$extra" ] || continue
            read -r cp cf <"$extra"
            p=$((p + cp))
            f=$((f + cf))
        done
    elif [ "$rc" -ne 0 ] || [ "$status" -ne 0 ]; then
        f=1
    fi
    p=$((p + extra_pass))
    f=$((f + extra_fail))
    if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
        for log in "$tmp"/*.log "$tmp"/*/*error*.log "$tmp"/*/stderr.log; do
            [ -s "$log" ] || continue
            echo "---- last lines of $log" >&2
            tail -n 20 "$log" >&2
        done
        echo "integration ($host): kept $tmp for inspection" >&2
    elif [ "${IMGFCGI_KEEP_TMP:-0}" = 1 ]; then
        echo "integration ($host): kept $tmp"
    else
        rm -rf "$tmp"
    fi
    echo "integration-$host: $p passed, $f failed"
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
# A name with a "?" (IMGPROXY_SOURCE_URL_QUERY_SEPARATOR) and a 37x23 fallback image.
cp -p "$root/photo.jpg" "$root/odd?name.jpg"
vips black "$tmp/fallback.png" 37 23
cp -p "$tmp/fallback.png" "$root/fallback.png"
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
# Generated sources of the conformance suite (halves, checker, boxed, transparent, blue, wm).
python3 "$here/test_conformance.py" --make-fixtures "$root"
# Generated sources of test_wm_pdf.py (PDFs, a multi-page TIFF, an animated WebP); after
# the conformance ones (its WebP is made from their anim4.gif).
python3 "$here/test_wm_pdf.py" --make-fixtures "$root"
# The /info fixtures (test_info.py): IPTC and XMP in a JPEG, a 12 MP JPEG.
python3 "$here/test_info.py" --make-fixtures "$root"
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

# The scriptable origin (origin.py): ETag, Last-Modified, Cache-Control, Expires, 206, 304.
py_port=$(free_port)
: >"$tmp/pyorigin-requests.log"
python3 "$here/origin.py" "$py_port" "$root" "$tmp/pyorigin-requests.log" >>"$tmp/pyorigin.log" 2>&1 &
pids[pyorigin]=$!
wait_http "http://127.0.0.1:$py_port/img/photo.jpg" 20 "${pids[pyorigin]}"

# --- imgfcgi instances and their hosts ---------------------------------------
common_env=(
    IMGPROXY_LOCAL_FILESYSTEM_ROOT="$root"
    IMGPROXY_DOWNLOAD_TIMEOUT=2
    IMGPROXY_MAX_REDIRECTS=3
    IMGPROXY_MAX_SRC_FILE_SIZE=3000000
    IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES=true
    IMGPROXY_GRACEFUL_STOP_TIMEOUT=5
    IMGFCGI_LOG_LEVEL=info
)
# Instance 1 serves the Prometheus metrics; instance 2 shows they are off by default.
metrics_env=(IMGFCGI_METRICS_PATH=/metrics)
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
    if [ "$tsan" = 1 ]; then
        # Short: mod_fcgid keeps 127 bytes of an FcgidInitialEnv value. The other
        # TSan settings are compiled into the tsan build (fcgi/main.c).
        cp "$repo/tests/tsan.supp" "$tmp/tsan.supp"
        common_env+=(TSAN_OPTIONS="suppressions=$tmp/tsan.supp:log_path=$tmp/asan/tsan")
    fi
fi
# nginx and spawn.sh hosts run imgfcgi with 2 workers; lighttpd and Apache
# send one request at a time and imgfcgi picks 1 (PHP_FCGI_CHILDREN=1, the conf).
threaded_env=(IMGPROXY_WORKERS=2)
# The signature instance reaches http:// sources through the origin as an HTTP
# proxy, so the documented vector (example.com) never needs DNS or a network.
signed_env=(IMGPROXY_KEY=736563726574 IMGPROXY_SALT=68656C6C6F http_proxy="http://127.0.0.1:$origin_port")
# As root, hand the socket to nginx's worker user; otherwise both run as us.
owner_args=()
if [ "$(id -u)" -eq 0 ]; then
    owner_args=(-U www-data)
fi
prefix=""
reload_cmd=""
reload_front=""
reload_error_log=""
fcgi_sock=""
workers=2

# spawn_unix NAME ENV...: imgfcgi through spawn.sh -n on $tmp/NAME.sock.
spawn_unix() {
    local name=$1
    shift
    env "$@" IMGFCGI_BIN="$bin" "$repo/spawn.sh" -n -s "$tmp/$name.sock" -M 0660 "${owner_args[@]}" \
        >>"$tmp/$name.log" 2>&1 &
    pids[$name]=$!
    wait_socket "$tmp/$name.sock" 20
}

# own_listen NAME ENV...: imgfcgi opening IMGFCGI_LISTEN=$tmp/NAME.sock itself.
own_listen() {
    local name=$1
    shift
    env "$@" IMGFCGI_LISTEN="$tmp/$name.sock" IMGFCGI_LISTEN_MODE=0666 MALLOC_ARENA_MAX=2 "$bin" \
        >>"$tmp/$name.log" 2>&1 &
    pids[$name]=$!
    wait_socket "$tmp/$name.sock" 20
}

# spawn_pool NAME PORT ENV...: spawn.sh -F 2 on TCP; pids[poolNAME-i] from its pid file.
spawn_pool() {
    local name=$1 port=$2 i=0 pid got=()
    shift 2
    env "$@" IMGFCGI_BIN="$bin" "$repo/spawn.sh" -a 127.0.0.1 -p "$port" -F 2 -P "$tmp/$name.pids" \
        >>"$tmp/$name.log" 2>&1
    # The pid file holds the children's pids separated by white space (not one per line).
    read -r -d '' -a got <"$tmp/$name.pids" || true
    for pid in "${got[@]}"; do
        pids[pool$name-$i]=$pid
        i=$((i + 1))
    done
}

# front_nginx NAME CONF UPSTREAM: a private copy of conf/CONF; sets front_port.
front_nginx() {
    front_port=$(free_port)
    nginx_private_conf "$repo/conf/$2" "$tmp/$1" "$front_port" "$3"
    nginx_start "$tmp/$1"
    pids[$1]=$NGINX_PID
}

# nginx_front FRONT NAME: front_nginx FRONT with conf/nginx.conf in front of the
# imgfcgi NAME (its socket $tmp/NAME.sock), then waits for FRONT's /health; sets front_port.
nginx_front() {
    front_nginx "$1" nginx.conf "$tmp/$2.sock"
    wait_http "http://127.0.0.1:$front_port/health" 30 "${pids[$1]}" "${pids[$2]}"
}

# env_lines FORMAT ENV...: one printf FORMAT line per KEY=VALUE (FORMAT takes KEY, VALUE).
env_lines() {
    local fmt=$1 kv
    shift
    for kv in "$@"; do
        # shellcheck disable=SC2059 # the format is the caller's
        printf "$fmt" "${kv%%=*}" "${kv#*=}"
    done
}

# front_lighttpd NAME ENV...: conf/lighttpd.conf spawning imgfcgi; sets front_port.
front_lighttpd() {
    local name=$1 dir=$tmp/$1
    shift
    front_port=$(free_port)
    mkdir -p "$dir/run" "$dir/cache"
    chmod 0755 "$dir" "$dir/run"
    # lighttpd opens its logs after dropping root.
    [ "$(id -u)" -ne 0 ] || chown www-data "$dir" "$dir/run" "$dir/cache"
    # lighttpd refuses a key twice: what conf/lighttpd.conf sets itself stays as it is.
    local kv keep=()
    for kv in "$@"; do
        grep -q "^ *\"${kv%%=*}\" =>" "$repo/conf/lighttpd.conf" || keep+=("$kv")
    done
    env_lines '                "%s" => "%s",\n' "${keep[@]}" >"$dir/env"
    sed -e "s|^server\.port = 8080|server.port = $front_port|" \
        -e "s|/run/imgfcgi/|$dir/run/|g" \
        -e "s|/usr/local/bin/imgfcgi|$bin|g" \
        -e "s|/var/log/lighttpd/|$dir/|g" \
        -e "s|/var/cache/lighttpd/|$dir/cache/|g" \
        -e "s|/run/lighttpd-imgfcgi\.pid|$dir/lighttpd.pid|g" \
        -e "/\"MALLOC_ARENA_MAX\" => \"2\",/r $dir/env" \
        "$repo/conf/lighttpd.conf" >"$dir/lighttpd.conf"
    unprivileged "$dir/lighttpd.conf" 'server\.(username|groupname)'
    grep -q "server.port = $front_port" "$dir/lighttpd.conf" || return 1
    lighttpd -tt -f "$dir/lighttpd.conf" >/dev/null
    lighttpd -D -f "$dir/lighttpd.conf" 2>>"$dir/stderr.log" &
    pids[$name]=$!
}

# unprivileged FILE ERE: when not root, deletes the lines of FILE that start with
# ERE: the user switches only root may make.
unprivileged() {
    [ "$(id -u)" -ne 0 ] || return 0
    sed -i -E "/^($2)/d" "$1"
}

# front_apache NAME ENV...: conf/apache-fcgid.conf spawning imgfcgi under /img; sets front_port.
front_apache() {
    local name=$1 dir=$tmp/$1
    shift
    front_port=$(free_port)
    mkdir -p "$dir/run/fcgid" "$dir/lib"
    chmod 0755 "$dir" "$dir/run" "$dir/lib"
    [ "$(id -u)" -ne 0 ] || chown www-data "$dir/run/fcgid"
    # The ScriptAlias target: a copy, so Apache's ExecCGI checks see a plain file.
    cp "$bin" "$dir/lib/imgfcgi"
    env_lines 'FcgidInitialEnv %s %s\n' "$@" >"$dir/env"
    sed -e "s|127\.0\.0\.1:8080|127.0.0.1:$front_port|g" \
        -e "s|/usr/local/lib/imgfcgi|$dir/lib|g" \
        -e "s|/var/log/apache2/|$dir/|g" \
        -e "s|/run/apache2-imgfcgi/|$dir/run/|g" \
        -e "/^FcgidInitialEnv MALLOC_ARENA_MAX 2/r $dir/env" \
        "$repo/conf/apache-fcgid.conf" >"$dir/apache.conf"
    unprivileged "$dir/apache.conf" 'User |Group '
    grep -q "127.0.0.1:$front_port" "$dir/apache.conf" || return 1
    apache2 -t -f "$dir/apache.conf" 2>>"$dir/stderr.log"
    apache2 -f "$dir/apache.conf" -DFOREGROUND 2>>"$dir/stderr.log" &
    pids[$name]=$!
}

# spawning_front HOST NAME ENV...: front_lighttpd or front_apache, by HOST.
spawning_front() {
    local h=$1
    shift
    case $h in
    lighttpd) front_lighttpd "$@" ;;
    apache) front_apache "$@" ;;
    esac
}

# spawning_fronts HOST: the two fronts of a host that spawns imgfcgi itself: front1
# with metrics, front2 with signatures. Sets front1_port, front2_port and pid1, pid2
# (the hosts' pids).
spawning_fronts() {
    spawning_front "$1" front1 "${common_env[@]}" "${metrics_env[@]}"
    front1_port=$front_port
    spawning_front "$1" front2 "${common_env[@]}" "${signed_env[@]}"
    front2_port=$front_port
    pid1=${pids[front1]}
    pid2=${pids[front2]}
}

case $host in
nginx)
    own_listen imgfcgi1 "${common_env[@]}" "${threaded_env[@]}" "${metrics_env[@]}"
    spawn_unix imgfcgi2 "${common_env[@]}" "${threaded_env[@]}" "${signed_env[@]}"
    front_nginx front1 nginx-keepalive.conf "$tmp/imgfcgi1.sock"
    front1_port=$front_port
    front_nginx front2 nginx.conf "$tmp/imgfcgi2.sock"
    front2_port=$front_port
    pid1=${pids[imgfcgi1]}
    pid2=${pids[imgfcgi2]}
    fcgi_sock=$tmp/imgfcgi1.sock
    # Reloads go to a front with the recommended conf/nginx.conf: with upstream
    # keepalive, an old nginx worker can exit under load with a response still
    # being sent ("open socket left in connection", nginx's own alert).
    front_nginx frontr nginx.conf "$tmp/imgfcgi1.sock"
    reload_front="http://127.0.0.1:$front_port"
    reload_cmd="nginx -p $tmp/frontr -e $tmp/frontr/error.log -c $tmp/frontr/nginx.conf -s reload"
    reload_error_log="$tmp/frontr/error.log"
    ;;
spawn-fcgi)
    pool1_port=$(free_port)
    spawn_pool 1 "$pool1_port" "${common_env[@]}" "${threaded_env[@]}" "${metrics_env[@]}"
    pool2_port=$(free_port)
    spawn_pool 2 "$pool2_port" "${common_env[@]}" "${threaded_env[@]}" "${signed_env[@]}"
    front_nginx front1 nginx-tcp.conf "127.0.0.1:$pool1_port"
    front1_port=$front_port
    front_nginx front2 nginx-tcp.conf "127.0.0.1:$pool2_port"
    front2_port=$front_port
    # The reload test stops the first child; the second must carry on alone.
    pid1=${pids[pool1-1]}
    pid2=${pids[pool2-0]}
    reload_cmd="kill -TERM ${pids[pool1-0]}"
    ;;
lighttpd)
    spawning_fronts lighttpd
    workers=1
    reload_cmd="kill -USR1 $pid1"
    ;;
apache)
    spawning_fronts apache
    prefix=/img
    workers=1
    reload_cmd="apache2 -f $tmp/front1/apache.conf -k graceful"
    ;;
esac

# --- HTTP semantics instances (caching, conditional requests, CORS, errors), behind nginx
# whatever HOST is. Every header feature on.
spawn_unix imgfcgi3 "${common_env[@]}" IMGPROXY_TTL=3600 IMGPROXY_USE_ETAG=true \
    IMGPROXY_ETAG_BUSTER=b1 IMGPROXY_USE_LAST_MODIFIED=true IMGPROXY_CACHE_CONTROL_PASSTHROUGH=true \
    IMGPROXY_SET_CANONICAL_HEADER=true IMGPROXY_ENABLE_DEBUG_HEADERS=true \
    IMGPROXY_ALLOW_ORIGIN=https://app.example IMGPROXY_DEVELOPMENT_ERRORS_MODE=true \
    IMGPROXY_HEALTH_CHECK_PATH=/healthz IMGPROXY_AUTO_WEBP=true IMGPROXY_COOKIE_PASSTHROUGH=true \
    IMGPROXY_COOKIE_BASE_URL=http://127.0.0.1/img/index.html IMGPROXY_SOURCE_URL_QUERY_SEPARATOR=
# Secret and the fallback image from a file (status 200, its own TTL); a 24 MB memory budget.
spawn_unix imgfcgi4 "${common_env[@]}" IMGPROXY_SECRET=topsecret \
    IMGPROXY_FALLBACK_IMAGE_PATH="$tmp/fallback.png" IMGPROXY_FALLBACK_IMAGE_TTL=77 \
    IMGFCGI_MEMORY_BUDGET=24M
# Fallback from base64 data with the error's status; attachments by default; ETags on;
# cookies to every origin.
spawn_unix imgfcgi5 "${common_env[@]}" IMGPROXY_FALLBACK_IMAGE_DATA="$(base64 -w0 "$tmp/fallback.png")" \
    IMGPROXY_FALLBACK_IMAGE_HTTP_CODE=0 IMGPROXY_RETURN_ATTACHMENT=true IMGPROXY_USE_ETAG=true \
    IMGPROXY_COOKIE_PASSTHROUGH=true IMGPROXY_COOKIE_PASSTHROUGH_ALL=true
# Fallback fetched from a URL at start-up, sent with status 203 and the origin's Cache-Control;
# cookies to the request's own host.
spawn_unix imgfcgi6 "${common_env[@]}" IMGPROXY_FALLBACK_IMAGE_HTTP_CODE=203 \
    IMGPROXY_CACHE_CONTROL_PASSTHROUGH=true IMGPROXY_COOKIE_PASSTHROUGH=true \
    IMGPROXY_FALLBACK_IMAGE_URL="http://127.0.0.1:$py_port/img/fallback.png?cc=max-age%3D55"
declare -A fports=()
for n in 3 4 5 6; do
    front_nginx front$n nginx.conf "$tmp/imgfcgi$n.sock"
    fports[$n]=$front_port
done
# The caching example (conf/nginx-cache.conf) in front of imgfcgi #3.
front_nginx frontcache nginx-cache.conf "$tmp/imgfcgi3.sock"
cache_port=$front_port
for n in 3 4 5 6; do
    wait_http "http://127.0.0.1:${fports[$n]}/health" 30 "${pids[front$n]}" "${pids[imgfcgi$n]}"
done
wait_http "http://127.0.0.1:$cache_port/health" 30 "${pids[frontcache]}" "${pids[imgfcgi3]}"

# The conformance instance (tests/integration/test_conformance.py): presets, a
# watermark, security options allowed, JPEG XL for clients that accept it. Host-independent, so only with nginx.
if [ "$host" = nginx ]; then
    spawn_unix imgfcgi7 "${common_env[@]}" IMGPROXY_ALLOW_SECURITY_OPTIONS=true \
        IMGPROXY_PRESETS="default=q:90,small=rs:fit:50:50,wide=rs:fit:150:0,loop=pr:loop/w:10" \
        IMGPROXY_WATERMARK_PATH="$root/wm.png" IMGPROXY_AUTO_JXL=true
    nginx_front front7 imgfcgi7
    front7_port=$front_port
    # The hostile-input suite (tests/hostile/hostile.py): imgfcgi-hx with the common
    # 3 MB source limit, imgfcgi-hxn without one; security options on (maf), memory
    # released every second so its RSS figures settle.
    hostile_env=(IMGPROXY_ALLOW_SECURITY_OPTIONS=true IMGPROXY_FREE_MEMORY_INTERVAL=1)
    spawn_unix imgfcgi-hx "${common_env[@]}" "${threaded_env[@]}" "${hostile_env[@]}"
    spawn_unix imgfcgi-hxn "${common_env[@]}" "${threaded_env[@]}" "${hostile_env[@]}" \
        IMGPROXY_MAX_SRC_FILE_SIZE=0
    nginx_front front-hx imgfcgi-hx
    hx_port=$front_port
    nginx_front front-hxn imgfcgi-hxn
    hxn_port=$front_port
    # The playground (test_playground.py): signing with #2's key, the origin as its sample origin.
    spawn_unix imgfcgi-pg "${common_env[@]}" "${threaded_env[@]}" IMGFCGI_PLAYGROUND=true \
        IMGPROXY_KEY=736563726574 IMGPROXY_SALT=68656C6C6F IMGFCGI_PLAYGROUND_ORIGIN="http://127.0.0.1:$origin_port/"
    nginx_front front-pg imgfcgi-pg
    pg_port=$front_port
    # The /info endpoint (test_info.py): signed as #2, an info preset, a 20 MB source limit.
    spawn_unix imgfcgi-info "${common_env[@]}" "${threaded_env[@]}" IMGPROXY_KEY=736563726574 \
        IMGPROXY_SALT=68656C6C6F IMGPROXY_INFO_PRESETS="stats=bh:4:3/avg:1" \
        IMGPROXY_MAX_SRC_FILE_SIZE=20000000
    nginx_front front-info imgfcgi-info
    info_port=$front_port
    # format:best and autoquality (test_bestfmt.py): debug logging shows every encode; WebP by Accept.
    spawn_unix imgfcgi-bf "${common_env[@]}" IMGFCGI_LOG_LEVEL=debug IMGPROXY_AUTO_WEBP=true
    nginx_front front-bf imgfcgi-bf
    bf_port=$front_port
    # tests/hostile/bounded.py: the default settings but for the deadline (the default memory budget).
    spawn_unix imgfcgi-bd IMGPROXY_LOCAL_FILESYSTEM_ROOT="$root" IMGFCGI_LOG_LEVEL=info \
        IMGPROXY_TIMEOUT=10
    nginx_front front-bd imgfcgi-bd
    bd_port=$front_port
fi

# Watermarks and pages (test_wm_pdf.py), nginx only: PDF sources enabled, security options on,
# debug log lines (the scale PDF pages are drawn at).
if [ "$host" = nginx ]; then
    spawn_unix imgfcgi-wp "${common_env[@]}" "${threaded_env[@]}" IMGFCGI_ENABLE_PDF=true \
        IMGPROXY_ALLOW_SECURITY_OPTIONS=true IMGFCGI_LOG_LEVEL=debug
    nginx_front front-wp imgfcgi-wp
    wp_port=$front_port
    # imgfcgi-wp2: PDF pages without a background; sources and watermark_url relative to the
    # origin (IMGPROXY_BASE_URL), wm:// replaced by it.
    spawn_unix imgfcgi-wp2 "${common_env[@]}" IMGFCGI_ENABLE_PDF=true IMGPROXY_PDF_NO_BACKGROUND=true \
        IMGPROXY_BASE_URL="http://127.0.0.1:$origin_port/" IMGPROXY_WATERMARK_PREPROCESS_URL=true \
        IMGPROXY_URL_REPLACEMENTS="wm://=http://127.0.0.1:$origin_port/"
    nginx_front front-wp2 imgfcgi-wp2
    wp2_port=$front_port
fi

# The source-address guard (tests/integration/test_ssrf.py), nginx host only:
# #8 imgproxy's defaults but loopback (link-local off, private on),
# IMGPROXY_ALLOWED_SOURCES and a 1 MB SVG cap; #9 loopback, link-local and
# private all off (direct requests); #10 loopback on, link-local and private
# off (redirects from the loopback origin to every other class). Every origin
# is on loopback: refused classes are refused before any connect.
if [ "$host" = nginx ]; then
    spawn_unix imgfcgi8 "${common_env[@]}" IMGPROXY_ALLOWED_SOURCES="http://127.0.0.1:*/,local:///" \
        IMGFCGI_MAX_SVG_FILE_SIZE=1000000
    spawn_unix imgfcgi9 "${common_env[@]}" IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES=false \
        IMGPROXY_ALLOW_LINK_LOCAL_SOURCE_ADDRESSES=false IMGPROXY_ALLOW_PRIVATE_SOURCE_ADDRESSES=false
    spawn_unix imgfcgi10 "${common_env[@]}" \
        IMGPROXY_ALLOW_LINK_LOCAL_SOURCE_ADDRESSES=false IMGPROXY_ALLOW_PRIVATE_SOURCE_ADDRESSES=false
    for n in 8 9 10; do
        nginx_front "front$n" "imgfcgi$n"
        fports[$n]=$front_port
    done
fi

# Pro sources and chains (test_pro_sources.py), nginx only: the documented /enc/ key,
# at most 3 chained pipelines, private addresses refused (for fallback_image_url).
if [ "$host" = nginx ]; then
    spawn_unix imgfcgi-ps "${common_env[@]}" "${threaded_env[@]}" \
        IMGPROXY_SOURCE_URL_ENCRYPTION_KEY=1eb5b0e971ad7f45324c1bb15c947cb207c43152fa5c6c7f35c4f36e0c18e0f1 \
        IMGPROXY_MAX_CHAINED_PIPELINES=3 IMGPROXY_ALLOW_PRIVATE_SOURCE_ADDRESSES=false \
        IMGPROXY_FALLBACK_IMAGES_CACHE_SIZE=8
    nginx_front front-ps imgfcgi-ps
    ps_port=$front_port
fi

# abs:// and gs:// (test_storage_cloud.py), nginx host only: Azurite (tests/storage/azurite,
# Shared Key checked) and the GCS stub (tests/storage/gcs_stub.py, RS256 JWTs checked against
# a key pair made here) on loopback; imgfcgi-cloud (ETag and Last-Modified on, so gs:// reads
# metadata first), imgfcgi-cloudplain (both off) and imgfcgi-cloudbad (a wrong account key,
# a service-account key the stub does not know).
if [ "$host" = nginx ]; then
    mkdir -p "$tmp/gcs" "$tmp/azurite"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/gcs-key.pem" 2>/dev/null
    openssl pkey -in "$tmp/gcs-key.pem" -pubout -out "$tmp/gcs-pub.pem"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/gcs-other.pem" 2>/dev/null
    gcs_port=$(free_port)
    python3 "$repo/tests/storage/gcs_stub.py" "$gcs_port" "$tmp/gcs" "$tmp/gcs-pub.pem" \
        >>"$tmp/gcs-stub.log" 2>&1 &
    pids[gcs]=$!
    wait_http "http://127.0.0.1:$gcs_port/_stats" 20 "${pids[gcs]}"
    # gcs_key PEM: the JSON text of a service-account key whose tokens come from the stub.
    gcs_key() {
        python3 -c 'import json, sys; print(json.dumps({"type": "service_account",
            "client_email": "imgfcgi-test@example.iam.gserviceaccount.com", "private_key_id": "k1",
            "private_key": open(sys.argv[1]).read(), "token_uri": sys.argv[2]}))' "$1" \
            "http://127.0.0.1:$gcs_port/token"
    }
    az_port=$(free_port)
    az_bin=$repo/tests/storage/azurite/node_modules/.bin/azurite-blob
    if [ -x "$az_bin" ]; then
        "$az_bin" --blobHost 127.0.0.1 --blobPort "$az_port" -l "$tmp/azurite" --disableTelemetry \
            --skipApiVersionCheck >>"$tmp/azurite.log" 2>&1 &
        pids[azurite]=$!
        for ((i = 0; i < 150; i++)); do
            python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
                "$az_port" 2>/dev/null && break
            pid_alive "${pids[azurite]}" || break
            sleep 0.2
        done
    fi
    az_key=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
    cloud_env=(IMGPROXY_USE_ABS=true IMGPROXY_ABS_NAME=devstoreaccount1
        IMGPROXY_ABS_ENDPOINT="http://127.0.0.1:$az_port/devstoreaccount1" IMGPROXY_USE_GCS=true
        IMGPROXY_GCS_ENDPOINT="http://127.0.0.1:$gcs_port/storage/v1/" IMGFCGI_METRICS_PATH=/metrics
        IMGPROXY_WORKERS=4)
    spawn_unix imgfcgi-cloud "${common_env[@]}" "${cloud_env[@]}" IMGPROXY_ABS_KEY="$az_key" \
        IMGPROXY_GCS_KEY="$(gcs_key "$tmp/gcs-key.pem")" IMGPROXY_USE_ETAG=true \
        IMGPROXY_USE_LAST_MODIFIED=true
    spawn_unix imgfcgi-cloudplain "${common_env[@]}" "${cloud_env[@]}" IMGPROXY_ABS_KEY="$az_key" \
        IMGPROXY_GCS_KEY="$(gcs_key "$tmp/gcs-key.pem")"
    spawn_unix imgfcgi-cloudbad "${common_env[@]}" "${cloud_env[@]}" \
        IMGPROXY_ABS_KEY="$(head -c 64 /dev/zero | base64 -w0)" \
        IMGPROXY_GCS_KEY="$(gcs_key "$tmp/gcs-other.pem")"
    for n in cloud cloudplain cloudbad; do
        nginx_front "front-$n" "imgfcgi-$n"
        fports[$n]=$front_port
    done
fi

# Object stores (test_storage.py), nginx host only: a one-replica OpenStack Swift on
# loopback (tests/storage/swift.sh; s3api checks SigV4, tempauth serves v1 tokens) seeded
# with fixtures; imgfcgi-st reads s3:// and swift:// from it, imgfcgi-stbad the same with a
# wrong S3 secret and Swift key.
if [ "$host" = nginx ]; then
    seed=$tmp/storage-seed
    mkdir -p "$seed"
    cp -p "$root/photo.jpg" "$root/my photo@2x.jpg" "$seed/"
    for i in $(seq -w 0 19); do cp -p "$root/photo.jpg" "$seed/obj$i.jpg"; done
    # 6 MB (over the instance's 5 MB limit) and a 64 MP PNG header followed by 4 MB.
    { cat "$root/photo.jpg"; head -c 6000000 /dev/zero; } >"$seed/padded.jpg"
    { cat "$root/big.png"; head -c 4000000 /dev/zero; } >"$seed/bigpad.png"
    swift_dir=$tmp/swift
    swift_port=$(free_port)
    "$repo/tests/storage/swift.sh" start "$swift_dir" "$swift_port" "$seed"/*
    # A key with slashes.
    mkdir -p "$seed/sub/dir"
    cp -p "$root/photo.jpg" "$seed/sub/dir/photo.jpg"
    "$repo/tests/storage/swift.sh" put "$swift_dir" "$swift_port" "$seed/sub/dir/photo.jpg" \
        sub/dir/photo.jpg
    # An object stored gzipped, with Content-Encoding: gzip kept as its metadata.
    gzip -9 -c "$root/photo.jpg" >"$seed/gz.jpg"
    "$repo/tests/storage/swift.sh" put "$swift_dir" "$swift_port" "$seed/gz.jpg" gz.jpg \
        "Content-Encoding: gzip"
    storage_env=(IMGPROXY_USE_S3=true IMGPROXY_S3_ENDPOINT="http://127.0.0.1:$swift_port"
        IMGPROXY_S3_REGION=us-east-1 AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing
        IMGPROXY_USE_SWIFT=true IMGPROXY_SWIFT_AUTH_URL="http://127.0.0.1:$swift_port/auth/v1.0"
        IMGPROXY_SWIFT_USERNAME=test:tester IMGPROXY_SWIFT_API_KEY=testing
        IMGPROXY_USE_ETAG=true IMGPROXY_USE_LAST_MODIFIED=true IMGFCGI_METRICS_PATH=/metrics
        IMGPROXY_MAX_SRC_FILE_SIZE=5000000 IMGPROXY_WORKERS=8)
    spawn_unix imgfcgi-st "${common_env[@]}" "${storage_env[@]}"
    spawn_unix imgfcgi-stbad "${common_env[@]}" "${storage_env[@]}" AWS_SECRET_ACCESS_KEY=wrong \
        IMGPROXY_SWIFT_API_KEY=wrong
    nginx_front front-st imgfcgi-st
    st_port=$front_port
    nginx_front front-stbad imgfcgi-stbad
    stbad_port=$front_port
    # Keystone v3 and v2.0 (tests/storage/keystone_stub.py) handing out the Swift's own
    # tokens: imgfcgi-stv3 and imgfcgi-stv2 authenticate there.
    ks_port=$(free_port)
    python3 "$repo/tests/storage/keystone_stub.py" "$ks_port" "$swift_port" \
        "$tmp/keystone-requests.log" >>"$tmp/keystone.log" 2>&1 &
    pids[keystone]=$!
    wait_http "http://127.0.0.1:$ks_port/" 20 "${pids[keystone]}"
    spawn_unix imgfcgi-stv3 "${common_env[@]}" "${storage_env[@]}" \
        IMGPROXY_SWIFT_AUTH_URL="http://127.0.0.1:$ks_port/v3" IMGPROXY_SWIFT_DOMAIN=Default \
        IMGPROXY_SWIFT_TENANT=test
    spawn_unix imgfcgi-stv2 "${common_env[@]}" "${storage_env[@]}" \
        IMGPROXY_SWIFT_AUTH_URL="http://127.0.0.1:$ks_port/v2.0" IMGPROXY_SWIFT_TENANT=test
    nginx_front front-stv3 imgfcgi-stv3
    stv3_port=$front_port
    nginx_front front-stv2 imgfcgi-stv2
    stv2_port=$front_port
fi

# Deadlines and backpressure (test_deadline.py, tests/hostile/overload.py), nginx only:
# imgfcgi-dl: one worker, a 1 s deadline, a queue of one; imgfcgi-q: two workers, a queue of two.
if [ "$host" = nginx ]; then
    spawn_unix imgfcgi-dl "${common_env[@]}" IMGPROXY_WORKERS=1 IMGPROXY_TIMEOUT=1 \
        IMGPROXY_REQUESTS_QUEUE_SIZE=1
    spawn_unix imgfcgi-q "${common_env[@]}" IMGPROXY_WORKERS=2 IMGPROXY_REQUESTS_QUEUE_SIZE=2 \
        IMGPROXY_TIMEOUT=10
    nginx_front front-dl imgfcgi-dl
    dl_port=$front_port
    nginx_front front-q imgfcgi-q
    q_port=$front_port
fi

wait_http "http://127.0.0.1:$front1_port$prefix/health" 30 "${pids[front1]}" "$pid1"
wait_http "http://127.0.0.1:$front2_port$prefix/health" 30 "${pids[front2]}" "$pid2"

# URLs built by imgproxy's Node client (node needs no network for that).
if [ "$host" = nginx ] && command -v node >/dev/null &&
    [ -d "$repo/tests/clients/node_modules/@imgproxy/imgproxy-node" ]; then
    node "$repo/tests/clients/cases.mjs" >"$tmp/client-cases.json" || rm -f "$tmp/client-cases.json"
fi

# --- the suite -------------------------------------------------------------
set +e
it_env=(
    IT_FRONT="http://127.0.0.1:$front1_port"
    IT_SIGNED_FRONT="http://127.0.0.1:$front2_port"
    IT_ORIGIN="http://127.0.0.1:$origin_port"
    IT_ORIGIN_LOG="$tmp/origin-access.log"
    IT_ROOT="$root"
    IT_PID="$pid1"
    IT_SIGNED_PID="$pid2"
    IT_HOST="$host"
    IT_PREFIX="$prefix"
    IT_WORKERS="$workers"
    IT_FCGI_SOCK="$fcgi_sock"
    IT_RELOAD_CMD="$reload_cmd"
    IT_RELOAD_FRONT="$reload_front"
    IT_RELOAD_ERROR_LOG="$reload_error_log"
    IT_KEY=736563726574 IT_SALT=68656C6C6F
    IT_PYORIGIN="http://127.0.0.1:$py_port"
    IT_PYORIGIN_LOG="$tmp/pyorigin-requests.log"
    IT_HTTP_FRONT="http://127.0.0.1:${fports[3]}"
    IT_SECRET_FRONT="http://127.0.0.1:${fports[4]}"
    IT_DATA_FRONT="http://127.0.0.1:${fports[5]}"
    IT_URL_FRONT="http://127.0.0.1:${fports[6]}"
    IT_CACHE_FRONT="http://127.0.0.1:$cache_port"
    IT_HTTP_LOG="$tmp/imgfcgi3.log"
    IT_FALLBACK="$tmp/fallback.png"
    IT_RESULT="$tmp/result"
    IT_ASAN="$asan"
    IT_LOAD_REQUESTS="${IMGFCGI_LOAD_REQUESTS:-1000}"
)
env "${it_env[@]}" python3 "$here/test_http.py" "$@"
status=$?
# The conformance suite and the Node client's URLs (host-independent: nginx only).
if [ "$host" = nginx ]; then
    env "${it_env[@]}" IT_CONF_FRONT="http://127.0.0.1:$front7_port" \
        IT_CONF_RESULT="$tmp/result-conformance" IT_CLIENT_CASES="$tmp/client-cases.json" \
        python3 "$here/test_conformance.py" "$@" || status=1
    env "${it_env[@]}" IT_BF_FRONT="http://127.0.0.1:$bf_port" IT_BF_LOG="$tmp/imgfcgi-bf.log" \
        IT_BF_RESULT="$tmp/result-bestfmt" python3 "$here/test_bestfmt.py" "$@" || status=1
    # Colour management against LittleCMS, on the conformance instance (maf allowed).
    env "${it_env[@]}" IT_COLOUR_FRONT="http://127.0.0.1:$front7_port" \
        IT_COLOUR_RESULT="$tmp/result-colour" python3 "$here/test_colour.py" "$@" || status=1
    # Colour adjustments, filters, geometry and encoder options, measured (maf allowed).
    env "${it_env[@]}" IT_FILTERS_FRONT="http://127.0.0.1:$front7_port" \
        IT_FILTERS_RESULT="$tmp/result-filters" python3 "$here/test_filters.py" "$@" || status=1
    env "${it_env[@]}" IT_SSRF_RESULT="$tmp/result-ssrf" \
        IT_SSRF_DEFAULT_FRONT="http://127.0.0.1:${fports[8]}" \
        IT_SSRF_STRICT_FRONT="http://127.0.0.1:${fports[9]}" \
        IT_SSRF_NOPRIV_FRONT="http://127.0.0.1:${fports[10]}" \
        IT_SSRF_DEFAULT_LOG="$tmp/imgfcgi8.log" IT_SSRF_STRICT_LOG="$tmp/imgfcgi9.log" \
        IT_SSRF_NOPRIV_LOG="$tmp/imgfcgi10.log" \
        IT_SSRF_DEFAULT_PID="${pids[imgfcgi8]}" python3 "$here/test_ssrf.py" "$@" || status=1
    env "${it_env[@]}" IT_PS_FRONT="http://127.0.0.1:$ps_port" IT_PS_LOG="$tmp/imgfcgi-ps.log" \
        IT_PS_PID="${pids[imgfcgi-ps]}" IT_PS_RESULT="$tmp/result-pro-sources" \
        python3 "$here/test_pro_sources.py" "$@" || status=1
    env "${it_env[@]}" IT_STORAGE_RESULT="$tmp/result-storage" \
        IT_STORAGE_FRONT="http://127.0.0.1:$st_port" IT_STORAGE_LOG="$tmp/imgfcgi-st.log" \
        IT_STORAGE_PID="${pids[imgfcgi-st]}" IT_STORAGE_BAD_FRONT="http://127.0.0.1:$stbad_port" \
        IT_STORAGE_BAD_LOG="$tmp/imgfcgi-stbad.log" IT_STORAGE_V3_FRONT="http://127.0.0.1:$stv3_port" \
        IT_STORAGE_V2_FRONT="http://127.0.0.1:$stv2_port" \
        IT_KEYSTONE_LOG="$tmp/keystone-requests.log" IT_SWIFT_DIR="$swift_dir" \
        python3 "$here/test_storage.py" "$@" || status=1
    env "${it_env[@]}" IT_CLOUD_RESULT="$tmp/result-cloud" IT_AZURITE="http://127.0.0.1:$az_port" \
        IT_AZURITE_UP="$([ -n "${pids[azurite]:-}" ] && echo 1 || echo 0)" \
        IT_GCS_STUB="http://127.0.0.1:$gcs_port" IT_GCS_DIR="$tmp/gcs" \
        IT_CLOUD_FRONT="http://127.0.0.1:${fports[cloud]}" IT_CLOUD_LOG="$tmp/imgfcgi-cloud.log" \
        IT_CLOUDPLAIN_FRONT="http://127.0.0.1:${fports[cloudplain]}" \
        IT_CLOUDPLAIN_LOG="$tmp/imgfcgi-cloudplain.log" \
        IT_CLOUDBAD_FRONT="http://127.0.0.1:${fports[cloudbad]}" \
        IT_CLOUDBAD_LOG="$tmp/imgfcgi-cloudbad.log" python3 "$here/test_storage_cloud.py" "$@" ||
        status=1
    # Per-request watermarks, pages and PDF sources.
    env "${it_env[@]}" IT_WP_FRONT="http://127.0.0.1:$wp_port" IT_WP_LOG="$tmp/imgfcgi-wp.log" \
        IT_WP_PID="${pids[imgfcgi-wp]}" IT_WP_RESULT="$tmp/result-wm-pdf" \
        IT_WP2_FRONT="http://127.0.0.1:$wp2_port" IT_WP2_LOG="$tmp/imgfcgi-wp2.log" \
        IT_WP_ALLOWED_FRONT="http://127.0.0.1:${fports[8]}" IT_WP_ALLOWED_LOG="$tmp/imgfcgi8.log" \
        python3 "$here/test_wm_pdf.py" "$@" || status=1
    # Deadlines, the queue, client aborts, SIGTERM and EMFILE; then 60 s of overload
    # (ASan's quarantine alone keeps up to 256 MB of freed memory: a wider RSS bound there).
    env "${it_env[@]}" IT_DL_FRONT="http://127.0.0.1:$dl_port" IT_DL_LOG="$tmp/imgfcgi-dl.log" \
        IT_DL_PID="${pids[imgfcgi-dl]}" IT_Q_FRONT="http://127.0.0.1:$q_port" \
        IT_Q_LOG="$tmp/imgfcgi-q.log" IT_Q_PID="${pids[imgfcgi-q]}" IT_BIN="$bin" \
        IT_DL_RESULT="$tmp/result-deadline" python3 "$here/test_deadline.py" "$@" || status=1
    if [ $# -eq 0 ] || [[ " $* " == *" overload "* ]]; then
        OVERLOAD_FRONT="http://127.0.0.1:$q_port" OVERLOAD_PID="${pids[imgfcgi-q]}" \
            OVERLOAD_WORKERS=2 OVERLOAD_RSS_MAX_MB="$([ "$asan" = 1 ] && echo 1024 || echo 256)" \
            OVERLOAD_RESULT="$tmp/result-overload" \
            python3 "$repo/tests/hostile/overload.py" || status=1
    fi
    # The /info endpoint against vipsheader, and its early stop on a slow origin.
    env "${it_env[@]}" IT_INFO_FRONT="http://127.0.0.1:$info_port" \
        IT_INFO_RESULT="$tmp/result-info" python3 "$here/test_info.py" "$@" || status=1
    # The playground in headless Chromium; Debian's python3 has python3-selenium.
    env "${it_env[@]}" IT_PG_FRONT="http://127.0.0.1:$pg_port" IT_PG_PID="${pids[imgfcgi-pg]}" \
        IT_PG_RESULT="$tmp/result-playground" IT_PG_SCREENSHOT="$tmp/playground.png" \
        /usr/bin/python3 "$here/test_playground.py" "$@" || status=1
    # The hostile-input suite (tests/hostile/hostile.py) on imgfcgi-hx and imgfcgi-hxn.
    env HX_FRONT="http://127.0.0.1:$hx_port" HX_PID="${pids[imgfcgi-hx]}" \
        HX_NOLIMIT_FRONT="http://127.0.0.1:$hxn_port" HX_NOLIMIT_PID="${pids[imgfcgi-hxn]}" \
        HX_ORIGIN="http://127.0.0.1:$origin_port" HX_PYORIGIN="http://127.0.0.1:$py_port" \
        HX_ROOT="$root" HX_RESULT="$tmp/result-hostile" HX_ASAN="$asan" \
        HX_PDF_FRONT="http://127.0.0.1:$wp_port" HX_PDF_PID="${pids[imgfcgi-wp]}" \
        HX_MAX_SRC_FILE_SIZE=3000000 HX_DOWNLOAD_TIMEOUT=2 HX_TRACE_RSS="${HX_TRACE_RSS:-0}" \
        python3 "$repo/tests/hostile/hostile.py" "$@" || status=1
    if [ $# -eq 0 ] || [[ " $* " == *" bounded "* ]]; then
        BD_FRONT="http://127.0.0.1:$bd_port" BD_PID="${pids[imgfcgi-bd]}" \
            BD_LOG="$tmp/imgfcgi-bd.log" BD_ROOT="$root" BD_TIMEOUT=10 \
            BD_RESULT="$tmp/result-bounded" python3 "$repo/tests/hostile/bounded.py" || status=1
    fi
fi
set -e
exit "$status"
