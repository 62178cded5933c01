#!/usr/bin/env python3
"""test_ssrf.py: the source-address guard, IMGPROXY_ALLOWED_SOURCES and limits before work.

Started by run.sh (nginx host) against two imgfcgi instances, each behind its
own nginx (conf/nginx.conf):
  DEFAULT  imgproxy's defaults except loopback allowed (it fetches from the
           loopback origin): link-local refused, private allowed;
           IMGPROXY_ALLOWED_SOURCES="http://127.0.0.1:*/,local:///"
  STRICT   loopback, link-local and private all refused (direct requests)
  NOPRIV   loopback allowed, link-local and private refused: real redirects
           from the loopback origin to every other class
Every origin is on 127.0.0.1 (the suite's traffic stays on loopback), so a
redirect *to* loopback from an allowed non-loopback origin is not tested
here: STRICT refuses every loopback spelling directly, and the guard judges
each socket the same way whatever led to it (tests/unit/test_netguard.c).

Every refused case asserts the 404, the guard's log line for that request
id, and, where something listens at the refused address, that no
connection arrived there. Prints one line per failure and "N passed, N failed".
"""
import json
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, expect_image  # noqa: E402

DEFAULT, DEFAULT_LOG, DEFAULT_PID = imgtest.instance_env("IT_SSRF_DEFAULT")
STRICT, STRICT_LOG, _ = imgtest.instance_env("IT_SSRF_STRICT")
NOPRIV, NOPRIV_LOG, _ = imgtest.instance_env("IT_SSRF_NOPRIV")
PYORIGIN = os.environ["IT_PYORIGIN"]
PYORIGIN_LOG = os.environ["IT_PYORIGIN_LOG"]
RESULT = os.environ.get("IT_SSRF_RESULT")
ASAN = os.environ.get("IT_ASAN") == "1"
# A bomb or an oversized Content-Length must be refused this fast.
FAST = 1.0 if not ASAN else 3.0
# Sanitizer builds are several times slower.
TIMEOUT = 120 if ASAN else 60

SUITE = imgtest.Suite()
test = SUITE.test
req_counter = [0]


def fetch(front, src, opts="rs:fit:100:100"):
    """GETs src through front with a fresh X-Request-ID; returns (response, id, seconds)."""
    req_counter[0] += 1
    rid = "ssrf%d%d" % (os.getpid(), req_counter[0])
    t0 = time.monotonic()
    path = imgtest.plain(opts, src, sig="unsafe", safe=":/[]")
    r = imgtest.http_get(front, path, TIMEOUT, headers={"X-Request-ID": rid})
    return r, rid, time.monotonic() - t0


def expect_refused(front, logpath, src, what):
    r, rid, _ = fetch(front, src)
    check(r.status == 404, "%s (%s): status %d, want 404: %r" % (what, src, r.status, r))
    check(r.body.strip() == b"Source image is unreachable", "%s: body %r" % (what, r.body))
    line = imgtest.log_line(logpath, rid)
    check("Source address is not allowed" in line,
          "%s (%s): no guard line for %s in the log: %r" % (what, src, rid, line))
    return line


def redirect_via(origin, target, code=302):
    return "%s/r/x?%s" % (origin, urllib.parse.urlencode({"redirect": target, "code": code}))


class Listener:
    """A listening socket nobody accepts on: a completed handshake would sit in its backlog."""

    def __init__(self, family, addr):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connections(self):
        n = 0
        while True:
            try:
                c, _ = self.sock.accept()
            except BlockingIOError:
                return n
            c.close()
            n += 1

    def close(self):
        self.sock.close()


def origin_saw(log, marker):
    """The origin's log entries for requests carrying m=marker (not a redirect that names it)."""
    with open(log, errors="replace") as f:
        entries = [json.loads(line) for line in f if marker in line]
    return [e for e in entries if "m=" + marker in e["path"]]


# ------------------------------------------------------------- address classes

# Link-local in every spelling; DEFAULT refuses them all (its link-local is off).
LINK_LOCAL_TARGETS = [
    ("v4 metadata", "http://169.254.169.254/latest/meta-data/"),
    ("v6 fe80::", "http://[fe80::1]/"),
    ("v4-mapped", "http://[::ffff:169.254.169.254]/"),
    ("v4-compatible", "http://[::169.254.169.254]/"),
    ("NAT64", "http://[64:ff9b::a9fe:a9fe]/"),
    ("6to4", "http://[2002:a9fe:a9fe::]/"),
    ("Teredo", "http://[2001:0:4136:e378:8000:63bf:5601:5601]/"),
]
ALWAYS_REFUSED = [
    ("unspecified v4", "http://0.0.0.0/"),
    ("unspecified v6", "http://[::]/"),
    ("unspecified mapped", "http://[::ffff:0.0.0.0]/"),
    ("multicast v4", "http://224.0.0.1/"),
    ("multicast v6", "http://[ff02::1]/"),
    ("broadcast", "http://255.255.255.255/"),
]
PRIVATE_TARGETS = [
    ("10/8", "http://10.1.2.3/"),
    ("172.16/12", "http://172.16.5.4/"),
    ("172.31", "http://172.31.255.254/"),
    ("192.168/16", "http://192.168.1.1/"),
    ("CGNAT 100.64/10", "http://100.64.0.1/"),
    ("CGNAT top", "http://100.127.255.254/"),
    ("ULA fc00::/7", "http://[fd00::1]/"),
    ("ULA fc00::", "http://[fc00::1]/"),
    ("mapped 10/8", "http://[::ffff:10.0.0.1]/"),
    ("NAT64 192.168", "http://[64:ff9b::c0a8:101]/"),
    ("NAT64 local-use", "http://[64:ff9b:1::808:808]/"),
    ("6to4 172.16", "http://[2002:ac10:1::]/"),
    ("Teredo 10/8", "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/"),
]
LOOPBACK_TARGETS = [
    ("127.0.0.1", "http://127.0.0.1:%d/"),
    ("127.1.2.3", "http://127.1.2.3:%d/"),
    ("decimal 2130706433", "http://2130706433:%d/"),
    ("localhost", "http://localhost:%d/"),
    ("mapped", "http://[::ffff:127.0.0.1]:%d/"),
    ("compatible", "http://[::127.0.0.1]:%d/"),
    ("NAT64", "http://[64:ff9b::7f00:1]:%d/"),
    ("6to4", "http://[2002:7f00:1::]:%d/"),
    ("Teredo", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:%d/"),
]


@test("guard/default-refuses-link-local-via-redirect")
def _():
    for what, target in LINK_LOCAL_TARGETS:
        expect_refused(DEFAULT, DEFAULT_LOG, redirect_via(PYORIGIN, target), what)


@test("guard/default-refuses-unspecified-multicast-via-redirect")
def _():
    for what, target in ALWAYS_REFUSED:
        line = expect_refused(DEFAULT, DEFAULT_LOG, redirect_via(PYORIGIN, target), what)
        check("unspecified" in line or "multicast" in line, "%s: class not named: %r" % (what, line))


@test("guard/every-redirect-status")
def _():
    for code in (301, 302, 303, 307, 308):
        expect_refused(DEFAULT, DEFAULT_LOG,
                       redirect_via(PYORIGIN, "http://169.254.169.254/", code), "code %d" % code)
    # A chain: loopback -> loopback -> link-local.
    inner = redirect_via(PYORIGIN, "http://[::ffff:169.254.169.254]/")
    expect_refused(DEFAULT, DEFAULT_LOG, redirect_via(PYORIGIN, inner), "two redirects")


@test("guard/default-allows-loopback-when-set")
def _():
    # DEFAULT has IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES=true: a loopback redirect target loads.
    r, _, _ = fetch(DEFAULT, redirect_via(PYORIGIN, PYORIGIN + "/img/photo.jpg?via=redirect"))
    expect_image(r, "jpeg", 100, 63)


@test("guard/strict-refuses-direct")
def _():
    lst = Listener(socket.AF_INET, "127.0.0.1")
    lst6 = Listener(socket.AF_INET6, "::1")
    try:
        for what, target in LOOPBACK_TARGETS:
            expect_refused(STRICT, STRICT_LOG, target % lst.port + "a.jpg", "direct loopback " + what)
        expect_refused(STRICT, STRICT_LOG, "http://[::1]:%d/a.jpg" % lst6.port, "direct ::1")
        for what, target in LINK_LOCAL_TARGETS + ALWAYS_REFUSED + PRIVATE_TARGETS:
            expect_refused(STRICT, STRICT_LOG, target, "direct " + what)
        check(lst.connections() == 0, "a refused loopback source got a TCP connection")
        check(lst6.connections() == 0, "a refused ::1 source got a TCP connection")
    finally:
        lst.close()
        lst6.close()


@test("guard/nopriv-refuses-every-class-via-redirect")
def _():
    for what, target in LINK_LOCAL_TARGETS + ALWAYS_REFUSED + PRIVATE_TARGETS:
        expect_refused(NOPRIV, NOPRIV_LOG, redirect_via(PYORIGIN, target), what)
    # The loopback origin itself stays allowed there: the refusals are the targets'.
    r, _, _ = fetch(NOPRIV, redirect_via(PYORIGIN, PYORIGIN + "/img/photo.jpg?via=nopriv"))
    expect_image(r, "jpeg", 100, 63)


@test("guard/private-allowed-means-connect-attempt")
def _():
    # Nothing at 10.1.2.3 (no route in the namespace): DEFAULT allows private
    # addresses, so the connect is tried and fails: 500 and a download error, not
    # the guard's 404. NOPRIV refuses the same redirect before any connect.
    r, rid, _ = fetch(DEFAULT, redirect_via(PYORIGIN, "http://10.1.2.3/a.jpg"))
    check(r.status == 500, "allowed private, nothing there: status %d, want 500: %r" % (r.status, r))
    line = imgtest.log_line(DEFAULT_LOG, rid)
    check("Source address is not allowed" not in line and "Can't download" in line,
          "connect failure logged as %r" % line)
    expect_refused(NOPRIV, NOPRIV_LOG, redirect_via(PYORIGIN, "http://10.1.2.3/a.jpg"),
                   "private, refused")


# ------------------------------------------------------------- IMGPROXY_ALLOWED_SOURCES


@test("allowed-sources/patterns")
def _():
    port = urllib.parse.urlsplit(PYORIGIN).port
    ok, _, _ = fetch(DEFAULT, PYORIGIN + "/img/photo.jpg")
    expect_image(ok, "jpeg", 100, 63)
    ok, _, _ = fetch(DEFAULT, "local:///photo.jpg")
    expect_image(ok, "jpeg", 100, 63)
    for src in ("http://127.0.0.2:%d/img/photo.jpg" % port,
                "http://127.0.0.1.example.com/img/photo.jpg",
                "http://localhost:%d/img/photo.jpg" % port,
                "https://127.0.0.1:%d/img/photo.jpg" % port,
                "http://[::1]:%d/img/photo.jpg" % port,
                "http://127.0.0.1/x/../../img/photo.jpg"):
        r, rid, _ = fetch(DEFAULT, src)
        check(r.status == 404 and r.body.strip() == b"Invalid source URL",
              "%s: %d %r, want 404 Invalid source URL" % (src, r.status, r.body[:80]))
        check("Source URL is not allowed" in imgtest.log_line(DEFAULT_LOG, rid), "%s: no log line" % src)


@test("allowed-sources/not-checked-on-redirects")
def _():
    # As imgproxy: the pattern applies to the URL asked for; a redirect from an allowed
    # origin is followed (the address guard still judges where it goes).
    port = urllib.parse.urlsplit(PYORIGIN).port
    r, _, _ = fetch(DEFAULT, redirect_via(PYORIGIN, "http://localhost:%d/img/photo.jpg" % port))
    expect_image(r, "jpeg", 100, 63)


# ------------------------------------------------------------- limits before work


def vmhwm_kb(pid):
    return imgtest.proc_status_kb(pid, "VmHWM")


def expect_limit(src, log_text, opts="rs:fit:100:100", bound=FAST):
    """src through DEFAULT: 422 within bound seconds, and log_text in its log line."""
    r, rid, secs = fetch(DEFAULT, src, opts)
    check(r.status == 422, "%s: %d %r" % (src, r.status, r))
    check(secs < bound, "%s took %.2f s (want < %.1f)" % (src, secs, bound))
    line = imgtest.log_line(DEFAULT_LOG, rid)
    check(log_text in line, "%s: want %r in the log line, got %r" % (src, log_text, line))


@test("limits/content-length-too-big")
def _():
    # IMGPROXY_MAX_SRC_FILE_SIZE=3000000 (run.sh); the origin claims 10 GB, sends 1 KB and
    # holds the connection for 5 s: refused from the header, long before the origin gives up.
    expect_limit(PYORIGIN + "/img/photo.jpg?cl=10000000000&hold=5&m=cl%d" % time.time_ns(), "too big")


@test("limits/endless-body-past-max-file-size")
def _():
    # A real JPEG header (800x500) followed by zeros without end: the running cap stops it.
    expect_limit(PYORIGIN + "/img/photo.jpg?tail=endless", "too big", bound=5)


@test("limits/unknown-type-on-endless-body")
def _():
    # Not an image: refused once IMGPROXY_MAX_SVG_CHECK_BYTES (32 KB) are in, not at 3 MB.
    mark = "text%d" % time.time_ns()
    expect_limit(PYORIGIN + "/img/text.txt?tail=endless&m=" + mark, "type not supported")
    # raw passes any bytes through: there only the size cap stops an endless body.
    expect_limit(PYORIGIN + "/img/text.txt?tail=endless&m=raw" + mark, "too big", "raw:1", bound=TIMEOUT)
    r, _, _ = fetch(DEFAULT, PYORIGIN + "/img/text.txt", "raw:1")
    check(r.status == 200 and r.body.startswith(b"this is not an image"), "raw text: %r" % r)


@test("limits/svg-over-cap")
def _():
    # IMGFCGI_MAX_SVG_FILE_SIZE=1000000 on DEFAULT: an SVG that goes on and on stops at 1 MB.
    expect_limit(PYORIGIN + "/img/evil.svg?tail=endless", "SVG is too big", "")
    r, _, _ = fetch(DEFAULT, PYORIGIN + "/img/evil.svg", "")
    check(r.status == 200 and r.ctype() == "image/svg+xml", "small SVG: %r" % r)


@test("limits/header-bomb-on-endless-body")
def _():
    before = vmhwm_kb(DEFAULT_PID)
    for kind in ("png", "jpeg", "gif", "webp"):
        mark = "bomb%s%d" % (kind, time.time_ns())
        r, rid, secs = fetch(DEFAULT, PYORIGIN + "/img/x?bomb=%s&endless=1&m=%s" % (kind, mark))
        check(r.status == 422, "%s bomb: %d %r" % (kind, r.status, r))
        check(secs < FAST, "%s bomb took %.2f s (want < %.1f)" % (kind, secs, FAST))
        line = imgtest.log_line(DEFAULT_LOG, rid)
        check("resolution is too big" in line and "%s header" % kind in line,
              "%s bomb: log line %r" % (kind, line))
        # The origin stopped sending soon after: what it wrote is what fits in socket buffers.
        deadline = time.monotonic() + 5
        done = []
        while not done and time.monotonic() < deadline:
            done = [e for e in origin_saw(PYORIGIN_LOG, mark) if "sent" in e]
            time.sleep(0.05)
        check(done and done[0]["sent"] < 16 << 20,
              "%s bomb: origin sent %s bytes" % (kind, done[0]["sent"] if done else "?"))
    for kind in ("png", "jpeg"):
        r, _, secs = fetch(DEFAULT, PYORIGIN + "/img/x?bomb=%s" % kind)
        check(r.status == 422 and secs < FAST, "%s bomb with a length: %d in %.2f s"
              % (kind, r.status, secs))
    grown = vmhwm_kb(DEFAULT_PID) - before
    check(grown < 64 * 1024, "peak RSS grew %d KB over the bombs" % grown)


@test("limits/health-after")
def _():
    for front in (DEFAULT, STRICT, NOPRIV):
        r = imgtest.http_get(front, "/health", TIMEOUT)
        check(r.status == 200, "%s health: %r" % (front, r))
    check(imgtest.pid_alive(DEFAULT_PID), "the DEFAULT instance is gone")


if __name__ == "__main__":
    sys.exit(SUITE.main(sys.argv[1:], RESULT))
