#!/bin/bash
# spawn.sh: starts imgfcgi under spawn-fcgi on a unix socket or a TCP address.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: spawn.sh [options]

Starts imgfcgi as a FastCGI application under spawn-fcgi. spawn-fcgi creates
the listen socket and hands it to imgfcgi as fd 0.

Socket (a unix socket unless a TCP port is given):
  -s PATH    unix socket path              [IMGFCGI_SOCKET, /run/imgfcgi/imgfcgi.sock]
             (its directory is created if missing)
  -M MODE    octal socket mode             [IMGFCGI_SOCKET_MODE, 0660]
  -U USER    socket owner (root only)      [IMGFCGI_SOCKET_USER]
  -G GROUP   socket group (root only)      [IMGFCGI_SOCKET_GROUP]
  -a ADDR    TCP address                   [IMGFCGI_ADDR, 127.0.0.1]
  -p PORT    TCP port; selects TCP mode    [IMGFCGI_PORT]
  -b N       listen backlog                [IMGFCGI_BACKLOG, 1024]

Process:
  -F N       imgfcgi processes to fork     [IMGFCGI_CHILDREN, 1]
  -u USER    run imgfcgi as USER (root only) [IMGFCGI_USER]
  -g GROUP   run imgfcgi as GROUP (root only) [IMGFCGI_GROUP]
  -P FILE    write the pid(s) to FILE      [IMGFCGI_PIDFILE]
  -n         stay in the foreground: spawn-fcgi and then imgfcgi replace this
             script (same pid; -F is ignored); for systemd, runit, tests
  -h, --help this text

Binary: $IMGFCGI_BIN, else build/imgfcgi next to this script, else imgfcgi
in PATH.

Environment: every variable (all IMGPROXY_* and IMGFCGI_* settings, see
conf/env.example or `imgfcgi --print-env`) passes through to imgfcgi.
spawn.sh also sets:
  MALLOC_ARENA_MAX=2 unless already set (fewer glibc arenas, less memory);
                     MALLOC_ARENA_MAX=default unsets it: glibc's own limit
                     (8 x cores), for comparisons.
  G_SLICE=always-malloc unless already set (GLib's slice allocator would keep
                     freed libvips objects); G_SLICE=default unsets it.
  IMGPROXY_MALLOC    malloc (default): glibc's allocator;
                     jemalloc: LD_PRELOAD libjemalloc.so.2 (package libjemalloc2),
                               MALLOC_CONF=narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0
                               unless MALLOC_CONF is set;
                     tcmalloc: LD_PRELOAD libtcmalloc_minimal.so.4
                               (package libtcmalloc-minimal4);
                     anything else is an error.
  (Do not preload an allocator into an ASan build.)
  RLIMIT_NICE 20 (ulimit -e) when it may raise it (as root; it survives -u):
                     with IMGFCGI_MEMORY_BUDGET, big requests' threads run
                     niced and return to nice 0, which needs it (src/cpugate.h).

Examples:
  spawn.sh -s /run/imgfcgi/imgfcgi.sock -U www-data -u imgfcgi -n
  IMGPROXY_MALLOC=jemalloc spawn.sh -a 127.0.0.1 -p 9000 -F 2 -P /run/imgfcgi.pid
EOF
}

die() {
    echo "spawn.sh: $*" >&2
    exit 1
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

socket=${IMGFCGI_SOCKET:-/run/imgfcgi/imgfcgi.sock}
mode=${IMGFCGI_SOCKET_MODE:-0660}
sock_user=${IMGFCGI_SOCKET_USER:-}
sock_group=${IMGFCGI_SOCKET_GROUP:-}
addr=${IMGFCGI_ADDR:-127.0.0.1}
port=${IMGFCGI_PORT:-}
backlog=${IMGFCGI_BACKLOG:-1024}
children=${IMGFCGI_CHILDREN:-1}
run_user=${IMGFCGI_USER:-}
run_group=${IMGFCGI_GROUP:-}
pidfile=${IMGFCGI_PIDFILE:-}
foreground=0

if [ "${1:-}" = "--help" ]; then
    usage
    exit 0
fi
while getopts ":s:M:U:G:a:p:b:F:u:g:P:nh" opt; do
    case $opt in
    s) socket=$OPTARG ;;
    M) mode=$OPTARG ;;
    U) sock_user=$OPTARG ;;
    G) sock_group=$OPTARG ;;
    a) addr=$OPTARG ;;
    p) port=$OPTARG ;;
    b) backlog=$OPTARG ;;
    F) children=$OPTARG ;;
    u) run_user=$OPTARG ;;
    g) run_group=$OPTARG ;;
    P) pidfile=$OPTARG ;;
    n) foreground=1 ;;
    h)
        usage
        exit 0
        ;;
    :) die "option -$OPTARG needs a value (see --help)" ;;
    *) die "unknown option -$OPTARG (see --help)" ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || die "unexpected argument: $1 (see --help)"

[[ $mode =~ ^[0-7]{3,4}$ ]] || die "socket mode must be octal, got '$mode'"
[[ $children =~ ^[1-9][0-9]*$ ]] || die "-F needs a positive number, got '$children'"
[[ $backlog =~ ^[1-9][0-9]*$ ]] || die "-b needs a positive number, got '$backlog'"
if [ -n "$port" ]; then
    if ! [[ $port =~ ^[0-9]{1,5}$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
        die "port must be 1..65535, got '$port'"
    fi
fi

command -v spawn-fcgi >/dev/null || die "spawn-fcgi not found (Debian package spawn-fcgi)"

if [ -n "${IMGFCGI_BIN:-}" ]; then
    bin=$IMGFCGI_BIN
elif [ -x "$here/build/imgfcgi" ]; then
    bin=$here/build/imgfcgi
elif command -v imgfcgi >/dev/null; then
    bin=$(command -v imgfcgi)
else
    die "no imgfcgi binary: run make, install it, or set IMGFCGI_BIN"
fi
[ -x "$bin" ] || die "$bin is not an executable file"

# The directory of the multiarch libraries (x86_64-linux-gnu, aarch64-linux-gnu...).
multiarch_dir() {
    local ma=""
    if command -v dpkg-architecture >/dev/null; then
        ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
    fi
    if [ -z "$ma" ] && command -v gcc >/dev/null; then
        ma=$(gcc -print-multiarch 2>/dev/null || true)
    fi
    if [ -z "$ma" ]; then
        ma="$(uname -m)-linux-gnu"
    fi
    echo "/usr/lib/$ma"
}

# Prints the path of the shared library $1, looked up in the usual places.
find_lib() {
    local name=$1 dir
    for dir in "$(multiarch_dir)" /usr/lib /usr/local/lib /usr/lib64; do
        if [ -e "$dir/$name" ]; then
            echo "$dir/$name"
            return 0
        fi
    done
    return 1
}

if [ "${MALLOC_ARENA_MAX:-}" = default ]; then
    unset MALLOC_ARENA_MAX
else
    export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
fi
# GLib 2.74's slice allocator keeps what a burst of GObjects freed (an animation
# with thousands of frames makes such a burst); malloc gives it back. Read before
# main(), so set here.
if [ "${G_SLICE:-}" = default ]; then
    unset G_SLICE
else
    export G_SLICE=${G_SLICE:-always-malloc}
fi
export IMGPROXY_MALLOC=${IMGPROXY_MALLOC:-malloc}
case $IMGPROXY_MALLOC in
malloc) ;;
jemalloc)
    lib=$(find_lib libjemalloc.so.2) ||
        die "IMGPROXY_MALLOC=jemalloc but libjemalloc.so.2 is missing (apt-get install libjemalloc2)"
    export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib"
    # Memory over speed (jemalloc TUNING.md): arenas = cores, dirty pages
    # purged after 1 s. imgfcgi turns on jemalloc's background thread itself.
    export MALLOC_CONF=${MALLOC_CONF:-narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0}
    ;;
tcmalloc)
    lib=$(find_lib libtcmalloc_minimal.so.4) ||
        die "IMGPROXY_MALLOC=tcmalloc but libtcmalloc_minimal.so.4 is missing (apt-get install libtcmalloc-minimal4)"
    export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib"
    ;;
*) die "unknown IMGPROXY_MALLOC '$IMGPROXY_MALLOC' (malloc, jemalloc or tcmalloc)" ;;
esac

# Lets imgfcgi bring a thread's nice value back to 0 after a big request's
# strip (src/cpugate.h); harmless where it cannot be raised.
ulimit -S -e 20 2>/dev/null || ulimit -e 20 2>/dev/null || true

args=(-b "$backlog")
if [ -n "$port" ]; then
    args+=(-a "$addr" -p "$port")
    where="$addr:$port"
else
    sockdir=$(dirname "$socket")
    if [ ! -d "$sockdir" ]; then
        # 0755 so that the web server's user can reach a socket owned by it.
        if ! mkdir -p "$sockdir" || ! chmod 0755 "$sockdir"; then
            die "cannot create $sockdir"
        fi
    fi
    args+=(-s "$socket" -M "$mode")
    [ -z "$sock_user" ] || args+=(-U "$sock_user")
    [ -z "$sock_group" ] || args+=(-G "$sock_group")
    where="unix:$socket"
fi
[ -z "$run_user" ] || args+=(-u "$run_user")
[ -z "$run_group" ] || args+=(-g "$run_group")

if [ "$foreground" -eq 1 ]; then
    # exec keeps this pid through spawn-fcgi into imgfcgi, so it can be written now.
    if [ -n "$pidfile" ]; then
        echo $$ >"$pidfile" || die "cannot write $pidfile"
    fi
    echo "spawn.sh: imgfcgi ($bin) on $where, pid $$, malloc $IMGPROXY_MALLOC" >&2
    exec spawn-fcgi -n "${args[@]}" -- "$bin"
fi

args+=(-F "$children")
[ -z "$pidfile" ] || args+=(-P "$pidfile")
echo "spawn.sh: imgfcgi ($bin) on $where, $children process(es), malloc $IMGPROXY_MALLOC" >&2
exec spawn-fcgi "${args[@]}" -- "$bin"
