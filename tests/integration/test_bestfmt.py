#!/usr/bin/env python3
"""test_bestfmt.py: format:best and autoquality through nginx.

Started by run.sh (nginx host) against imgfcgi-bf: debug logging (the
candidates' sizes and every autoquality encode are logged), IMGPROXY_AUTO_WEBP
on, the other settings at their defaults (IMGFCGI_MAX_ENCODES 8). At start it
makes its fixtures into IT_ROOT/bestfmt: a flat-colour graphic (PNG) and a
small SVG. Each test reads the log lines its request wrote (requests run one
at a time) and checks the response against them:

- f:best / @best / .best: a lossy format for the photo, PNG or lossless WebP
  for the graphic, and the body is the smallest candidate logged;
- aq:size:<bytes>: the body fits the target, or it is the result at the
  minimum quality (the same URL with q:<min> gives the same bytes);
- aq:dssim:0.02: the DSSIM of the result against the same pipeline's
  lossless (PNG) result, computed here in Python (sRGB to CIE L*a*b* D65,
  SSIM with an 11x11 Gaussian window, sigma 1.5, over the pixels whose window
  fits, each channel scaled to 0..1, the three averaged, DSSIM = 1/SSIM - 1),
  is within 0.005 of
  0.02, on a smooth photograph made from the photo (the photo, a forest in
  fine detail, needs more than q95 for 0.02); never more than 8 encodes.

Prints "figure ..." lines (docs/best-format.md quotes them), one line per
failure and "  bestfmt: N passed, N failed".
"""
import math
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import b64path, check, http_get, image_info, plain  # noqa: E402

SUITE = imgtest.Suite()
test = SUITE.test

FRONT = os.environ["IT_BF_FRONT"]
LOG = os.environ["IT_BF_LOG"]
ROOT = os.environ["IT_ROOT"]
RESULT = os.environ.get("IT_BF_RESULT")
MAX_ENCODES = 8
WORK = tempfile.mkdtemp(prefix="bestfmt-", dir=os.path.dirname(os.path.abspath(ROOT)))
SRC = os.path.join(ROOT, "bestfmt")
WEBP = {"Accept": "image/webp,image/*,*/*;q=0.8"}

CANDIDATE = re.compile(r"best format: candidate (\w+)( lossless| palette)? q=(\d+): (\d+) bytes")
AQ_ENCODE = re.compile(r"autoquality: (\w+) q=(\d+): (\d+) bytes(?:, dssim ([0-9.]+))?")


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# ---------------------------------------------------------------- fixtures

def make_fixtures():
    os.makedirs(SRC, exist_ok=True)
    w, h = 320, 200
    rows = []
    for y in range(h):
        row = bytearray()
        for x in range(w):
            if 40 <= x < 160 and 30 <= y < 120:
                row += bytes((200, 30, 30))
            elif y >= 150:
                row += bytes((20, 90, 200))
            elif (x - 240) ** 2 + (y - 70) ** 2 < 40 ** 2:
                row += bytes((30, 160, 60))
            else:
                row += bytes((245, 245, 240))
        rows.append(bytes(row))
    ppm = os.path.join(WORK, "flat.ppm")
    with open(ppm, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h) + b"".join(rows))
    run("vips", "copy", ppm, os.path.join(SRC, "flat.png"))
    # A smooth photograph: the photo at 40x25 enlarged 8 times. The photo itself
    # (a forest in fine detail) needs more than q95 for DSSIM 0.02.
    run("vips", "resize", os.path.join(ROOT, "photo.jpg"), os.path.join(WORK, "small.v"), "0.05")
    run("vips", "resize", os.path.join(WORK, "small.v"), os.path.join(SRC, "smooth.png"), "8")
    with open(os.path.join(SRC, "shape.svg"), "w") as f:
        f.write('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80">'
                '<rect width="120" height="80" fill="#fff"/>'
                '<circle cx="60" cy="40" r="30" fill="#c00"/></svg>')


# ---------------------------------------------------------------- helpers

def get(path, headers=None):
    """The response to path and the log lines imgfcgi wrote while answering it."""
    start = os.path.getsize(LOG)
    r = http_get(FRONT, path, headers=headers)
    with open(LOG, "rb") as f:
        f.seek(start)
        lines = f.read().decode(errors="replace").splitlines()
    return r, lines


def candidates(lines):
    """[(format, variant, quality, bytes)] from the candidate log lines."""
    out = []
    for line in lines:
        m = CANDIDATE.search(line)
        if m:
            out.append((m.group(1), (m.group(2) or "").strip(), int(m.group(3)), int(m.group(4))))
    return out


def aq_encodes(lines):
    return [m for m in (AQ_ENCODE.search(line) for line in lines) if m]


def body_format(body):
    """(format, lossless) of an encoded body, from vipsheader and the WebP chunk."""
    fmt = image_info(body).get("vips-loader", "")
    if fmt == "webpload":
        return "webp", b"VP8L" in body[12:40]
    return {"jpegload": "jpeg", "pngload": "png", "gifload": "gif", "heifload": "avif"}.get(
        fmt, fmt), fmt in ("pngload", "gifload")


def best_case(label, path, want_lossless):
    r, lines = get(path, WEBP)
    check(r.status == 200, "%s: %r" % (label, r))
    cands = candidates(lines)
    check(len(cands) >= 2, "%s: want at least 2 candidates logged, got %r" % (label, cands))
    smallest = min(c[3] for c in cands)
    check(len(r.body) == smallest, "%s: body %d bytes, smallest candidate %d (%r)"
          % (label, len(r.body), smallest, cands))
    fmt, lossless = body_format(r.body)
    check(lossless == want_lossless and fmt in (("png", "webp") if want_lossless else ("jpeg", "webp")),
          "%s: got %s (lossless %s), want %s" % (label, fmt, lossless,
                                                  "PNG or lossless WebP" if want_lossless else "lossy"))
    check(r.ctype() == imgtest.MIME[fmt], "%s: Content-Type %s for a %s body" % (label, r.ctype(), fmt))
    print("figure %s: %s -> %s%s, %d bytes" % (
        label, ", ".join("%s%s q%d %d B" % (c[0], " " + c[1] if c[1] else "", c[2], c[3]) for c in cands),
        fmt, " lossless" if lossless and fmt == "webp" else "", len(r.body)), flush=True)


# ---------------------------------------------------------------- DSSIM, independently

def lab_pixels(body):
    """(w, h, [L], [a], [b]) of the decoded body, sRGB 8-bit to CIE L*a*b* (D65)."""
    src = os.path.join(WORK, "dssim-in.img")
    v, raw = os.path.join(WORK, "dssim.v"), os.path.join(WORK, "dssim.raw")
    with open(src, "wb") as f:
        f.write(body)
    run("vips", "extract_band", src, v, "0", "--n", "3")
    run("vips", "rawsave", v, raw)
    w = int(subprocess.run(["vipsheader", "-f", "width", v], capture_output=True, text=True).stdout)
    h = int(subprocess.run(["vipsheader", "-f", "height", v], capture_output=True, text=True).stdout)
    with open(raw, "rb") as f:
        data = f.read()
    lin = [((c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4) for c in range(256)]

    def f_(t):
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    # Each channel scaled to 0..1 by the sRGB gamut's extent in it (L* 0..100,
    # a* -86.185..98.254, b* -107.863..94.482).
    ls, as_, bs = [], [], []
    for i in range(0, len(data), 3):
        r, g, b = lin[data[i]], lin[data[i + 1]], lin[data[i + 2]]
        x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
        y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
        fx, fy, fz = f_(x), f_(y), f_(z)
        ls.append((116 * fy - 16) / 100)
        as_.append((500 * (fx - fy) + 86.185) / 184.439)
        bs.append((200 * (fy - fz) + 107.863) / 202.345)
    return w, h, ls, as_, bs


def ssim_channel(p, q, w, h):
    k = [math.exp(-((i - 5) ** 2) / (2 * 1.5 ** 2)) for i in range(11)]
    s = sum(k)
    k = [v / s for v in k]
    ow, oh = w - 10, h - 10

    def hpass(img):
        out = []
        for y in range(h):
            row = img[y * w:(y + 1) * w]
            out.append([sum(k[j] * row[x + j] for j in range(11)) for x in range(ow)])
        return out

    def vpass(rows):
        return [[sum(k[j] * rows[y + j][x] for j in range(11)) for x in range(ow)] for y in range(oh)]

    mx, my = vpass(hpass(p)), vpass(hpass(q))
    xx = vpass(hpass([v * v for v in p]))
    yy = vpass(hpass([v * v for v in q]))
    xy = vpass(hpass([a * b for a, b in zip(p, q)]))
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    total = 0.0
    for y in range(oh):
        for x in range(ow):
            a, b = mx[y][x], my[y][x]
            va, vb, cab = xx[y][x] - a * a, yy[y][x] - b * b, xy[y][x] - a * b
            total += (2 * a * b + c1) * (2 * cab + c2) / ((a * a + b * b + c1) * (va + vb + c2))
    return total / (ow * oh)


def dssim(ref_body, body):
    w, h, *ref = lab_pixels(ref_body)
    w2, h2, *got = lab_pixels(body)
    check((w, h) == (w2, h2), "sizes differ: %dx%d and %dx%d" % (w, h, w2, h2))
    ssim = sum(ssim_channel(ref[c], got[c], w, h) for c in range(3)) / 3
    return 1 / ssim - 1


# ---------------------------------------------------------------- tests

PHOTO = "local:///photo.jpg"
FLAT = "local:///bestfmt/flat.png"
SMOOTH = "local:///bestfmt/smooth.png"


@test("bestfmt/best/photo-lossy")
def _():
    best_case("f:best photo.jpg", plain("rs:fit:300:300/f:best", PHOTO), False)


@test("bestfmt/best/flat-lossless")
def _():
    best_case("f:best flat.png", plain("rs:fit:300:300/f:best", FLAT), True)


@test("bestfmt/best/extension")
def _():
    best_case("@best flat.png", plain("rs:fit:300:300", FLAT, ext="best"), True)
    best_case(".best photo.jpg", b64path("rs:fit:300:300", PHOTO, ext="best"), False)


@test("bestfmt/best/no-webp-accept")
def _():
    # Without image/webp in Accept the candidates are the preferred formats' only.
    r, lines = get(plain("rs:fit:300:300/f:best", FLAT), {"Accept": "image/png"})
    check(r.status == 200, "%r" % r)
    cands = candidates(lines)
    check(cands and all(c[0] != "webp" for c in cands), "candidates %r" % cands)
    check(r.ctype() == "image/png", "Content-Type %s" % r.ctype())


@test("bestfmt/best/svg-rasterised")
def _():
    # IMGPROXY_BEST_FORMAT_ALLOW_SKIPS is off: an SVG source is processed, not passed through.
    r, lines = get(plain("f:best", "local:///bestfmt/shape.svg"), WEBP)
    check(r.status == 200 and r.ctype() != "image/svg+xml", "%r" % r)
    check(len(candidates(lines)) >= 1, "no candidate logged")


@test("bestfmt/best/explicit-format-wins")
def _():
    r, lines = get(plain("f:best/f:png", PHOTO), WEBP)
    check(r.status == 200 and r.ctype() == "image/png", "%r" % r)
    check(not candidates(lines), "candidates logged for f:png")


def size_case(target, lo=10, hi=90):
    opts = "rs:fit:400:400/aq:size:%d:%d:%d" % (target, lo, hi)
    r, lines = get(plain(opts, PHOTO, ext="jpg"))
    check(r.status == 200 and r.ctype() == "image/jpeg", "%s: %r" % (opts, r))
    enc = aq_encodes(lines)
    check(1 <= len(enc) <= MAX_ENCODES, "%s: %d encodes" % (opts, len(enc)))
    if len(r.body) <= target:
        verdict = "fits"
    else:
        at_min = http_get(FRONT, plain("rs:fit:400:400/q:%d" % lo, PHOTO, ext="jpg"))
        check(at_min.status == 200, "q:%d: %r" % (lo, at_min))
        check(r.body == at_min.body, "%s: %d bytes, over the target and not the q:%d result (%d)"
              % (opts, len(r.body), lo, len(at_min.body)))
        verdict = "minimum quality"
    print("figure aq:size:%d: %d bytes (%s), %d encodes: %s" % (
        target, len(r.body), verdict, len(enc),
        ", ".join("q%s %s B" % (m.group(2), m.group(3)) for m in enc)), flush=True)
    return len(r.body), verdict


@test("bestfmt/aq/size")
def _():
    at_max = len(http_get(FRONT, plain("rs:fit:400:400/q:90", PHOTO, ext="jpg")).body)
    at_min = len(http_get(FRONT, plain("rs:fit:400:400/q:10", PHOTO, ext="jpg")).body)
    check(at_min < at_max, "q10 %d, q90 %d" % (at_min, at_max))
    check(size_case(at_max + 1000)[1] == "fits", "a target above q:90 must fit")
    check(size_case((at_min + at_max) // 2)[1] == "fits", "a middle target must fit")
    check(size_case(at_min // 2)[1] == "minimum quality", "a target below q:10 gives q:10")


def dssim_case(fmt, method="dssim"):
    opts = "rs:fit:160:100/aq:%s:0.02:10:95:0.001" % method
    r, lines = get(plain(opts, SMOOTH, ext=fmt))
    mime = imgtest.MIME["jpeg" if fmt == "jpg" else fmt]
    check(r.status == 200 and r.ctype() == mime, "%s@%s: %r" % (opts, fmt, r))
    enc = aq_encodes(lines)
    check(1 <= len(enc) <= MAX_ENCODES, "%s@%s: %d encodes" % (opts, fmt, len(enc)))
    ref = http_get(FRONT, plain("rs:fit:160:100", SMOOTH, ext="png"))
    check(ref.status == 200, "reference: %r" % ref)
    d = dssim(ref.body, r.body)
    logged = [float(m.group(4)) for m in enc if m.group(4) is not None]
    print("figure aq:%s:0.02@%s: %d bytes, DSSIM here %.5f, encodes %s" % (
        method, fmt, len(r.body), d,
        ", ".join("q%s %s B %s" % (m.group(2), m.group(3), m.group(4)) for m in enc)), flush=True)
    check(abs(d - 0.02) <= 0.005, "%s@%s: DSSIM %.5f, want 0.02 +- 0.005" % (opts, fmt, d))
    check(logged and min(abs(v - d) for v in logged) < 0.002,
          "the DSSIM measured here (%.5f) matches none logged (%r)" % (d, logged))


@test("bestfmt/aq/dssim-jpeg")
def _():
    dssim_case("jpg")


@test("bestfmt/aq/dssim-webp")
def _():
    dssim_case("webp")


@test("bestfmt/aq/ml-runs-as-dssim")
def _():
    dssim_case("jpg", "ml")


@test("bestfmt/aq/explicit-quality-wins")
def _():
    r, lines = get(plain("rs:fit:160:100/aq:size:100/q:50", PHOTO, ext="jpg"))
    check(r.status == 200, "%r" % r)
    check(not aq_encodes(lines), "autoquality ran despite q:50")


@test("bestfmt/aq/best-and-dssim")
def _():
    r, lines = get(plain("rs:fit:160:100/f:best/aq:dssim:0.02:10:95", PHOTO), WEBP)
    check(r.status == 200, "%r" % r)
    total = len(candidates(lines)) + len(aq_encodes(lines))
    check(total <= MAX_ENCODES, "%d encodes" % total)


@test("bestfmt/bad-arguments")
def _():
    for opts in ("aq:fast", "aq:size:x", "aq:size:1:0", "aq:size:1:1:101", "aq:dssim:1:1:1:-1",
                 "f:bestest"):
        r = http_get(FRONT, plain(opts, PHOTO))
        check(r.status == 404, "%s: %r" % (opts, r))


def main():
    make_fixtures()
    return SUITE.main(sys.argv[1:], RESULT, label="bestfmt")


if __name__ == "__main__":
    sys.exit(main())
