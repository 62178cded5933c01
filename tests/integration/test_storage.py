#!/usr/bin/env python3
"""test_storage.py: object-store sources (s3://, swift://) through nginx against real servers.

Started by run.sh (nginx host) with a one-replica OpenStack Swift on loopback
(tests/storage/swift.sh: s3api checks real SigV4 signatures, tempauth serves
Swift v1 tokens) seeded with the objects listed in SEEDED, and two imgfcgi
instances behind their own nginx:
  GOOD  IT_STORAGE_FRONT: the right credentials, ETag and Last-Modified on,
        IMGPROXY_MAX_SRC_FILE_SIZE=5000000, metrics at /metrics
  BAD   IT_STORAGE_BAD_FRONT: the same with a wrong S3 secret and Swift key
and, for Swift through Keystone, IT_STORAGE_V3_FRONT / IT_STORAGE_V2_FRONT
authenticating at tests/storage/keystone_stub.py (which hands out the
Swift's own tempauth tokens in Keystone's shape; IT_KEYSTONE_LOG its log).

Each storage is one Storage row; register(storage) adds the same tests for
it (a second storage is a row and, where it differs, a status). Counters
from /metrics (imgfcgi_storage_{auth,requests,bytes}_total{storage=...})
show that tokens are reused and that refused sources were not read.
Prints one line per failure and "N passed, N failed".
"""
import concurrent.futures
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, expect_image  # noqa: E402

GOOD, GOOD_LOG, GOOD_PID = imgtest.instance_env("IT_STORAGE")
BAD, BAD_LOG, _ = imgtest.instance_env("IT_STORAGE_BAD")
PLAIN_FRONT = os.environ["IT_FRONT"]  # instance 1: no storage enabled
# Swift through Keystone v3 / v2.0 (tests/storage/keystone_stub.py) and the stub's request log.
KEYSTONE = {"v3": os.environ["IT_STORAGE_V3_FRONT"], "v2": os.environ["IT_STORAGE_V2_FRONT"]}
KEYSTONE_LOG = os.environ["IT_KEYSTONE_LOG"]
# The test Swift's directory (tests/storage/swift.sh): its memcached holds tempauth's tokens.
SWIFT_DIR = os.environ["IT_SWIFT_DIR"]
RESULT = os.environ.get("IT_STORAGE_RESULT")
ASAN = os.environ.get("IT_ASAN") == "1"
TIMEOUT = 120 if ASAN else 60
# Bytes a refused source may cost at most: its first read, far below the object's size.
REFUSED_BYTES_MAX = 1 << 20

SUITE = imgtest.Suite()
test = SUITE.test
req_counter = [0]


class Storage:
    """One storage under test: its scheme, the container the objects were seeded into,
    and imgproxy's answer to wrong credentials (status, a word of the log line)."""

    def __init__(self, name, container, bad_status, bad_log):
        self.name = name
        self.container = container
        self.bad_status = bad_status
        self.bad_log = bad_log

    def src(self, key):
        return "%s://%s/%s" % (self.name, self.container, key)


STORAGES = [
    # S3 keeps the storage's 4xx: s3api's SignatureDoesNotMatch is a 403.
    Storage("s3", "imgs", 403, "SignatureDoesNotMatch"),
    # Swift's failed authentication is an internal error (500), as imgproxy's.
    Storage("swift", "imgs", 500, "authentication failed: status 401"),
]


def get(front, src, opts="w:400", headers=None, ext=None):
    """GETs src (escaped as a plain source) through front with a fresh X-Request-ID;
    returns (response, request id)."""
    req_counter[0] += 1
    rid = "st%d%d" % (os.getpid(), req_counter[0])
    h = {"X-Request-ID": rid}
    h.update(headers or {})
    path = imgtest.plain(opts, src, ext=ext, sig="insecure", safe=":/")
    return imgtest.http_get(front, path, TIMEOUT, headers=h), rid


def counter(name, storage, front=GOOD):
    """imgfcgi_storage_NAME_total{storage=...} of the instance behind front."""
    return imgtest.storage_counter(front, name, storage, TIMEOUT)


def register(s):
    """The tests every storage gets."""

    @test("%s/concurrent-20" % s.name)
    def _():
        # First of this storage's tests: no token exists yet, 20 requests race for one.
        keys = ["obj%02d.jpg" % i for i in range(20)]
        with concurrent.futures.ThreadPoolExecutor(20) as ex:
            got = list(ex.map(lambda k: get(GOOD, s.src(k))[0], keys))
        bad = [(k, r) for k, r in zip(keys, got) if r.status != 200]
        check(not bad, "%d of 20 failed, first %r" % (len(bad), bad[:1]))
        for r in got:
            expect_image(r, "jpeg", 400, 250)
        auth = counter("auth", s.name)
        # s3 signs with static keys (no token: 0); token storages authenticate once.
        want = 0 if s.name == "s3" else 1
        check(auth == want, "%s: %d token/auth requests for 20 objects, want %d"
              % (s.name, auth, want))
        print("storage: %s: 20 concurrent objects, all 200, %d token/auth requests"
              % (s.name, auth), flush=True)

    @test("%s/photo" % s.name)
    def _():
        r, _ = get(GOOD, s.src("photo.jpg"))
        check(r.status == 200, "photo: %r" % r)
        expect_image(r, "jpeg", 400, 250)
        r, _ = get(GOOD, s.src("photo.jpg"), opts="rs:fill:100:100", ext="png")
        expect_image(r, "png", 100, 100)

    @test("%s/key-encoding" % s.name)
    def _():
        # A space and an '@' in the key: percent-encoded in the request (and its signature).
        r, _ = get(GOOD, s.src("my photo@2x.jpg"))
        check(r.status == 200, "key with a space: %r" % r)
        expect_image(r, "jpeg", 400, 250)
        r, _ = get(GOOD, s.src("sub/dir/photo.jpg"))
        check(r.status == 200, "key with slashes: %r" % r)
        expect_image(r, "jpeg", 400, 250)

    @test("%s/missing" % s.name)
    def _():
        r, rid = get(GOOD, s.src("no-such-object.jpg"))
        check(r.status == 404, "missing object: %r" % r)
        check(r.body.strip() == b"Source image is unreachable", "missing: body %r" % r.body)
        line = imgtest.log_line(GOOD_LOG, rid)
        check("404" in line, "missing: log line %r" % line)

    @test("%s/empty-key" % s.name)
    def _():
        r, rid = get(GOOD, "%s://%s/" % (s.name, s.container))
        check(r.status == 404, "empty key: %r" % r)
        check("URL" in imgtest.log_line(GOOD_LOG, rid), "empty key: no Invalid ... URL line")

    @test("%s/wrong-credentials" % s.name)
    def _():
        r, rid = get(BAD, s.src("photo.jpg"))
        check(r.status == s.bad_status, "wrong credentials: %r, want %d" % (r, s.bad_status))
        line = imgtest.log_line(BAD_LOG, rid)
        check(s.bad_log in line, "wrong credentials: %r not in the log line %r" % (s.bad_log, line))

    @test("%s/etag-304" % s.name)
    def _():
        r, _ = get(GOOD, s.src("photo.jpg"))
        check(r.status == 200 and r.headers.get("etag"), "first: %r %r" % (r, r.headers))
        etag = r.headers["etag"]
        r2, _ = get(GOOD, s.src("photo.jpg"), headers={"If-None-Match": etag})
        check(r2.status == 304, "If-None-Match %s: %r" % (etag, r2))
        check(r2.body == b"", "304 with a body: %r" % r2.body[:40])
        r3, _ = get(GOOD, s.src("photo.jpg"), headers={"If-None-Match": '"not-this-one"'})
        check(r3.status == 200, "a foreign ETag: %r" % r3)

    @test("%s/if-modified-since-304" % s.name)
    def _():
        # s3 forwards it (S3 answers 304), swift decides locally from the object's Last-Modified.
        r, _ = get(GOOD, s.src("photo.jpg"))
        check(r.status == 200 and r.headers.get("last-modified"), "first: %r %r" % (r, r.headers))
        r2, _ = get(GOOD, s.src("photo.jpg"),
                    headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
        check(r2.status == 304, "If-Modified-Since in 2100: %r" % r2)
        r3, _ = get(GOOD, s.src("photo.jpg"),
                    headers={"If-Modified-Since": "Thu, 01 Jan 1998 00:00:00 GMT"})
        check(r3.status == 200, "If-Modified-Since in 1998: %r" % r3)

    @test("%s/gzip-stored" % s.name)
    def _():
        # Stored gzipped with Content-Encoding: gzip: decoded as imgproxy does for s3 and swift.
        r, _ = get(GOOD, s.src("gz.jpg"))
        check(r.status == 200, "gzipped object: %r" % r)
        expect_image(r, "jpeg", 400, 250)

    def refused_early(key, what, log_text):
        """GETs key, which a limit refuses (422, log_text in its log line) before
        REFUSED_BYTES_MAX body bytes have come."""
        before = counter("bytes", s.name)
        r, rid = get(GOOD, s.src(key))
        got = counter("bytes", s.name) - before
        check(r.status == 422, "%s: %r" % (what, r))
        check(got < REFUSED_BYTES_MAX, "%s: read %d body bytes before refusing" % (what, got))
        print("storage: %s: %s refused after %d body bytes" % (s.name, what, got), flush=True)
        line = imgtest.log_line(GOOD_LOG, rid)
        check(log_text in line, "%s: log line %r" % (what, line))

    @test("%s/too-big-file" % s.name)
    def _():
        refused_early("padded.jpg", "6 MB object over the 5 MB limit", "too big")

    @test("%s/too-many-pixels" % s.name)
    def _():
        refused_early("bigpad.png", "64 MP PNG (8000x8000 header, 4 MB object)",
                      "resolution is too big")


for _s in STORAGES:
    register(_s)


def register_keystone(version, path):
    @test("swift-keystone-%s/photo" % version)
    def _():
        keys = ["obj%02d.jpg" % i for i in range(10)]
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            got = list(ex.map(lambda k: get(KEYSTONE[version], "swift://imgs/" + k)[0], keys))
        for r in got:
            check(r.status == 200, "swift via Keystone %s: %r" % (version, r))
            expect_image(r, "jpeg", 400, 250)
        auth = counter("auth", "swift", KEYSTONE[version])
        check(auth == 1, "%d auth requests for 10 objects, want 1" % auth)
        with open(KEYSTONE_LOG) as f:
            posts = [line for line in f if '"path": "%s"' % path in line]
        check(len(posts) == 1, "the Keystone stub saw %d POST %s" % (len(posts), path))


def memcached_flush():
    """Empties the test Swift's memcached: every tempauth token it issued is gone."""
    with open(os.path.join(SWIFT_DIR, "proxy-server.conf")) as f:
        port = int(re.search(r"memcache_servers = 127\.0\.0\.1:(\d+)", f.read()).group(1))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"flush_all\r\n")
        check(c.recv(64).startswith(b"OK"), "memcached did not flush")


@test("swift/token-revoked-401-reauth")
def _():
    # The cached token stops working (Swift answers 401): one new authentication, then 200.
    r, _ = get(GOOD, "swift://imgs/photo.jpg")
    check(r.status == 200, "before: %r" % r)
    before = counter("auth", "swift")
    memcached_flush()
    r, rid = get(GOOD, "swift://imgs/photo.jpg")
    check(r.status == 200, "after the tokens were revoked: %r" % r)
    expect_image(r, "jpeg", 400, 250)
    after = counter("auth", "swift")
    check(after == before + 1, "auth requests %d -> %d, want one more" % (before, after))
    r, _ = get(GOOD, "swift://imgs/obj01.jpg")
    check(r.status == 200 and counter("auth", "swift") == after, "the new token is not reused")


register_keystone("v3", "/v3/auth/tokens")
register_keystone("v2", "/v2.0/tokens")


@test("storage/disabled-scheme")
def _():
    # Instance 1 enables no storage: imgproxy's 404 "Unknown scheme".
    for scheme in ("s3", "swift", "gs", "abs"):
        r, _ = get(PLAIN_FRONT, "%s://imgs/photo.jpg" % scheme)
        check(r.status == 404, "%s:// on an instance without it: %r" % (scheme, r))


@test("storage/health-after")
def _():
    imgtest.expect_alive(GOOD, GOOD_PID, TIMEOUT, "the storage instance")


if __name__ == "__main__":
    sys.exit(SUITE.main(sys.argv[1:], RESULT))
