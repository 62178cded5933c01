#!/bin/bash
# run.sh: build imgfcgi and serve the sample images behind nginx on http://127.0.0.1:8080/.
#
# As root it first installs the missing Debian packages (scripts/deps.sh);
# otherwise it lists them and stops. Then: make, imgfcgi through spawn.sh on
# a unix socket in build/run/, nginx with a private copy of conf/nginx.conf,
# a /health check, and it stays in the foreground until Ctrl-C or SIGTERM,
# stopping both on the way out.
#
# Environment: IMGFCGI_HTTP_PORT (default 8080); every IMGPROXY_* / IMGFCGI_*
# setting passes through to imgfcgi (see conf/env.example). The local://
# source root defaults to tests/fixtures.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
# shellcheck source=scripts/nginx.sh
. scripts/nginx.sh

deps_ensure
# The health check and imgfcgi's loopback fetches must not go through a proxy.
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
make -j"$(nproc 2>/dev/null || echo 2)"

port=${IMGFCGI_HTTP_PORT:-8080}
rundir=$here/build/run
sock=$rundir/imgfcgi.sock
mkdir -p "$rundir"
chmod 0755 "$rundir"
export IMGPROXY_LOCAL_FILESYSTEM_ROOT=${IMGPROXY_LOCAL_FILESYSTEM_ROOT:-$here/tests/fixtures}
# The playground and live memory view at / (docs/playground.md); IMGFCGI_PLAYGROUND=false turns it off.
export IMGFCGI_PLAYGROUND=${IMGFCGI_PLAYGROUND:-true}

# As root nginx's workers run as www-data: hand it the socket, if it can reach
# the run dir at all (a checkout under /root cannot); else the workers stay root.
spawn_owner=()
nginx_user=www-data
if [ "$(id -u)" -eq 0 ]; then
    if runuser -u www-data -- test -x "$rundir" 2>/dev/null; then
        spawn_owner=(-U www-data)
    else
        echo "run.sh: www-data cannot reach $rundir; nginx workers will run as root"
        nginx_user=root
    fi
fi

imgfcgi_pid=""
nginx_pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    set +e
    trap - INT TERM
    if [ -n "$nginx_pid" ]; then
        stop_pid "$nginx_pid" 10
    fi
    if [ -n "$imgfcgi_pid" ]; then
        stop_pid "$imgfcgi_pid" 30
    fi
    rm -f "$sock"
    echo "run.sh: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

./spawn.sh -n -s "$sock" -M 0660 "${spawn_owner[@]}" &
imgfcgi_pid=$!
wait_socket "$sock" 20

nginx_private_conf conf/nginx.conf "$rundir" "$port" "$sock" "$nginx_user"
nginx_start "$rundir"
nginx_pid=$NGINX_PID

base="http://127.0.0.1:$port"
if ! wait_http "$base/health" 20 "$imgfcgi_pid" "$nginx_pid"; then
    echo "run.sh: imgfcgi or nginx did not come up; see $rundir/error.log" >&2
    tail -n 20 "$rundir/error.log" >&2 || true
    exit 1
fi

cat <<EOF

imgfcgi is running behind nginx on $base/
  playground: $base/ (IMGFCGI_PLAYGROUND=$IMGFCGI_PLAYGROUND), memory view: $base/memory
  health:     $base/health
  fit 300:    $base/insecure/rs:fit:300:300/plain/local:///photo.jpg
  as WebP:    $base/insecure/rs:fill:300:200/g:sm/plain/local:///photo.jpg@webp
  as AVIF:    $base/insecure/rs:fit:400:400/plain/local:///alpha.png@avif
  EXIF-rotated: $base/insecure/w:300/plain/local:///orientation-6.jpg
  try:        curl -s -o /tmp/out.jpg -w '%{http_code} %{content_type}\\n' \\
                $base/insecure/rs:fit:300:300/plain/local:///photo.jpg
local:// root: $IMGPROXY_LOCAL_FILESYSTEM_ROOT
logs: imgfcgi on this terminal; nginx in $rundir/error.log and $rundir/imgfcgi-access.log
Ctrl-C stops both.
EOF

# Until a signal arrives (the traps exit) or one of the two dies.
set +e
wait -n "$imgfcgi_pid" "$nginx_pid"
echo "run.sh: imgfcgi or nginx exited unexpectedly" >&2
exit 1
