#!/usr/bin/env python3
"""test_colour.py: colour management held against LittleCMS.

Started by run.sh (nginx host) against the conformance instance (security
options allowed, so `maf` can ask for animation frames). At start it makes
its fixtures from tests/fixtures/photo.jpg and animated.gif with libvips'
icc_export and the profiles of Debian's icc-profiles-free and colord-data
(and libvips' built-in cmyk and p3 profiles), into IT_ROOT/colour; then the
references with LittleCMS's jpgicc/tificc (relative colorimetric with
black-point compensation, imgfcgi's default), resized with libvips to the
result's size. Each case asserts the mean and the 99th percentile of the
absolute difference per channel (0-255) between imgfcgi's decoded result
and its reference, and prints them ("figure ..." lines, for docs/colour.md).
Prints one line per failure and "  colour: N passed, N failed".
"""
import base64
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, http_get, plain  # noqa: E402

SUITE = imgtest.Suite()
test = SUITE.test

FRONT = os.environ["IT_COLOUR_FRONT"]
ROOT = os.environ["IT_ROOT"]
RESULT = os.environ.get("IT_COLOUR_RESULT")
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
ICC = "/usr/share/color/icc"
# Beside IT_ROOT in run.sh's temp dir, which run.sh removes when everything passed.
WORK = tempfile.mkdtemp(prefix="colour-", dir=os.path.dirname(os.path.abspath(ROOT)))
SRC = os.path.join(ROOT, "colour")


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def header(path, field):
    return subprocess.run(["vipsheader", "-f", field, path], check=True, capture_output=True,
                          text=True).stdout.strip()


def profile(path):
    """The ICC profile libvips reads from path, as bytes, or None."""
    r = subprocess.run(["vipsheader", "-f", "icc-profile-data", path], capture_output=True,
                       text=True)
    return base64.b64decode(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else None


def tmp(name):
    return os.path.join(WORK, name)


# ---------------------------------------------------------------- fixtures

def strip_jpeg_icc(data):
    """The JPEG without its APP2 ICC_PROFILE segments (the pixels' bytes untouched)."""
    out, i = bytearray(data[:2]), 2
    while i + 4 <= len(data) and data[i] == 0xFF and data[i + 1] != 0xDA:
        n = 2 + (data[i + 2] << 8 | data[i + 3])
        if not (data[i + 1] == 0xE2 and data[i + 4:i + 16] == b"ICC_PROFILE\0"):
            out += data[i:i + n]
        i += n
    return bytes(out + data[i:])


def make_fixtures():
    os.makedirs(SRC, exist_ok=True)
    base = tmp("base.v")
    run("vips", "copy", os.path.join(FIXTURES, "photo.jpg"), base)
    exports = {
        "cmyk.jpg[Q=95]": "cmyk",
        "p3.jpg[Q=95]": "p3",
        "adobergb.jpg[Q=95]": ICC + "/colord/AdobeRGB1998.icc",
        "prophoto.jpg[Q=95]": ICC + "/colord/ProPhotoRGB.icc",
    }
    for name, prof in exports.items():
        run("vips", "icc_export", base, os.path.join(SRC, name), "--output-profile", prof)
    run("vips", "icc_export", base, os.path.join(SRC, "prophoto16.png"), "--depth", "16",
        "--output-profile", ICC + "/colord/ProPhotoRGB.icc")
    run("vips", "colourspace", base, tmp("grey.v"), "b-w")
    run("vips", "icc_export", tmp("grey.v"), os.path.join(SRC, "grey.jpg[Q=95]"),
        "--output-profile", ICC + "/Gray.icc")
    # CMYK without a profile: the same JPEG, its ICC segments cut out.
    with open(os.path.join(SRC, "cmyk.jpg"), "rb") as f:
        data = f.read()
    with open(os.path.join(SRC, "cmyk-noprofile.jpg"), "wb") as f:
        f.write(strip_jpeg_icc(data))
    with open(tmp("cmyk.icc"), "wb") as f:
        f.write(profile(os.path.join(SRC, "cmyk.jpg")))
    # Ten frames in Display P3, lossless, flattened: the references need no alpha.
    run("vips", "flatten", os.path.join(FIXTURES, "animated.gif") + "[n=-1]", tmp("anim.v"),
        "--background", "255")
    run("vips", "icc_export", tmp("anim.v"), tmp("anim-p3.v"), "--output-profile", "p3")
    run("vips", "webpsave", tmp("anim-p3.v"), os.path.join(SRC, "anim-p3.webp"), "--lossless")
    for n in os.listdir(SRC):
        os.chmod(os.path.join(SRC, n), 0o644)
    os.chmod(SRC, 0o755)


def reference(name, intent=1):
    """LittleCMS's sRGB rendering of fixture name, full size: jpgicc reads JPEGs itself
    (Adobe-inverted CMYK included); other files go to tificc through an uncompressed TIFF."""
    src = os.path.join(SRC, name)
    out = tmp("ref-%s-%d.tif" % (name, intent))
    if os.path.exists(out):
        return out
    if name.endswith(".jpg"):
        jpg = out[:-4] + ".jpg"
        extra = ["-i" + tmp("cmyk.icc")] if name == "cmyk-noprofile.jpg" else []
        run("jpgicc", "-t%d" % intent, "-b", "-q100", *extra, src, jpg)
        run("vips", "copy", jpg, out)
    else:
        run("vips", "copy", src + ("[n=-1]" if name.endswith(".webp") else ""), tmp("in.tif"))
        run("tificc", "-t%d" % intent, "-b", tmp("in.tif"), out)
    return out


def jpeg_shrink(s):
    """The factor libjpeg decodes a JPEG shrunk by (imgfcgi's shrink-on-load)."""
    return 8 if s >= 8 else 4 if s >= 4 else 2 if s >= 2 else 1


def resized(path, w, h, out, shrink_on_load=True):
    """path resized to exactly w x h as imgfcgi resizes a JPEG source: shrunk
    by the factor libjpeg's scaled decoding uses (libjpeg itself when path is
    a JPEG, else a box filter), then lanczos3."""
    sw, sh = int(header(path, "width")), int(header(path, "height"))
    if (sw, sh) == (w, h):
        return path
    n = jpeg_shrink(min(sw / w, sh / h)) if shrink_on_load else 1
    if n > 1 and path.endswith(".jpg"):
        run("vips", "jpegload", path, out + ".box.v", "--shrink", str(n))
        path = out + ".box.v"
        sw, sh = int(header(path, "width")), int(header(path, "height"))
    elif n > 1:
        run("vips", "shrink", path, out + ".box.v", str(n), str(n))
        path, sw, sh = out + ".box.v", sw // n, sh // n
    run("vips", "resize", path, out + ".v", str(w / sw), "--vscale", str(h / sh))
    run("vips", "crop", out + ".v", out, "0", "0", str(w), str(h))
    return out


def reference_resized_first(name, w, h):
    """tificc's rendering of fixture name resized first, in its own colour space."""
    small = resized(os.path.join(SRC, name), w, h, tmp("first-%s.tif" % name))
    out = tmp("ref-first-%s.tif" % name)
    run("tificc", "-t1", "-b", small, out)
    return out


# ---------------------------------------------------------------- statistics

def pixels(path, page_height=None):
    """(width, height, RGB bytes) of path's decoded image; grey is replicated to RGB."""
    v, rawf = tmp("px.v"), tmp("px.raw")
    load = path + ("[n=-1]" if page_height else "")
    if int(header(load, "bands")) >= 3:
        run("vips", "extract_band", load, v, "0", "--n", "3")
    else:
        run("vips", "bandjoin", " ".join([load] * 3), v)
    run("vips", "rawsave", v, rawf)
    with open(rawf, "rb") as f:
        return int(header(v, "width")), int(header(v, "height")), f.read()


def diff(result, ref, animated=False):
    """Mean and 99th percentile of |result - ref| per channel."""
    w, h, a = pixels(result, animated)
    rw, rh, b = pixels(ref, animated)
    check((w, h) == (rw, rh), "result %dx%d, reference %dx%d" % (w, h, rw, rh))
    hist = [0] * 256
    for x, y in zip(a, b):
        hist[abs(x - y)] += 1
    n, acc, p99 = len(a), 0, 255
    for i, c in enumerate(hist):
        acc += c
        if acc >= 0.99 * n:
            p99 = i
            break
    return sum(i * c for i, c in enumerate(hist)) / n, p99


def fetch(opts, name, ext):
    r = http_get(FRONT, plain(opts, "local:///colour/" + name, ext))
    check(r.status == 200, "%s %s@%s: %r" % (opts, name, ext, r))
    out = tmp("out-%s-%s.%s" % (opts.replace("/", "_").replace(":", "-"), name, ext))
    with open(out, "wb") as f:
        f.write(r.body)
    return out


def agree(label, result, ref, max_mean, max_p99, animated=False, jpeg=True):
    """Asserts and prints how far result is from ref resized to its size
    (jpeg: the source was a JPEG, shrunk on load by imgfcgi)."""
    w, h = int(header(result, "width")), int(header(result, "height"))
    if callable(ref):
        ref = ref(w, h)
    mean, p99 = diff(result, resized(ref, w, h, tmp("rs-%s.v" % label), jpeg), animated)
    print("figure %-28s mean %.2f p99 %d" % (label, mean, p99), flush=True)
    check(mean <= max_mean, "%s: mean %.2f > %.2f" % (label, mean, max_mean))
    check(p99 <= max_p99, "%s: p99 %d > %d" % (label, p99, max_p99))
    return mean


# ---------------------------------------------------------------- the cases

FIT = "rs:fit:300:300"
# PNG results: mean <= 2 against LittleCMS. The p99 bound leaves room for the
# resize order: imgfcgi converts after resizing, LittleCMS's reference is
# resized after converting. Gray.icc has a linear (gamma 1.0) curve, where
# that order matters most: its reference is resized first, in grey, then
# converted with tificc (its convert-then-resize figure is printed too).
PNG_CASES = [
    ("cmyk.jpg", "CMYK, embedded v2 printer profile, Adobe-inverted"),
    ("cmyk-noprofile.jpg", "CMYK without profile (fallback cmyk)"),
    ("p3.jpg", "Display P3"),
    ("adobergb.jpg", "Adobe RGB (1998)"),
    ("prophoto.jpg", "ProPhoto RGB"),
    ("grey.jpg", "grey with Gray.icc"),
    ("prophoto16.png", "16-bit PNG, ProPhoto iCCP"),
]
for _name, _what in PNG_CASES:
    def _case(name=_name):
        out = fetch(FIT, name, "png")
        check(profile(out) is None, "%s: the result carries a profile" % name)
        jpeg = name.endswith(".jpg")
        if name == "grey.jpg":
            agree(name + "@png (convert, resize)", out, reference(name), 255, 255)
            agree(name + "@png", out, lambda w, h: reference_resized_first(name, w, h), 2.0, 10)
        else:
            agree(name + "@png", out, reference(name), 2.0, 10, jpeg=jpeg)
    test("colour/png/" + _name)(_case)


@test("colour/lossy/cmyk-avif-webp")
def _():
    # Lossy encoders at the default qualities (AVIF 63, WebP 79): chroma
    # subsampling and quantisation add their own error to the conversion's.
    for ext, max_mean, max_p99 in (("webp", 4.0, 20), ("avif", 4.0, 20)):
        agree("cmyk.jpg@" + ext, fetch(FIT, "cmyk.jpg", ext), reference("cmyk.jpg"), max_mean,
              max_p99)


@test("colour/animated/p3-webp")
def _():
    ref = reference("anim-p3.webp")
    # Without maf only the first frame is read: compare it with the first page.
    first = tmp("ref-first.v")
    run("vips", "crop", ref, first, "0", "0", "120", "80")
    agree("anim-p3.webp@png (frame 1)", fetch("rs:fit:300:300", "anim-p3.webp", "png"), first,
          2.0, 8)
    # Ten frames out as lossy WebP, decoded back whole.
    out = fetch("maf:10", "anim-p3.webp", "webp")
    check(header(out + "[n=-1]", "n-pages") == "10", "frames: %s" % header(out, "n-pages"))
    agree("anim-p3.webp@webp (10 frames)", out, ref, 4.0, 24, animated=True)


# strip_color_profile:false: the profile byte for byte, the pixels unconverted.
# JPEG, WebP and AVIF re-encode at their default qualities (80, 79, 63).
KEEP = [("png", 1.0, 4), ("tiff", 1.0, 4), ("jpg", 3.0, 12), ("webp", 3.0, 12),
        ("avif", 3.0, 12)]
for _ext, _mean, _p99 in KEEP:
    def _keep(ext=_ext, max_mean=_mean, max_p99=_p99):
        src = os.path.join(SRC, "adobergb.jpg")
        out = fetch("scp:0/" + FIT, "adobergb.jpg", ext)
        check(profile(out) == profile(src),
                 "@%s: the profile is not the source's (%s bytes)"
                 % (ext, len(profile(out) or b"")))
        unconverted = agree("adobergb.jpg scp:0@" + ext, out, src, max_mean,
                            max_p99)
        w, h = int(header(out, "width")), int(header(out, "height"))
        converted, _ = diff(out, resized(reference("adobergb.jpg"), w, h, tmp("conv.v")))
        check(unconverted < converted, "@%s looks converted: %.2f vs %.2f"
                 % (ext, unconverted, converted))
    test("colour/keep/" + _ext)(_keep)


@test("colour/keep/16-bit-png")
def _():
    src = os.path.join(SRC, "prophoto16.png")
    out = fetch("scp:0/" + FIT, "prophoto16.png", "png")
    check(profile(out) == profile(src), "the profile is not the source's")
    run("vips", "colourspace", src, tmp("pp16-8.v"), "srgb")
    agree("prophoto16.png scp:0@png", out, tmp("pp16-8.v"), 1.0, 4, jpeg=False)


# GIF and BMP carry no profile: scp:0 still converts their pixels to sRGB.
for _ext, _mean, _p99 in (("gif", 4.0, 24), ("bmp", 2.0, 8)):
    def _noprof(ext=_ext, max_mean=_mean, max_p99=_p99):
        out = fetch("scp:0/" + FIT, "prophoto.jpg", ext)
        check(profile(out) is None, "@%s carries a profile" % ext)
        agree("prophoto.jpg scp:0@" + ext, out, reference("prophoto.jpg"), max_mean, max_p99)
    test("colour/no-profile-format/" + _ext)(_noprof)


def main():
    make_fixtures()
    return SUITE.main(sys.argv[1:], RESULT, label="colour")


if __name__ == "__main__":
    sys.exit(main())
