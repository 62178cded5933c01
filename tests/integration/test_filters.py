#!/usr/bin/env python3
"""test_filters.py: imgproxy Pro's colour, geometry and encoder options, measured.

Started by run.sh (nginx host) against the conformance instance. At start it
writes its sources into IT_ROOT/filters (binary PAM written here, converted by
`vips copy`). Every case is one row of the table below: a request and a check
on its decoded result, measured with the libvips CLI (avg, deviate, getpoint,
extract_area, colourspace, csvsave) or read from the encoded file's own headers
(JPEG SOF, PNG IHDR, WebP chunks, AVIF av1C). The conformance instance applies
a `default=q:90` preset, so cases that depend on the quality give their own.
Prints one line per failure and "  filters: N passed, N failed".
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, expect_error, expect_image, http_get, plain  # noqa: E402

SUITE = imgtest.Suite()
test = SUITE.test

FRONT = os.environ["IT_FILTERS_FRONT"]
ROOT = os.environ["IT_ROOT"]
RESULT = os.environ.get("IT_FILTERS_RESULT")
SRC = os.path.join(ROOT, "filters")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
WORK = tempfile.mkdtemp(prefix="filters-", dir=os.path.dirname(os.path.abspath(ROOT)))


# ---------------------------------------------------------------- fixtures

def write_pam(path, w, h, pixel, bands=3):
    """imgtest.write_image(), readable by the origin."""
    imgtest.write_image(path, w, h, pixel, bands)
    os.chmod(path, 0o644)


def soft_edge(x):
    """80 on the left, 176 on the right, one 128 column between (x = 32)."""
    return int(round(80 + 96 * min(1.0, max(0.0, (x - 31) / 2.0))))


def make_fixtures():
    os.makedirs(SRC, exist_ok=True)
    os.chmod(SRC, 0o755)
    write_pam(os.path.join(SRC, "grey.png"), 64, 64, lambda x, y: (128, 128, 128))
    write_pam(os.path.join(SRC, "white.png"), 64, 64, lambda x, y: (255, 255, 255))
    write_pam(os.path.join(SRC, "colour.png"), 64, 64, lambda x, y: (x * 4, 255 - y * 4, 60))
    write_pam(os.path.join(SRC, "ramp.png"), 256, 16, lambda x, y: (x, x, x))
    write_pam(os.path.join(SRC, "edge.png"), 64, 64, lambda x, y: (soft_edge(x),) * 3)
    write_pam(os.path.join(SRC, "stripes.png"), 64, 64, lambda x, y: (255 * (x % 2),) * 3)
    write_pam(os.path.join(SRC, "checker.png"), 8, 8,
              lambda x, y: (255, 0, 0) if (x + y) % 2 == 0 else (0, 0, 255))
    write_pam(os.path.join(SRC, "big.png"), 600, 700,
              lambda x, y: (x * 255 // 599, y * 255 // 699, 0))
    write_pam(os.path.join(SRC, "wide.png"), 300, 200, lambda x, y: (x * 255 // 299, 0, 0))
    write_pam(os.path.join(SRC, "half-clear.png"), 32, 32,
              lambda x, y: (0, 0, 0, 0) if x < 16 else (0, 0, 255, 255), bands=4)
    with open(os.path.join(SRC, "shape.svg"), "w") as f:
        f.write('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="40" '
                'height="40"><rect width="40" height="40" fill="blue"/></svg>\n')
    os.chmod(os.path.join(SRC, "shape.svg"), 0o644)
    shutil.copy(os.path.join(FIXTURES, "animated.gif"), os.path.join(SRC, "animated.gif"))
    os.chmod(os.path.join(SRC, "animated.gif"), 0o644)


# ---------------------------------------------------------------- measuring

def vips(*args):
    p = subprocess.run(["vips", *map(str, args)], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "vips %s: %s" % (" ".join(map(str, args)), p.stderr[:200]))
    return p.stdout.strip()


_n = [0]


def tmp(suffix):
    _n[0] += 1
    return os.path.join(WORK, "t%d%s" % (_n[0], suffix))


def body_file(r, suffix=".img"):
    path = tmp(suffix)
    with open(path, "wb") as f:
        f.write(r.body)
    return path


def region(path, left, top, w, h):
    out = tmp(".v")
    vips("extract_area", path, out, left, top, w, h)
    return out


def band(path, b):
    out = tmp(".v")
    vips("extract_band", path, out, b)
    return out


def mean(path, b=None):
    return float(vips("avg", band(path, b) if b is not None else path))


def deviate(path):
    return float(vips("deviate", path))


def point(path, x, y):
    return [float(v) for v in vips("getpoint", path, x, y).split()]


def chroma_mean(path):
    lch = tmp(".v")
    vips("colourspace", path, lch, "lch")
    return mean(lch, 1)


def values(path, b):
    """Every value of band b, from csvsave."""
    out = tmp(".csv")
    vips("csvsave", band(path, b), out)
    with open(out) as f:
        return [int(float(v)) for line in f for v in line.split() if v]


def fetch(opts, name, ext="png", fmt=None, w=None, h=None, load_options=""):
    """The 200 result of opts on filters/name as ext; its file's path (and size checked)."""
    r = http_get(FRONT, plain(opts, "local:///filters/" + name, ext))
    if w is not None:
        expect_image(r, fmt or ext, w, h, load_options=load_options)
    check(r.status == 200, "want 200, got %r" % r)
    return body_file(r, "." + ext), r


def near(got, want, tol, what):
    check(abs(got - want) <= tol, "%s: want %.2f +- %.2f, got %.2f" % (what, want, tol, got))


# ---------------------------------------------------------------- colour

@test("filters/brightness")
def _brightness():
    for opts in ("br:40", "brightness:40", "a:40"):
        out, _ = fetch(opts, "grey.png", w=64, h=64)
        near(mean(out), 168, 1.0, opts + " mean")
    out, _ = fetch("br:-200", "grey.png", w=64, h=64)
    near(mean(out), 0, 0.5, "br:-200 clips at 0")


@test("filters/contrast")
def _contrast():
    src = os.path.join(SRC, "ramp.png")
    out, _ = fetch("co:0.5", "ramp.png", w=256, h=16)
    near(deviate(out), deviate(src) * 0.5, 1.0, "co:0.5 standard deviation")
    near(mean(out), mean(src), 1.0, "co:0.5 keeps the mean around 128")
    out, _ = fetch("contrast:1", "ramp.png", w=256, h=16)
    near(deviate(out), deviate(src), 0.01, "co:1 is the identity")


@test("filters/saturation")
def _saturation():
    src_c = chroma_mean(os.path.join(SRC, "colour.png"))
    check(src_c > 20, "the colour fixture is colourful (chroma %.1f)" % src_c)
    for opts in ("sa:0", "saturation:0", "a:::0"):
        out, _ = fetch(opts, "colour.png", w=64, h=64)
        near(chroma_mean(out), 0, 1.5, opts + " chroma")
    out, _ = fetch("sa:0.5", "colour.png", w=64, h=64)
    near(chroma_mean(out), src_c * 0.5, src_c * 0.08, "sa:0.5 chroma")
    # adjust: all three at once.
    out, _ = fetch("a:20:1:0", "grey.png", w=64, h=64)
    near(mean(out), 148, 1.0, "a:20:1:0 mean")


@test("filters/monochrome")
def _monochrome():
    out, _ = fetch("mc:1", "ramp.png", w=256, h=16)
    check(max(point(out, 0, 8)) <= 2, "mc:1: black stays black, got %s" % point(out, 0, 8))
    for v in point(out, 255, 8):
        near(v, 0xb3, 2, "mc:1: white becomes b3b3b3")
    out, _ = fetch("monochrome:1:ff8000", "ramp.png", w=256, h=16)
    want = (255, 128, 0)
    for got, w in zip(point(out, 255, 8), want):
        near(got, w, 2, "mc:1:ff8000 white end")
    out, _ = fetch("mc:0.5", "ramp.png", w=256, h=16)
    near(point(out, 255, 8)[0], (255 + 0xb3) / 2, 2, "mc:0.5 blends with the original")


@test("filters/duotone")
def _duotone():
    out, _ = fetch("dt:1:ff0000:0000ff", "ramp.png", w=256, h=16)
    for got, w in zip(point(out, 0, 8), (255, 0, 0)):
        near(got, w, 2, "dt shadows")
    for got, w in zip(point(out, 255, 8), (0, 0, 255)):
        near(got, w, 2, "dt highlights")
    mid = point(out, 128, 8)
    check(mid[0] > 90 and mid[2] > 90 and mid[1] < 3, "dt mid-tone between the colours: %s" % mid)
    out, _ = fetch("duotone:1", "ramp.png", w=256, h=16)
    near(deviate(out), deviate(os.path.join(SRC, "ramp.png")), 3, "dt:1 defaults black/white")


@test("filters/colorize")
def _colorize():
    out, _ = fetch("col:0.5:00ff00", "grey.png", w=64, h=64)
    for got, w in zip(point(out, 10, 10), (64, 191.5, 64)):
        near(got, w, 1.5, "col:0.5:00ff00")
    # Transparent areas: covered at the opacity, or left clear with keep_alpha.
    out, _ = fetch("col:0.5:ff0000", "half-clear.png", w=32, h=32)
    p = point(out, 4, 4)
    near(p[3], 127.5, 1.5, "col over transparency: alpha")
    near(p[0], 255, 1.5, "col over transparency: colour")
    out, _ = fetch("colorize:0.5:ff0000:1", "half-clear.png", w=32, h=32)
    near(point(out, 4, 4)[3], 0, 0.5, "col keep_alpha: alpha")
    near(point(out, 24, 4)[3], 255, 0.5, "col keep_alpha: opaque side")
    near(point(out, 24, 4)[0], 127.5, 1.5, "col keep_alpha: red mixed in")


@test("filters/gradient")
def _gradient():
    out, _ = fetch("gr:1", "white.png", w=64, h=64)
    near(mean(region(out, 0, 0, 64, 1)), 255, 1, "gr down: top row")
    near(mean(region(out, 0, 63, 64, 1)), 0, 1, "gr down: bottom row")
    near(mean(out), 127.5, 3, "gr down: mean")
    out, _ = fetch("gradient:1:000:up", "white.png", w=64, h=64)
    near(mean(region(out, 0, 0, 64, 1)), 0, 1, "gr up: top row")
    out, _ = fetch("gr:1:000:right", "white.png", w=64, h=64)
    near(mean(region(out, 0, 0, 1, 64)), 255, 1, "gr right: left column")
    near(mean(region(out, 63, 0, 1, 64)), 0, 1, "gr right: right column")
    out, _ = fetch("gr:1:000:90", "white.png", w=64, h=64)
    near(mean(region(out, 0, 0, 1, 64)), 0, 1, "gr 90 degrees: opaque left")
    out, _ = fetch("gr:0.5:000:down:0.5:1", "white.png", w=64, h=64)
    near(mean(region(out, 0, 0, 64, 30)), 255, 1, "gr start 0.5: top half untouched")
    near(mean(region(out, 0, 63, 64, 1)), 127.5, 1.5, "gr opacity 0.5 at the bottom")


def edge_contrast(path):
    """The mean of column 33 minus that of column 31: across the soft edge."""
    return mean(region(path, 33, 0, 1, 64)) - mean(region(path, 31, 0, 1, 64))


@test("filters/unsharp-masking")
def _unsharp():
    plain_out, _ = fetch("", "edge.png", w=64, h=64)
    near(edge_contrast(plain_out), 96, 0.5, "the soft edge without ush")
    out, _ = fetch("ush:always", "edge.png", w=64, h=64)
    # The 3x3 kernel (centre 32, neighbours -1, / 24): 80 -> 74 and 176 -> 182 at the edge.
    near(edge_contrast(out), 108, 1.5, "ush:always raises the edge contrast")
    lo, hi = min(values(out, 0)), max(values(out, 0))
    check(lo <= 75 and hi >= 181, "ush overshoots at the soft edge: %d..%d" % (lo, hi))
    near(mean(region(out, 4, 4, 8, 8)), 80, 0.5, "ush leaves a flat area alone")
    stronger, _ = fetch("ush:always:4:24", "edge.png", w=64, h=64)
    check(edge_contrast(stronger) > edge_contrast(out) + 10, "a larger weight sharpens more")
    weaker, _ = fetch("ush:always::96", "edge.png", w=64, h=64)
    check(edge_contrast(weaker) < edge_contrast(out), "a larger divider sharpens less")
    # auto: only on a downscale; the default (none) keeps the open-source result.
    down, _ = fetch("rs:fit:32:32", "edge.png", w=32, h=32)
    auto, _ = fetch("rs:fit:32:32/ush:auto", "edge.png", w=32, h=32)
    check(max(values(auto, 0)) > max(values(down, 0)) + 2 and
          min(values(auto, 0)) < min(values(down, 0)) - 2, "ush:auto sharpens a downscale")
    same, _ = fetch("ush:auto", "edge.png", w=64, h=64)
    near(edge_contrast(same), edge_contrast(plain_out), 0, "ush:auto leaves an unscaled image alone")
    sharpened, _ = fetch("rs:fit:32:32/sh:1/ush:auto", "edge.png", w=32, h=32)
    only_sharpen, _ = fetch("rs:fit:32:32/sh:1", "edge.png", w=32, h=32)
    with open(sharpened, "rb") as a, open(only_sharpen, "rb") as b:
        check(a.read() == b.read(), "ush:auto stays off when sharpen is given")
    with open(down, "rb") as a, open(fetch("rs:fit:32:32/ush:none", "edge.png")[0], "rb") as b:
        check(a.read() == b.read(), "ush:none is the default")


@test("filters/background-alpha")
def _background_alpha():
    out, _ = fetch("bg:ffffff/bga:0.5", "half-clear.png", w=32, h=32)
    p = point(out, 4, 4)
    near(p[3], 127.5, 1.5, "bga:0.5 alpha over transparency")
    near(p[0], 255, 1, "bga:0.5 colour")
    near(point(out, 24, 4)[3], 255, 0.5, "bga: opaque pixels stay opaque")
    out, _ = fetch("bg:ffffff/bga:0.5", "half-clear.png", "jpg", "jpeg", 32, 32)
    near(point(out, 4, 4)[0], 255, 3, "bga on JPEG: flattened fully")


@test("filters/animated")
def _animated():
    # co:0 maps every pixel to the middle grey: each frame must come out flat 128.
    r = http_get(FRONT, plain("maf:100/co:0", "local:///filters/animated.gif", "gif"))
    check(r.status == 200, "animated: %r" % r)
    info = imgtest.image_info(r.body, "[n=-1]")
    n = int(info.get("n-pages", "1"))
    check(n > 1, "frames kept: %d" % n)
    f = body_file(r, ".gif") + "[n=-1]"
    ph, w = int(info.get("page-height", info["height"])), int(info["width"])
    for i in range(n):
        frame = region(f, 0, i * ph, w, ph)
        near(mean(band(frame, 0)), 128, 2, "frame %d mean" % i)
        check(deviate(band(frame, 0)) < 1, "frame %d is flat" % i)


# ---------------------------------------------------------------- geometry

@test("filters/crop-aspect-ratio")
def _car():
    out, _ = fetch("car:1", "wide.png", w=200, h=200)
    near(mean(out, 0), 127.5, 2, "car:1 centred square")
    out, _ = fetch("crop_ar:2", "wide.png", w=300, h=150)
    # The documented example: crop 100x200 at (300, 400), grown to 200x200.
    out, _ = fetch("crop:100:200:nowe:300:400/crop_aspect_ratio:1:1", "big.png", w=200, h=200)
    near(point(out, 0, 0)[0], 300 * 255 // 599, 1, "car example: left edge at x=300")
    near(point(out, 0, 0)[1], 400 * 255 // 699, 1, "car example: top edge at y=400")
    near(point(out, 199, 199)[0], 499 * 255 // 599, 1, "car example: right edge")
    out, _ = fetch("crop:100:200:nowe:300:400/car:1", "big.png", w=100, h=100)


@test("filters/resizing-algorithm")
def _ra():
    out, _ = fetch("rs:fill:64:64:1/ra:nearest", "checker.png", w=64, h=64)
    r, g, b = values(out, 0), values(out, 1), values(out, 2)
    pairs = set(zip(r, g, b))
    check(pairs <= {(255, 0, 0), (0, 0, 255)}, "ra:nearest: only source colours, got %d colours" % len(pairs))
    check(len(pairs) == 2, "ra:nearest keeps both colours")
    near(point(out, 3, 3)[0], 255, 0, "ra:nearest: an 8x8 block per source pixel")
    near(point(out, 11, 3)[2], 255, 0, "ra:nearest: the next block")
    out, _ = fetch("rs:fill:64:64:1/resizing_algorithm:lanczos3", "checker.png", w=64, h=64)
    check(len(set(values(out, 0))) > 2, "lanczos3 interpolates")
    for k in ("linear", "cubic", "lanczos2"):
        out, _ = fetch("rs:fill:64:64:1/ra:" + k, "checker.png", w=64, h=64)
        check(len(set(values(out, 0))) > 2, "ra:%s interpolates" % k)


# ---------------------------------------------------------------- encoders

def jpeg_sof(data):
    """(marker, [sampling factors]) of the JPEG's frame header."""
    i = 2
    while i + 4 <= len(data):
        check(data[i] == 0xFF, "bad JPEG marker at %d" % i)
        m = data[i + 1]
        n = data[i + 2] << 8 | data[i + 3]
        if m in (0xC0, 0xC1, 0xC2):
            ncomp = data[i + 9]
            return m, [data[i + 11 + 3 * c] for c in range(ncomp)]
        i += 2 + n
    check(False, "no SOF in the JPEG")


@test("filters/jpeg-options")
def _jpgo():
    base, r0 = fetch("q:80", "colour.png", "jpg", "jpeg", 64, 64)
    m, samp = jpeg_sof(r0.body)
    check(m == 0xC0 and samp[0] == 0x22, "default: baseline 4:2:0, got %x %s" % (m, samp))
    _, r = fetch("q:80/jpgo:1", "colour.png", "jpg", "jpeg", 64, 64)
    check(jpeg_sof(r.body)[0] == 0xC2, "jpgo:1 is progressive")
    _, r = fetch("q:80/jpeg_options::1", "colour.png", "jpg", "jpeg", 64, 64)
    m, samp = jpeg_sof(r.body)
    check(m == 0xC0 and samp[0] == 0x11, "jpgo::1: no subsampling, got %s" % samp)
    # The mozjpeg-only parts are accepted (Debian's libjpeg-turbo ignores them).
    fetch("q:80/jpgo:1:0:1:1:1:3", "colour.png", "jpg", "jpeg", 64, 64)
    expect_error(http_get(FRONT, plain("jpgo:1:0:0:0:0:9", "local:///filters/colour.png", "jpg")), 404)


def png_ihdr(data):
    check(data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG")
    return {"depth": data[24], "type": data[25], "interlace": data[28]}


@test("filters/png-options")
def _pngo():
    _, r = fetch("", "colour.png", "png", "png", 64, 64)
    h = png_ihdr(r.body)
    check(h["type"] == 2 and h["depth"] == 8 and h["interlace"] == 0, "default PNG: %s" % h)
    _, r = fetch("pngo:1", "colour.png", "png", "png", 64, 64)
    check(png_ihdr(r.body)["interlace"] == 1, "pngo:1 interlaced")
    out, r = fetch("png_options::1:4", "colour.png", "png", "png", 64, 64)
    h = png_ihdr(r.body)
    check(h["type"] == 3 and h["depth"] == 2, "pngo::1:4: palette of 2 bits, got %s" % h)
    colours = set(zip(values(out, 0), values(out, 1), values(out, 2)))
    check(len(colours) <= 4, "pngo::1:4: at most 4 colours, got %d" % len(colours))


def riff_chunks(data):
    check(data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP")
    i, out = 12, []
    while i + 8 <= len(data):
        n = int.from_bytes(data[i + 4:i + 8], "little")
        out.append(data[i:i + 4])
        i += 8 + n + (n & 1)
    return out


@test("filters/webp-options")
def _webpo():
    _, r = fetch("", "colour.png", "webp", "webp", 64, 64)
    check(b"VP8 " in riff_chunks(r.body), "default WebP is lossy")
    out, r = fetch("webpo:lossless", "colour.png", "webp", "webp", 64, 64)
    check(b"VP8L" in riff_chunks(r.body), "webpo:lossless writes VP8L")
    diff = tmp(".v")
    vips("subtract", out, os.path.join(SRC, "colour.png"), diff)
    absd = tmp(".v")
    vips("abs", diff, absd)
    near(float(vips("max", absd)), 0, 0, "webpo:lossless is exact")
    _, r = fetch("webp_options:near_lossless", "colour.png", "webp", "webp", 64, 64)
    check(b"VP8L" in riff_chunks(r.body), "near_lossless is a lossless bitstream")
    fetch("webpo:lossy:1:drawing", "colour.png", "webp", "webp", 64, 64)
    expect_error(http_get(FRONT, plain("webpo:lossy:0:portrait", "local:///filters/colour.png", "webp")), 404)


def av1c_subsampling(data):
    i = data.find(b"av1C")
    check(i > 0, "no av1C box")
    flags = data[i + 6]
    return (flags >> 3) & 1, (flags >> 2) & 1


@test("filters/avif-options")
def _avifo():
    _, r = fetch("q:60", "colour.png", "avif", "avif", 64, 64)
    check(av1c_subsampling(r.body) == (1, 1), "auto below quality 90: 4:2:0")
    _, r = fetch("q:60/avifo:off", "colour.png", "avif", "avif", 64, 64)
    check(av1c_subsampling(r.body) == (0, 0), "avifo:off: 4:4:4")
    _, r = fetch("q:95/avif_options:on", "colour.png", "avif", "avif", 64, 64)
    check(av1c_subsampling(r.body) == (1, 1), "avifo:on: 4:2:0 even at 95")


@test("filters/color-profile")
def _cp():
    _, r = fetch("cp:cmyk", "colour.png", "jpg", "jpeg", 64, 64)
    info = imgtest.image_info(r.body)
    check(info.get("interpretation") == "cmyk" and info.get("bands") == "4",
          "cp:cmyk JPEG: %s %s" % (info.get("interpretation"), info.get("bands")))
    check("icc-profile-data" in info, "cp:cmyk embeds the profile")
    _, r = fetch("icc:srgb", "colour.png", "png", "png", 64, 64)
    check("icc-profile-data" in imgtest.image_info(r.body), "cp:srgb embeds a profile")
    _, r = fetch("cp:cmyk", "colour.png", "png", "png", 64, 64)
    check(imgtest.image_info(r.body).get("bands") == "3", "cp:cmyk on PNG: skipped")
    # A file of IMGPROXY_COLOR_PROFILES_DIR (Debian's /usr/share/color/icc), by its base name.
    if os.path.exists("/usr/share/color/icc/compatibleWithAdobeRGB1998.icc"):
        out, r = fetch("cp:compatibleWithAdobeRGB1998", "colour.png", "png", "png", 64, 64)
        prof = subprocess.run(["vipsheader", "-f", "icc-profile-data", out], capture_output=True,
                              text=True).stdout.strip()
        check(b"Adobe" in base64.b64decode(prof), "the Adobe RGB profile is embedded")
        # Pure sRGB green (0, 255, 60) sits inside Adobe RGB: red and blue grow.
        p = point(out, 0, 0)
        check(p[0] > 40 and p[1] > 200, "Adobe RGB values of sRGB green: %s" % p)
    for bad in ("cp:..%2F..%2Fetc%2Fpasswd", "cp:no-such-profile", "cp:.x"):
        expect_error(http_get(FRONT, plain(bad, "local:///filters/colour.png", "png")), 404)


@test("filters/style")
def _style():
    css = imgtest.b64("rect{fill:#ff0000}")
    out, _ = fetch("", "shape.svg", "png", "png", 40, 40)
    check(point(out, 20, 20)[:3] == [0, 0, 255], "the SVG is blue without style")
    out, _ = fetch("st:" + css, "shape.svg", "png", "png", 40, 40)
    check(point(out, 20, 20)[:3] == [255, 0, 0], "st: the CSS wins when rasterised")
    r = http_get(FRONT, plain("style:" + css, "local:///filters/shape.svg"))
    check(r.status == 200 and r.ctype() == "image/svg+xml", "SVG passthrough: %r" % r)
    check(b"<style>rect{fill:#ff0000}</style><rect" in r.body, "st: injected into the root: %r" % r.body)
    # Raster sources ignore it.
    a, _ = fetch("", "grey.png", "png", "png", 64, 64)
    b, _ = fetch("st:" + css, "grey.png", "png", "png", 64, 64)
    near(mean(b), mean(a), 0, "st on a raster source")
    for bad in ("</style><script>alert(1)</script>", "@import 'http://x/';", "a{fill:url(#x)}"):
        expect_error(http_get(FRONT, plain("st:" + imgtest.b64(bad), "local:///filters/shape.svg")), 404)


@test("filters/errors")
def _errors():
    for opts in ("br:300", "co:-1", "sa:x", "mc:2", "dt:1:zzz", "col:1.5", "gr:1:000:diagonal",
                 "ush:sometimes", "bga:2", "car:-1", "ra:bilinear", "avifo:maybe", "pngo:::1"):
        expect_error(http_get(FRONT, plain(opts, "local:///filters/grey.png", "png")), 404)


def main():
    make_fixtures()
    try:
        return SUITE.main(sys.argv[1:], RESULT, label="filters")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
