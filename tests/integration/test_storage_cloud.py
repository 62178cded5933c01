#!/usr/bin/env python3
"""test_storage_cloud.py: abs:// (Azurite) and gs:// (tests/storage/gcs_stub.py) through nginx.

Started by run.sh (nginx host) against three imgfcgi instances, each behind
its own nginx (conf/nginx.conf), all with IMGPROXY_MAX_SRC_FILE_SIZE=3000000
and /metrics:
  CLOUD       abs:// and gs:// with the right credentials, IMGPROXY_USE_ETAG and
              IMGPROXY_USE_LAST_MODIFIED on (gs:// reads the object's metadata
              first and answers 304 from it)
  CLOUDPLAIN  the same with both off (gs:// makes only the media GET)
  CLOUDBAD    a wrong account key for abs://, a service-account key the GCS
              stub does not know
The objects are put here: blobs into Azurite through its REST API, signed
with Shared Key by this file's own signer (hmac, hashlib); gs:// objects as
files under the stub's directory. Prints one line per failure and
"N passed, N failed".
"""
import base64
import concurrent.futures
import email.utils
import hashlib
import hmac
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, expect_error, expect_image  # noqa: E402

CLOUD, CLOUD_LOG, _ = imgtest.instance_env("IT_CLOUD")
PLAIN, PLAIN_LOG, _ = imgtest.instance_env("IT_CLOUDPLAIN")
BAD, BAD_LOG, _ = imgtest.instance_env("IT_CLOUDBAD")
AZURITE = os.environ["IT_AZURITE"]
AZURITE_UP = os.environ.get("IT_AZURITE_UP") == "1"
GCS = os.environ["IT_GCS_STUB"]
GCS_DIR = os.environ["IT_GCS_DIR"]
ROOT = os.environ["IT_ROOT"]
RESULT = os.environ.get("IT_CLOUD_RESULT")
ASAN = os.environ.get("IT_ASAN") == "1"
TIMEOUT = 120 if ASAN else 60
MAX_FILE = 3000000  # IMGPROXY_MAX_SRC_FILE_SIZE of every instance

AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = base64.b64decode("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
                          "K1SZFPTOtr/KBHBeksoGMGw==")
CONTAINER = "imgs"
BUCKET = "imgs"
N_CONCURRENT = 20
ODD_KEY = "dir/my photo #1+x.jpg"  # a blank, '#', '+' and a '/' in the key

SUITE = imgtest.Suite()
test = SUITE.test
req_counter = [0]


# ------------------------------------------------------------- the stores' contents


def azure_request(method, path, body=b"", query="", headers=None):
    """One Shared Key signed request to Azurite (path: /CONTAINER[/BLOB], %-encoded)."""
    date = email.utils.formatdate(usegmt=True)
    hdrs = {"x-ms-date": date, "x-ms-version": "2021-08-06"}
    hdrs.update(headers or {})
    ms = sorted((k.lower(), v) for k, v in hdrs.items() if k.lower().startswith("x-ms-"))
    std = ["", "", str(len(body)) if body else "", "", hdrs.get("Content-Type", ""),
           "", "", "", "", "", ""]
    canon = "/%s/%s%s" % (AZ_ACCOUNT, AZ_ACCOUNT, path)
    for k, v in sorted(urllib.parse.parse_qsl(query)):
        canon += "\n%s:%s" % (k.lower(), v)
    sts = method + "\n" + "".join(s + "\n" for s in std) + "".join(
        "%s:%s\n" % kv for kv in ms) + canon
    sig = base64.b64encode(hmac.new(AZ_KEY, sts.encode(), hashlib.sha256).digest()).decode()
    hdrs["Authorization"] = "SharedKey %s:%s" % (AZ_ACCOUNT, sig)
    u = urllib.parse.urlsplit(AZURITE)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, "/%s%s%s" % (AZ_ACCOUNT, path, "?" + query if query else ""),
                     body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def seed():
    """The same files in both stores: photo.jpg, 20 copies, a key with odd characters, a file
    over MAX_FILE and a 64 MP PNG padded to 2.5 MB (under MAX_FILE)."""
    with open(os.path.join(ROOT, "big.png"), "rb") as f:
        big = f.read()
    with open(os.path.join(ROOT, "padded.jpg"), "rb") as f:
        padded = f.read()
    with open(os.path.join(ROOT, "photo.jpg"), "rb") as f:
        photo = f.read()
    objects = {"photo.jpg": photo, ODD_KEY: photo, "padded.jpg": padded,
               "bigres.png": big + b"\0" * (2500000 - len(big))}
    for i in range(N_CONCURRENT):
        objects["many/p%02d.jpg" % i] = photo
    check(len(padded) > MAX_FILE, "padded.jpg is only %d bytes" % len(padded))
    for name, data in objects.items():
        path = os.path.join(GCS_DIR, BUCKET, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    if not AZURITE_UP:
        return
    status, body = azure_request("PUT", "/" + CONTAINER, query="restype=container")
    check(status in (201, 409), "container: %d %r" % (status, body[:200]))
    for name, data in objects.items():
        status, body = azure_request("PUT", "/%s/%s" % (CONTAINER, urllib.parse.quote(name)),
                                     data, headers={"x-ms-blob-type": "BlockBlob",
                                                    "Content-Type": "application/octet-stream"})
        check(status == 201, "put %s: %d %r" % (name, status, body[:200]))


# ------------------------------------------------------------- helpers


def get(front, src, opts="rs:fit:400:400", headers=None):
    """GETs src through front with a fresh X-Request-ID; returns (response, id)."""
    req_counter[0] += 1
    rid = "cloud%d-%d" % (os.getpid(), req_counter[0])
    hdrs = {"X-Request-ID": rid}
    hdrs.update(headers or {})
    path = imgtest.plain(opts, src, sig="unsafe", safe=":/")
    return imgtest.http_get(front, path, TIMEOUT, headers=hdrs), rid


def stub_stats():
    r = imgtest.http_get(GCS, "/_stats", TIMEOUT)
    check(r.status == 200, "stub stats: %r" % r)
    return json.loads(r.body)


def tokens_issued():
    s = stub_stats()
    return s["token_requests"] - s["token_refusals"]


def src(scheme, key):
    return "%s://%s/%s" % (scheme, CONTAINER if scheme == "abs" else BUCKET, key)


def need_azurite():
    check(AZURITE_UP, "Azurite is not running (npm ci in tests/storage/azurite failed?)")


# ------------------------------------------------------------- tests
# The concurrency tests come first: each is the first gs:// request of its instance,
# so the token cache starts empty.


@test("cloud/seed")
def _():
    seed()


@test("cloud/gs/concurrent-20-one-token")
def _():
    before = tokens_issued()
    check(imgtest.storage_counter(PLAIN, "auth", "gs", TIMEOUT) == 0, "a token before any request")
    with concurrent.futures.ThreadPoolExecutor(N_CONCURRENT) as ex:
        rs = list(ex.map(lambda i: get(PLAIN, src("gs", "many/p%02d.jpg" % i))[0],
                         range(N_CONCURRENT)))
    for r in rs:
        expect_image(r, "jpeg", 400, 250)
    auth = imgtest.storage_counter(PLAIN, "auth", "gs", TIMEOUT)
    check(auth == 1, "%d token requests for %d concurrent objects" % (auth, N_CONCURRENT))
    check(tokens_issued() - before == 1, "the stub issued %d tokens" % (tokens_issued() - before))
    print("  gs: %d concurrent objects, 200 each, %d token request" % (N_CONCURRENT, auth))


@test("cloud/abs/concurrent-20")
def _():
    need_azurite()
    reqs = imgtest.storage_counter(PLAIN, "requests", "abs", TIMEOUT)
    with concurrent.futures.ThreadPoolExecutor(N_CONCURRENT) as ex:
        rs = list(ex.map(lambda i: get(PLAIN, src("abs", "many/p%02d.jpg" % i))[0],
                         range(N_CONCURRENT)))
    for r in rs:
        expect_image(r, "jpeg", 400, 250)
    got = imgtest.storage_counter(PLAIN, "requests", "abs", TIMEOUT) - reqs
    check(got == N_CONCURRENT, "%d blob GETs for %d objects" % (got, N_CONCURRENT))
    # Shared Key signs each request: nothing to fetch first.
    check(imgtest.storage_counter(PLAIN, "auth", "abs", TIMEOUT) == 0, "abs made auth requests")


@test("cloud/photo")
def _():
    for scheme in ("abs", "gs"):
        if scheme == "abs":
            need_azurite()
        for front in (CLOUD, PLAIN):
            r, _ = get(front, src(scheme, "photo.jpg"))
            expect_image(r, "jpeg", 400, 250)
            r, _ = get(front, src(scheme, "photo.jpg"), opts="rs:fill:64:64/f:png")
            expect_image(r, "png", 64, 64)


@test("cloud/odd-key")
def _():
    for scheme in ("gs", "abs"):
        if scheme == "abs":
            need_azurite()
        for front in (CLOUD, PLAIN):
            r, _ = get(front, src(scheme, ODD_KEY))
            expect_image(r, "jpeg", 400, 250)


@test("cloud/missing")
def _():
    for scheme in ("gs", "abs"):
        if scheme == "abs":
            need_azurite()
        for front, log in ((CLOUD, CLOUD_LOG), (PLAIN, PLAIN_LOG)):
            r, rid = get(front, src(scheme, "nope/missing.jpg"))
            expect_error(r, 404, "Source image is unreachable")
            line = imgtest.log_line(log, rid)
            check("Status 404 from %s" % scheme in line, "%s missing: log line %r" % (scheme, line))


@test("cloud/abs/wrong-key")
def _():
    need_azurite()
    r, rid = get(BAD, src("abs", "photo.jpg"))
    # Azure keeps a response error's status: 403, as imgproxy passes it on.
    expect_error(r, 403, "Source image is unreachable")
    line = imgtest.log_line(BAD_LOG, rid)
    check("Status 403 from abs" in line and "AuthorizationFailure" in line,
          "abs wrong key: log line %r" % line)


@test("cloud/gs/wrong-key")
def _():
    refused = stub_stats()["token_refusals"]
    r, rid = get(BAD, src("gs", "photo.jpg"))
    # imgproxy: any GCS failure but a missing object is an internal error.
    expect_error(r, 500, "Internal error")
    line = imgtest.log_line(BAD_LOG, rid)
    check("no access token" in line and "invalid_grant" in line, "gs wrong key: log %r" % line)
    check(stub_stats()["token_refusals"] == refused + 1, "the stub refused no JWT")


@test("cloud/etag-304")
def _():
    for scheme in ("gs", "abs"):
        if scheme == "abs":
            need_azurite()
        r, _ = get(CLOUD, src(scheme, "photo.jpg"))
        expect_image(r, "jpeg", 400, 250)
        etag = r.headers.get("etag")
        check(etag, "%s: no ETag in %r" % (scheme, r.headers))
        media = stub_stats()["media_requests"]
        r2, _ = get(CLOUD, src(scheme, "photo.jpg"), headers={"If-None-Match": etag})
        check(r2.status == 304 and r2.body == b"", "%s If-None-Match: %r" % (scheme, r2))
        if scheme == "gs":
            # Decided from the metadata: the media GET is never made.
            check(stub_stats()["media_requests"] == media, "gs 304 still fetched the media")
        r3, _ = get(CLOUD, src(scheme, "photo.jpg"), headers={"If-None-Match": '"other"'})
        expect_image(r3, "jpeg", 400, 250)


@test("cloud/last-modified-304")
def _():
    for scheme in ("gs", "abs"):
        if scheme == "abs":
            need_azurite()
        r, _ = get(CLOUD, src(scheme, "photo.jpg"))
        lm = r.headers.get("last-modified")
        check(r.status == 200 and lm, "%s: no Last-Modified in %r" % (scheme, r.headers))
        r2, _ = get(CLOUD, src(scheme, "photo.jpg"), headers={"If-Modified-Since": lm})
        check(r2.status == 304, "%s If-Modified-Since: %r" % (scheme, r2))
        old = email.utils.formatdate(time.time() - 10 * 365 * 86400, usegmt=True)
        r3, _ = get(CLOUD, src(scheme, "photo.jpg"), headers={"If-Modified-Since": old})
        check(r3.status == 200, "%s older If-Modified-Since: %r" % (scheme, r3))


@test("cloud/gs/generation")
def _():
    gen = os.stat(os.path.join(GCS_DIR, BUCKET, "photo.jpg")).st_mtime_ns
    for front in (CLOUD, PLAIN):
        r, _ = get(front, src("gs", "photo.jpg?%d" % gen))
        expect_image(r, "jpeg", 400, 250)
        r, _ = get(front, src("gs", "photo.jpg?%d" % (gen + 1)))
        expect_error(r, 404)
        # Not an int64 > 0: ignored, as imgproxy does.
        r, _ = get(front, src("gs", "photo.jpg?generation=x"))
        expect_image(r, "jpeg", 400, 250)


@test("cloud/too-big-file")
def _():
    for scheme in ("gs", "abs"):
        if scheme == "abs":
            need_azurite()
        for front, log in ((CLOUD, CLOUD_LOG), (PLAIN, PLAIN_LOG)):
            before = imgtest.storage_counter(front, "bytes", scheme, TIMEOUT)
            r, rid = get(front, src(scheme, "padded.jpg"))
            expect_error(r, 422)
            got = imgtest.storage_counter(front, "bytes", scheme, TIMEOUT) - before
            # Refused on the Content-Length: no body byte read.
            check(got == 0, "%s: %d body bytes read of a %d-byte file over the limit"
                  % (scheme, got, MAX_FILE))
            line = imgtest.log_line(log, rid)
            check("too big" in line, "%s too big: log %r" % (scheme, line))


@test("cloud/too-many-pixels")
def _():
    for scheme in ("gs", "abs"):
        if scheme == "abs":
            need_azurite()
        before = imgtest.storage_counter(PLAIN, "bytes", scheme, TIMEOUT)
        r, rid = get(PLAIN, src(scheme, "bigres.png"))
        expect_error(r, 422)
        got = imgtest.storage_counter(PLAIN, "bytes", scheme, TIMEOUT) - before
        check(got < 1000000, "%s: %d of 2500000 bytes read for a 64 MP PNG" % (scheme, got))
        line = imgtest.log_line(PLAIN_LOG, rid)
        check("resolution is too big" in line, "%s 64 MP: log %r" % (scheme, line))
        print("  %s: 64 MP PNG of 2500000 bytes refused after %d bytes" % (scheme, got))


@test("cloud/gs/token-renewed-after-401")
def _():
    for front in (CLOUD, PLAIN):
        auth = imgtest.storage_counter(front, "auth", "gs", TIMEOUT)
        r = imgtest.http_get(GCS, "/_expire", TIMEOUT, method="POST")
        check(r.status == 200, "expire: %r" % r)
        r, _ = get(front, src("gs", "photo.jpg"))
        expect_image(r, "jpeg", 400, 250)
        got = imgtest.storage_counter(front, "auth", "gs", TIMEOUT) - auth
        check(got == 1, "%d token requests after the stub forgot every token" % got)


@test("cloud/disabled-elsewhere")
def _():
    # The nginx suite's instance #1 has neither scheme on: 404 "Unknown scheme".
    for scheme in ("abs", "gs"):
        r, _ = get(os.environ["IT_FRONT"], src(scheme, "photo.jpg"))
        expect_error(r, 404)


if __name__ == "__main__":
    sys.exit(SUITE.main(sys.argv[1:], RESULT))
