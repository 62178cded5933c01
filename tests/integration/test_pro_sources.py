#!/usr/bin/env python3
"""test_pro_sources.py: chained pipelines, /enc/ source URLs, fallback_image_url, hashsum.

Started by run.sh (nginx host) against imgfcgi-ps behind its own nginx
(conf/nginx.conf), with IMGPROXY_SOURCE_URL_ENCRYPTION_KEY (the documented
AES-256 key), IMGPROXY_MAX_CHAINED_PIPELINES=3, private source addresses
refused (loopback allowed: every origin is on 127.0.0.1) and a fallback image
cache. Outputs are decoded and compared numerically with the vips CLI.

Encrypted payloads are made with the openssl command (AES-CBC, PKCS#7), so
the client side is an implementation independent of imgfcgi's.

Prints one line per failure and "N passed, N failed"; with IT_VERBOSE, the
chain's timings too.
"""
import base64
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, expect_error, expect_image  # noqa: E402

FRONT, LOG, PID = imgtest.instance_env("IT_PS")
ORIGIN = os.environ["IT_ORIGIN"]
ORIGIN_LOG = os.environ["IT_ORIGIN_LOG"]
ROOT = os.environ["IT_ROOT"]
RESULT = os.environ.get("IT_PS_RESULT")
ASAN = os.environ.get("IT_ASAN") == "1"
TIMEOUT = 120 if ASAN else 60
KEY = "1eb5b0e971ad7f45324c1bb15c947cb207c43152fa5c6c7f35c4f36e0c18e0f1"
IV = "a79563a2b35d86cee6451c3c800f535a"
RUNS = 5

SUITE = imgtest.Suite()
test = SUITE.test
req_counter = [0]


def get(path, rid=None):
    """GETs path with an X-Request-ID; returns (response, id)."""
    req_counter[0] += 1
    rid = rid or "ps%d-%d" % (os.getpid(), req_counter[0])
    return imgtest.http_get(FRONT, path, TIMEOUT, headers={"X-Request-ID": rid}), rid


def log_line(rid, wait=5.0):
    """imgfcgi's request line for rid (written after the answer: poll briefly)."""
    deadline = time.monotonic() + wait
    while True:
        with open(LOG, errors="replace") as f:
            lines = [ln for ln in f if ("id=%s " % rid) in ln or ln.rstrip().endswith("id=" + rid)]
        if lines or time.monotonic() > deadline:
            return "".join(lines)
        time.sleep(0.05)


def log_since(offset):
    """imgfcgi's log after byte offset."""
    with open(LOG, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def log_size():
    return os.path.getsize(LOG)


def encrypt(url, key=KEY, iv=IV):
    """The /enc/ payload of url: base64url(IV + AES-CBC(key, IV, PKCS#7(url))), by openssl."""
    cipher = {32: "aes-128-cbc", 48: "aes-192-cbc", 64: "aes-256-cbc"}[len(key)]
    p = subprocess.run(["openssl", "enc", "-%s" % cipher, "-K", key, "-iv", iv], input=url.encode(),
                       capture_output=True, timeout=30)
    check(p.returncode == 0, "openssl enc: %s" % p.stderr.decode(errors="replace"))
    return imgtest.b64(bytes.fromhex(iv) + p.stdout)


def openssl_decrypts(payload, key=KEY):
    """Whether openssl itself finds valid PKCS#7 padding in payload under key: a wrong
    key or a changed block still gives valid padding about once in 256 tries."""
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    p = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-K", key, "-iv", raw[:16].hex()],
                       input=raw[16:], capture_output=True, timeout=30)
    return p.returncode == 0


def enc_path(opts, payload, ext=None, split=16):
    parts = "/".join(payload[i:i + split] for i in range(0, len(payload), split))
    return "/insecure/%s/enc/%s%s" % (opts, parts, "." + ext if ext else "")


def vips_stat(op, path):
    p = subprocess.run(["vips", op, path], capture_output=True, timeout=60)
    check(p.returncode == 0, "vips %s: %s" % (op, p.stderr.decode(errors="replace")))
    return float(p.stdout.decode().strip())


def pixel_diff(a, b):
    """(max, mean) absolute difference of two encoded images of the same size and bands."""
    with tempfile.TemporaryDirectory() as d:
        pa, pb = os.path.join(d, "a.png"), os.path.join(d, "b.png")
        with open(pa, "wb") as f:
            f.write(a)
        with open(pb, "wb") as f:
            f.write(b)
        diff, absd = os.path.join(d, "d.v"), os.path.join(d, "e.v")
        for cmd in (["vips", "subtract", pa, pb, diff], ["vips", "abs", diff, absd]):
            p = subprocess.run(cmd, capture_output=True, timeout=60)
            check(p.returncode == 0, "%s: %s" % (" ".join(cmd), p.stderr.decode(errors="replace")))
        return vips_stat("max", absd), vips_stat("avg", absd)


def expect_width(r, fmt, w):
    """A 200 image of format fmt, w pixels wide (heights round either way); returns its height."""
    check(r.status == 200, "want 200 %s, got %r" % (fmt, r))
    info = imgtest.image_info(r.body)
    expect_image(r, fmt, w, int(info["height"]))
    return int(info["height"])


def timed(path):
    t0 = time.monotonic()
    r, _ = get(path)
    return r, time.monotonic() - t0


# ------------------------------------------------------------------ chains

BIG = "chain-src.jpg"


def make_big_source():
    """A 2400x1500 photo (photo.jpg scaled by 3) on the origin, once."""
    path = os.path.join(ROOT, BIG)
    if not os.path.exists(path):
        p = subprocess.run(["vips", "resize", os.path.join(ROOT, "photo.jpg"), path + "[Q=92]", "3"],
                           capture_output=True, timeout=60)
        check(p.returncode == 0, "vips resize: %s" % p.stderr.decode(errors="replace"))
    return ORIGIN + "/" + BIG


@test("chain/crop-then-resize-equals-two-requests")
def _():
    src = make_big_source()
    crop, resize = "c:1600:1000:nowe", "rs:fit:400:400"
    chained = imgtest.plain("%s/-/%s/f:png" % (crop, resize), src)
    chain_times, two_times = [], []
    for i in range(RUNS):
        r, secs = timed(chained)
        expect_image(r, "png", 400, 250, bands=3)
        chain_times.append(secs)
        chain_body = r.body
        # The two steps as two requests: the first's result (lossless) is the second's source.
        r1, s1 = timed(imgtest.plain("%s/f:png" % crop, src))
        expect_image(r1, "png", 1600, 1000, bands=3)
        step = "chain-step-%d-%d.png" % (os.getpid(), i)
        with open(os.path.join(ROOT, step), "wb") as f:
            f.write(r1.body)
        r2, s2 = timed(imgtest.plain("%s/f:png" % resize, ORIGIN + "/" + step))
        expect_image(r2, "png", 400, 250, bands=3)
        two_times.append(s1 + s2)
        two_body = r2.body
        os.unlink(os.path.join(ROOT, step))
    mx, avg = pixel_diff(chain_body, two_body)
    check(mx <= 2 and avg < 0.1, "chain vs two requests: max diff %g, mean %g" % (mx, avg))
    chain_med, two_med = statistics.median(chain_times), statistics.median(two_times)
    print("     chain: median %.1f ms, two requests: median %.1f ms (%d runs each); "
          "pixels: max diff %g, mean %.4f" % (chain_med * 1000, two_med * 1000, RUNS, mx, avg),
          flush=True)
    check(chain_med < two_med, "the chain took %.1f ms, the two requests %.1f ms"
          % (chain_med * 1000, two_med * 1000))


@test("chain/trim-after-resize")
def _():
    # The documented use: a cheap trim on the small image the first pipeline made.
    r, _ = get(imgtest.plain("rs:fit:200:200/-/trim:10/f:png", ORIGIN + "/photo.jpg"))
    check(r.status == 200, "status %r" % r)
    info = imgtest.image_info(r.body)
    check(int(info["width"]) <= 200 and int(info["height"]) <= 125, "size %r" % info)


@test("chain/request-level-last-wins")
def _():
    r, _ = get(imgtest.plain("f:jpeg/w:100/-/w:50/f:webp", ORIGIN + "/photo.jpg"))
    expect_width(r, "webp", 50)


@test("chain/max-chained-pipelines")
def _():
    r, rid = get(imgtest.plain("w:300/-/w:200/-/w:100", ORIGIN + "/photo.jpg"))
    expect_width(r, "jpeg", 100)
    r, rid = get(imgtest.plain("w:300/-/w:200/-/w:100/-/w:50", ORIGIN + "/photo.jpg"))
    expect_error(r, 404, "Invalid URL")
    check("IMGPROXY_MAX_CHAINED_PIPELINES" in log_line(rid), "log: %r" % log_line(rid))


# ------------------------------------------------------------------ /enc/

@test("enc/same-image-as-plain")
def _():
    src = ORIGIN + "/photo.jpg"
    r_enc, _ = get(enc_path("rs:fit:200:200/f:png", encrypt(src)))
    r_plain, _ = get(imgtest.plain("rs:fit:200:200/f:png", src))
    expect_image(r_enc, "png", 200, 125)
    expect_image(r_plain, "png", 200, 125)
    mx, _ = pixel_diff(r_enc.body, r_plain.body)
    check(mx == 0, "/enc/ and plain differ: max %g" % mx)
    # An extension after the payload, and a payload in one piece.
    r, _ = get(enc_path("rs:fit:100:100", encrypt(src), ext="webp", split=1000))
    expect_image(r, "webp", 100, 63)
    # The decrypted URL is not sent back: no file name taken from it.
    check("photo" not in r.headers.get("content-disposition", ""),
          "Content-Disposition %r" % r.headers.get("content-disposition"))


@test("enc/bad-payloads-404-no-plaintext-logged")
def _():
    src = ORIGIN + "/photo.jpg"
    good = encrypt(src)
    # A wrong key and a changed last block whose padding openssl also refuses.
    wrong = next(p for p in (encrypt(src, key="%02x" % i * 32) for i in range(1, 64))
                 if not openssl_decrypts(p))
    flipped = next(p for p in (good[:-3] + c + good[-2:] for c in "ABCDEFGHIJ" if c != good[-3])
                   if not openssl_decrypts(p))
    cases = {
        "wrong key": wrong,
        "short (IV only)": good[:22],
        "misaligned": good[:-5],
        "bad base64": good[:10] + "*" + good[11:],
        "bad padding": flipped,
    }
    for what, payload in cases.items():
        r, rid = get(enc_path("rs:fit:100:100", payload))
        expect_error(r, 404, "Invalid URL")
        line = log_line(rid)
        check("can't be decrypted" in line, "%s: log %r" % (what, line))
        check("photo" not in line and "127.0.0.1" not in line,
              "%s: the log names the source: %r" % (what, line))


@test("enc/failed-download-hides-source")
def _():
    r, rid = get(enc_path("rs:fit:100:100", encrypt(ORIGIN + "/secret-missing-name.jpg")))
    check(r.status == 404, "status %r" % r)
    line = log_line(rid)
    check("secret-missing-name" not in line, "log names the source: %r" % line)


# ------------------------------------------------------------------ fallback_image_url

def fiu(url):
    return "fiu:" + imgtest.b64(url)


@test("fiu/missing-source-gives-fallback")
def _():
    start = log_size()
    missing = "missing-%d.jpg" % os.getpid()
    r, rid = get(imgtest.plain("rs:fit:100:100/%s/f:png" % fiu(ORIGIN + "/fallback.png"),
                               ORIGIN + "/" + missing))
    # IMGPROXY_FALLBACK_IMAGE_HTTP_CODE is 200 by default; the 37x23 black image, processed.
    expect_image(r, "png", 37, 23)
    check(vips_max_of(r.body) == 0, "the fallback is not the black image")
    check(log_line(rid) != "", "no request line")
    text = log_since(start)
    check(missing in text and "Using fallback image %s/fallback.png" % ORIGIN in text,
          "no fallback line in the log: %r" % text[-500:])
    # A source that downloads is not replaced.
    r, _ = get(imgtest.plain("rs:fit:100:100/%s" % fiu(ORIGIN + "/fallback.png"),
                             ORIGIN + "/photo.jpg"))
    expect_image(r, "jpeg", 100, 63)


def vips_max_of(body):
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(body)
        f.flush()
        return vips_stat("max", f.name)


@test("fiu/fetched-once-for-many-requests")
def _():
    marker = "fiu%d%d" % (os.getpid(), int(time.time() * 1000))
    url = ORIGIN + "/fallback.png?m=" + marker
    n = 6
    for i in range(n):
        r, _ = get(imgtest.plain("rs:fit:100:100/%s/f:png" % fiu(url),
                                 ORIGIN + "/missing-%s-%d.jpg" % (marker, i)))
        expect_image(r, "png", 37, 23)
    time.sleep(0.2)
    with open(ORIGIN_LOG, errors="replace") as f:
        fetched = [ln for ln in f if "/fallback.png?m=" + marker in ln]
        f.seek(0)
        missing = sum(1 for ln in f if "/missing-%s-" % marker in ln)
    check(missing == n, "the origin saw %d of the %d sources" % (missing, n))
    check(len(fetched) == 1, "the fallback image was fetched %d times for %d requests"
          % (len(fetched), n))


@test("fiu/refused-address-refused")
def _():
    # Private addresses are refused on this instance: the fallback is never fetched, and the
    # source's own error stands.
    r, rid = get(imgtest.plain("rs:fit:100:100/%s" % fiu("http://10.11.12.13/x.png"),
                               ORIGIN + "/missing-refused.jpg"))
    expect_error(r, 404)
    text = log_since(0)
    check("Could not load the fallback image" in text and "Source address is not allowed" in text,
          "no guard line for the fallback in the log")
    check("id=" + rid in log_line(rid), "no request line")


# ------------------------------------------------------------------ hashsum

@test("hs/match-and-mismatch")
def _():
    with open(os.path.join(ROOT, "photo.jpg"), "rb") as f:
        data = f.read()
    src = ORIGIN + "/photo.jpg"
    for kind in ("md5", "sha1", "sha256", "sha512"):
        hexd = hashlib.new(kind, data).hexdigest()
        r, _ = get(imgtest.plain("rs:fit:100:100/hs:%s:%s" % (kind, hexd), src))
        expect_image(r, "jpeg", 100, 63)
        # Case does not matter.
        r, _ = get(imgtest.plain("rs:fit:100:100/hs:%s:%s" % (kind, hexd.upper()), src))
        expect_image(r, "jpeg", 100, 63)
        bad = ("0" if hexd[0] != "0" else "1") + hexd[1:]
        r, rid = get(imgtest.plain("rs:fit:100:100/hs:%s:%s" % (kind, bad), src))
        expect_error(r, 422)
        check("hashsum mismatch" in log_line(rid), "log: %r" % log_line(rid))
    r, _ = get(imgtest.plain("rs:fit:100:100/hs:none", src))
    expect_image(r, "jpeg", 100, 63)
    r, _ = get(imgtest.plain("rs:fit:100:100/hs:sha256:abc", src))
    expect_error(r, 404, "Invalid URL")


@test("health-after")
def _():
    imgtest.expect_alive(FRONT, PID, TIMEOUT)


if __name__ == "__main__":
    sys.exit(SUITE.main(sys.argv[1:], RESULT))
