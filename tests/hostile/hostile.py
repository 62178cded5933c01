#!/usr/bin/env python3
"""tests/hostile/hostile.py: hostile sources and inputs against one imgfcgi; started by
tests/integration/run.sh (HOST=nginx) after the integration suites.

Two instances of their own, each behind its own nginx (conf/nginx.conf):
  main     IMGPROXY_MAX_SRC_FILE_SIZE=3000000, security options allowed
  nolimit  the same without a source file size limit
Every fixture is generated here, into the origin's root (HX_ROOT/hx-*), from the
repository's photo.jpg with vips and by hand with Python: truncated files of
every format at several cut points, empty and random bodies, wrong magic,
headers claiming 65535x65535, a GIF of 3000 frames, hostile SVGs, bogus EXIF
orientations. The scriptable origin (origin.py /hostile/...) adds wrong
Content-Lengths, redirect loops and redirects anywhere, bodies that never end,
a 10 GiB Content-Length and a canary URL that counts fetches. The /info cases
ask the same sources (and EXIF, IPTC and XMP blocks built to be hostile) for
their header fields and pixel statistics.

Each case asserts its status (imgproxy v3's behaviour), its public
error message or decoded image, that the answer is a complete HTTP response
(Content-Length or chunked end reached) within its time bound, and is
followed by a health check (GET /health -> 200).

Order: health and pid, a warm-up pass of normal requests, RSS (VmRSS of
/proc/PID/status), the hostile cases, RSS again. At the end each instance
must be the same process (pid and start time), healthy, with its RSS at most
20 % above its RSS after the warm-up (printed, not asserted, under ASan, whose
quarantine keeps freed memory; LeakSanitizer covers leaks there). Prints a
line per failure, the RSS figures and "hostile: N passed, M failed".
Arguments: substrings of case names to run only those. HX_TRACE_RSS=1 prints the RSS
after each case.
"""
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import MIME, check, plain  # noqa: E402

FRONT = os.environ["HX_FRONT"]
NOLIMIT_FRONT = os.environ["HX_NOLIMIT_FRONT"]
PIDS = {"main": int(os.environ["HX_PID"]), "nolimit": int(os.environ["HX_NOLIMIT_PID"])}
ORIGIN = os.environ["HX_ORIGIN"]      # the nginx origin: static files of HX_ROOT
PYORIGIN = os.environ["HX_PYORIGIN"]  # origin.py: /hostile/... endpoints
ROOT = os.environ["HX_ROOT"]
RESULT = os.environ.get("HX_RESULT")
ASAN = os.environ.get("HX_ASAN") == "1"
MAX_SRC_FILE_SIZE = int(os.environ.get("HX_MAX_SRC_FILE_SIZE", "3000000"))
DOWNLOAD_TIMEOUT = float(os.environ.get("HX_DOWNLOAD_TIMEOUT", "2"))
# Sanitizer builds decode several times slower: time bounds stretch by this.
SLOW = 4.0 if ASAN else 1.0
BOUND = 3.0  # seconds, for a case that downloads nothing slow
RSS_GROWTH = 1.20
TRACE_RSS = os.environ.get("HX_TRACE_RSS") == "1"  # print each instance's RSS after each case
FRONTS = {"main": FRONT, "nolimit": NOLIMIT_FRONT}
# An instance with IMGFCGI_ENABLE_PDF=true for the hostile PDFs (run.sh's imgfcgi-wp, shared
# with test_wm_pdf.py): health-checked after each case, its RSS not bounded here.
PDF_FRONT = os.environ.get("HX_PDF_FRONT")
if PDF_FRONT:
    FRONTS["pdf"] = PDF_FRONT

BROKEN = "Broken or unsupported image"
INVALID_SOURCE = "Invalid source image"
UNREACHABLE = "Source image is unreachable"
INTERNAL = "Internal error"


# ---------------------------------------------------------------- HTTP


def get(base, path, timeout=60.0):
    """One GET on a fresh connection (imgtest.http_get): a transport error or an answer
    cut short comes back as a Response (error set, complete=False)."""
    return imgtest.http_get(base, path, timeout, headers={"Connection": "close"}, keep_errors=True)


# The sources below go into plain URLs with %, ? and @ escaped: the web server cuts the
# request's own query at "?".


def static(name):
    """A fixture file through the nginx origin."""
    return urllib.parse.quote(ORIGIN + "/" + name, safe=":/")


def hostile_origin(path):
    return urllib.parse.quote(PYORIGIN + "/hostile/" + path, safe=":/")


def canary_hits(token):
    r = get(PYORIGIN, "/hostile/hits/" + token, timeout=10)
    check(r.status == 200, "canary count: %r" % r)
    return int(r.text())


# ---------------------------------------------------------------- images


def vips_value(op, body, *args):
    """Runs `vips OP file ARGS` on body and returns its output (avg, deviate, getpoint)."""
    return imgtest.run_on_body(body, ["vips", op], *args).split()


def image_check(fmt, w, h, pages=None):
    return lambda r: imgtest.expect_image(r, fmt, w, h, pages=pages)


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.decode(errors="replace")[:300]))
    return p.stdout


def write(name, data):
    with open(os.path.join(ROOT, name), "wb") as f:
        f.write(data)
    os.chmod(os.path.join(ROOT, name), 0o644)
    return name


def read(path):
    with open(path, "rb") as f:
        return f.read()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bmp_from_raw(raw, w, h):
    """A 24-bit bottom-up BMP from interleaved 8-bit RGB."""
    stride = (w * 3 + 3) & ~3
    rows = []
    for y in range(h - 1, -1, -1):
        row = bytearray()
        for x in range(w):
            r, g, b = raw[(y * w + x) * 3:(y * w + x) * 3 + 3]
            row += bytes((b, g, r))
        rows.append(bytes(row) + b"\0" * (stride - w * 3))
    pixels = b"".join(rows)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(dib) + len(pixels), 0, 0, 14 + len(dib)) + dib + pixels


def ico_from_png(png, w, h):
    """A one-image ICO holding a PNG (the Vista form)."""
    return (struct.pack("<HHH", 0, 1, 1) +
            struct.pack("<BBBBHHII", w % 256, h % 256, 0, 0, 1, 32, len(png), 22) + png)


def gif_frames(n, w, h):
    """An animated GIF of n frames of w x h, each a 2-colour LZW stream that clears and ends."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff")
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for _ in range(n):
        out += b"\x21\xf9\x04\x00\x02\x00\x00\x00"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02\x02\x4c\x01\x00"
    return bytes(out + b"\x3b")


def jpeg_with_exif_orientation(jpeg, value):
    """jpeg with an APP1 Exif segment (big-endian TIFF, one IFD0 entry) right after SOI."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, value, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


# Headers claiming 65535x65535 (or another size), with little or no data behind them.

def png_claiming(w, h, data=b""):
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    out = b"\x89PNG\r\n\x1a\n" + ihdr
    if data:
        out += png_chunk(b"IDAT", zlib.compress(data))
    return out


def jpeg_claiming(w, h, data=b""):
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    # One DC and one AC table, each with a single 1-bit code for symbol 0.
    dht = b"\xff\xc4" + struct.pack(">H", 2 + 2 * 18) + b"\x00" + bytes([1] + [0] * 15) + b"\x00"
    dht += b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + dht + sos + data


def gif_claiming(w, h, data=b""):
    out = b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    out += b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x08"
    if data:
        out += bytes([min(len(data), 255)]) + data[:255]
    return out


def webp_claiming(w, h, data=b""):
    """VP8X with a w x h canvas (24-bit fields hold w-1, h-1), then a VP8L chunk of data."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += struct.pack("<I", w - 1)[:3] + struct.pack("<I", h - 1)[:3]
    body = b"WEBP" + vp8x
    if data:
        body += b"VP8L" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ---------------------------------------------------------------- SVG

SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def svg_doc(body, w=120, h=80, prolog="", attrs=""):
    return ('%s<svg %s width="%d" height="%d" viewBox="0 0 %d %d"%s>%s</svg>\n' %
            (prolog, SVG_NS, w, h, w, h, attrs, body)).encode()


def billion_laughs():
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE svg [", '<!ENTITY lol0 "lol">']
    for i in range(1, 10):
        lines.append('<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1)) * 10))
    lines.append("]>")
    return svg_doc('<rect width="120" height="80" fill="#3366cc"/><text x="4" y="40">&lol9;</text>',
                   prolog="\n".join(lines) + "\n")


def quadratic_blowup():
    """One 10 KB entity referenced 100,000 times: 310 KB of SVG that expands to 1 GB (the
    entity stays inside the first IMGPROXY_MAX_SVG_CHECK_BYTES, so it is sniffed as SVG)."""
    prolog = '<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY a "%s">]>\n' % ("A" * 10000)
    return svg_doc('<rect width="120" height="80" fill="#3366cc"/><desc>%s</desc>' % ("&a;" * 100000),
                   prolog=prolog)


# ---------------------------------------------------------------- fixtures

FIX = {}  # name -> details the cases need (sizes, tokens)


def make_fixtures():
    tmp = tempfile.mkdtemp(prefix="hx-")
    photo = os.path.join(ROOT, "photo.jpg")  # 800x500, copied from tests/fixtures by run.sh
    base = os.path.join(tmp, "base.v")
    run("vips", "thumbnail", photo, base, "192")  # 192x120
    bases = {}
    for fmt, ext in (("jpeg", "jpg"), ("png", "png"), ("gif", "gif"), ("webp", "webp"),
                     ("avif", "avif"), ("tiff", "tiff"), ("heic", "heic"), ("jxl", "jxl")):
        path = os.path.join(tmp, "base." + ext)
        try:
            run("vips", "copy", base, path)
        except RuntimeError:
            continue  # no encoder for it on this machine: the format is left out
        bases[fmt] = (ext, read(path))
    raw = os.path.join(tmp, "base.raw")
    run("vips", "rawsave", base, raw)
    bases["bmp"] = ("bmp", bmp_from_raw(read(raw), 192, 120))
    small = os.path.join(tmp, "small.png")
    run("vips", "thumbnail", photo, small, "64")  # 64x40
    bases["ico"] = ("ico", ico_from_png(read(small), 64, 40))
    bases["svg"] = ("svg", svg_doc(
        '<rect width="192" height="120" fill="#3366cc"/>'
        '<circle cx="96" cy="60" r="40" fill="#ffcc00" stroke="#000" stroke-width="3"/>'
        '<path d="M10 110 L60 20 L110 110 Z" fill="#cc3333"/>' * 4, 192, 120,
        prolog='<?xml version="1.0" encoding="UTF-8"?>\n'))
    for fmt, (ext, data) in bases.items():
        write("hx-full-%s.%s" % (fmt, ext), data)
    FIX["bases"] = bases
    # Larger than 1 MP: a JPEG result streams as it is encoded.
    for fmt, ext in (("jpeg", "jpg"), ("png", "png")):
        path = os.path.join(tmp, "large." + ext)
        run("vips", "resize", photo, path, "1.8")  # 1440x900
        FIX.setdefault("large", {})[fmt] = (ext, read(path))
    # A small JPEG for the EXIF cases, 64x40.
    jpg = os.path.join(tmp, "small.jpg")
    run("vips", "copy", small, jpg)
    FIX["small.jpg"] = read(jpg)
    FIX["small.png"] = read(small)
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)


# ---------------------------------------------------------------- cases

CASES = []


def case(name, path, status, front="main", body=None, check_fn=None, bound=BOUND,
         ctype=None, note=None, pre=None):
    """body: the exact public error message (a tuple: one of them); check_fn(r) more assertions;
    bound: seconds; pre() runs just before the request."""
    CASES.append(dict(name="hostile/" + name, path=path, status=status, front=front,
                      body=body, check=check_fn, bound=bound, ctype=ctype, note=note, pre=pre))


def truncation_cuts(n):
    return sorted({4, 32, n // 4, n // 2, 3 * n // 4, n - 1})


# Whole files: decoded, except BMP and ICO (libvips 8.14 reads them only through its
# ImageMagick loader) and JXL (jxlload): imgfcgi keeps libvips' untrusted loaders blocked.
FULL_STATUS = {"bmp": 422, "ico": 422, "jxl": 422}


def add_cases():
    cp = imgtest.closed_port()
    bases = FIX["bases"]

    for fmt, (ext, data) in sorted(bases.items()):
        name = "hx-full-%s.%s" % (fmt, ext)
        if fmt in FULL_STATUS:
            case("whole/%s" % fmt, plain("", static(name)), FULL_STATUS[fmt], body=BROKEN)
        elif fmt == "svg":
            case("whole/svg", plain("", static(name)), 200, ctype=MIME["svg"])
        else:
            # The source's format when it is one of IMGPROXY_PREFERRED_FORMATS, else JPEG.
            out = fmt if fmt in ("jpeg", "png", "gif") else "jpeg"
            case("whole/%s" % fmt, plain("", static(name)), 200, check_fn=image_check(out, 192, 120))

    # Truncated files of every format at several cut points.
    for fmt, (ext, data) in sorted(bases.items()):
        n = len(data)
        for cut in truncation_cuts(n):
            name = write("hx-trunc-%s-%d.%s" % (fmt, cut, ext), data[:cut])
            status, body, fn = truncation_expect(fmt, data, cut)
            case("truncated/%s/%d-of-%d" % (fmt, cut, n), plain("", static(name)), status, body=body,
                 check_fn=fn)
    # A HEIC source into the JPEG XL and HEIC encoders, whole and cut at three quarters.
    if "heic" in bases:
        ext, data = bases["heic"]
        cut = write("hx-trunc-heic-3q-to-jxl.heic", data[:len(data) * 3 // 4])
        for out in ("jxl", "heic"):
            case("heic-source/whole@%s" % out, plain("", static("hx-full-heic.heic"), out), 200,
                 check_fn=image_check(out, 192, 120))
            case("heic-source/truncated@%s" % out, plain("", static(cut), out), 422, body=BROKEN)
    # Over 1 MP: the result streams as it is encoded, so a decoder that gives up late
    # would cut the answer short. libvips fills what is missing (as for imgproxy).
    for fmt, (ext, data) in sorted(FIX["large"].items()):
        n = len(data)
        for cut in (n // 2, n * 3 // 4):
            name = write("hx-trunc-large-%s-%d.%s" % (fmt, cut, ext), data[:cut])
            for out, ofmt in (("jpg", "jpeg"), ("png", "png")):
                case("truncated-large/%s/%d-of-%d@%s" % (fmt, cut, n, out), plain("", static(name), out),
                     200, check_fn=image_check(ofmt, 1440, 900))

    # Nothing, noise, wrong magic.
    case("empty", plain("", static(write("hx-empty.jpg", b""))), 422, body=INVALID_SOURCE)
    rnd = random.Random(6)
    noise = bytes(rnd.randrange(256) for _ in range(8192))
    noise = b"\x01" + noise[1:]  # no format starts with 0x01
    case("random-bytes", plain("", static(write("hx-random.jpg", noise))), 422, body=INVALID_SOURCE)
    case("png-named-jpg", plain("", static(write("hx-png-named.jpg", FIX["small.png"]))), 200,
         check_fn=image_check("png", 64, 40))
    case("png-named-jpg@jpg", plain("", static("hx-png-named.jpg"), "jpg"), 200,
         check_fn=image_check("jpeg", 64, 40))
    case("jpeg-named-png", plain("", static(write("hx-jpeg-named.png", FIX["small.jpg"]))), 200,
         check_fn=image_check("jpeg", 64, 40))
    case("svg-named-png", plain("", static(write("hx-svg-named.png", bases["svg"][1]))), 200,
         ctype="image/svg+xml")
    for fmt, magic in (("jpeg", b"\xff\xd8\xff\xe0"), ("png", b"\x89PNG\r\n\x1a\n"),
                       ("gif", b"GIF89a"), ("webp", b"RIFF\x00\x10\x00\x00WEBPVP8 "),
                       ("tiff", b"II*\x00"), ("avif", b"\x00\x00\x00\x1cftypavif"),
                       ("heic", b"\x00\x00\x00\x18ftypheic"), ("jxl", b"\xff\x0a"),
                       ("svg", b"<svg>")):
        name = write("hx-magic-%s-garbage.%s" % (fmt, fmt), magic + noise[:4096])
        # The garbage is read as a header too: dimensions over the limit make it
        # "Invalid source image" (as in imgproxy) before a decoder calls it broken.
        exp = (200, None, None) if fmt == "svg" else (422, (BROKEN, INVALID_SOURCE), None)
        case("magic-then-garbage/%s" % fmt, plain("", static(name)), exp[0], body=exp[1],
             ctype="image/svg+xml" if fmt == "svg" else None)

    # Headers claiming 65535x65535 (> IMGPROXY_MAX_SRC_RESOLUTION), with little or no data.
    # imgproxy reads the size from the header and answers "Invalid source image"; libvips
    # may refuse such a header first (libjpeg stops at 65500 px): "Broken or unsupported
    # image". Either way a 422, quickly.
    some = bytes(range(256)) * 4
    for fmt, fn, ext in (("png", png_claiming, "png"), ("jpeg", jpeg_claiming, "jpg"),
                         ("gif", gif_claiming, "gif"), ("webp", webp_claiming, "webp")):
        for label, data in (("header-only", b""), ("header+1k", some)):
            name = write("hx-claim-%s-%s.%s" % (fmt, label, ext), fn(65535, 65535, data))
            case("claims-65535x65535/%s/%s" % (fmt, label), plain("", static(name)), 422,
                 body=(INVALID_SOURCE, BROKEN))
    # Under libjpeg's 65500 limit, over 50 MP: refused for its resolution.
    name = write("hx-claim-jpeg-30000.jpg", jpeg_claiming(30000, 30000, some))
    case("claims-30000x30000/jpeg", plain("", static(name)), 422, body=INVALID_SOURCE)

    # A GIF of 3000 frames: one frame by default (IMGPROXY_MAX_ANIMATION_FRAMES=1), at
    # most maf frames, and refused when w*h*frames is over the resolution limit.
    name = write("hx-frames-3000.gif", gif_frames(3000, 1, 1))
    case("gif-3000-frames/default", plain("", static(name)), 200, check_fn=image_check("gif", 1, 1, 1))
    case("gif-3000-frames/maf:10", plain("maf:10", static(name)), 200,
         check_fn=image_check("gif", 1, 1, 10))
    case("gif-3000-frames/maf:3000", plain("maf:3000", static(name)), 200,
         check_fn=image_check("gif", 1, 1, 3000), bound=BOUND * 2)
    name = write("hx-frames-3000-big.gif", gif_frames(3000, 200, 200))
    case("gif-3000-frames-200x200/maf:3000", plain("maf:3000", static(name)), 422,
         body=INVALID_SOURCE)

    # Bogus EXIF orientations: ignored (no rotation), as out-of-range values are.
    for value in (0, 9, 65535):
        name = write("hx-exif-orientation-%d.jpg" % value,
                     jpeg_with_exif_orientation(FIX["small.jpg"], value))
        case("exif-orientation/%d" % value, plain("", static(name)), 200,
             check_fn=image_check("jpeg", 64, 40))
        case("exif-orientation/%d/rs:fit:32:32" % value, plain("rs:fit:32:32", static(name)), 200,
             check_fn=image_check("jpeg", 32, 20))

    # Hostile SVGs: passed through sanitised, or rasterised by librsvg.
    add_svg_cases(cp)
    add_origin_cases(cp)
    add_info_cases()


def info_json(keys):
    """A check: the answer is /info JSON holding at least these keys."""
    def fn(r):
        check(r.ctype() == "application/json", "want application/json, got %r" % r.ctype())
        got = json.loads(r.body)
        check(set(keys) <= set(got), "want keys %r, got %r" % (sorted(keys), sorted(got)))
    return fn


def jpeg_app(jpeg, marker, payload):
    """jpeg with one APPn segment (marker 0xE0..0xEF) right after SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def add_info_cases():
    """/info on hostile sources: the same header limits as processing, pixel statistics
    on truncated files, oversized and malformed metadata blocks."""
    stats = "bh:4:3/avg:1/p:16/dc:1/pn:1"

    def info(opts, src):
        return "/info" + plain(opts, src)

    for fmt, ext in (("png", "png"), ("jpeg", "jpg"), ("gif", "gif"), ("webp", "webp")):
        name = "hx-claim-%s-header-only.%s" % (fmt, ext)
        case("info/claims-65535x65535/%s" % fmt, info("", static(name)), 422,
             body=(INVALID_SOURCE, BROKEN))
        case("info/claims-65535x65535/%s/stats" % fmt, info(stats, static(name)), 422,
             body=(INVALID_SOURCE, BROKEN))
    for fmt, (ext, data) in sorted(FIX["bases"].items()):
        cut = len(data) // 2
        name = "hx-trunc-%s-%d.%s" % (fmt, cut, ext)
        status, body, _ = truncation_expect(fmt, data, cut)
        # BMP, ICO and JXL need untrusted loaders; a cut SVG does not parse for librsvg
        # (processing passes SVG through, /info opens it).
        if fmt in FULL_STATUS or fmt == "svg":
            status, body = 422, BROKEN
        case("info/truncated/%s/%d-of-%d" % (fmt, cut, len(data)), info(stats, static(name)), status,
             body=body, check_fn=info_json(["blurhash", "average", "palette"]) if status == 200 else None)
    case("info/empty", info("", static("hx-empty.jpg")), 422, body=INVALID_SOURCE)
    case("info/random-bytes", info(stats, static("hx-random.jpg")), 422, body=INVALID_SOURCE)
    # An EXIF block as large as an APP1 segment gets: 5400 IFD0 entries.
    n = 5400
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", n)
    for i in range(n):
        tiff += struct.pack(">HHI", 0x010E if i == 0 else 0xA000 + i, 2, 4) + b"abc\0"
    tiff += struct.pack(">I", 0)
    name = write("hx-info-huge-exif.jpg", jpeg_app(FIX["small.jpg"], 0xE1, b"Exif\x00\x00" + tiff))
    case("info/huge-exif", info("exif:1:1", static(name)), 200, check_fn=info_json(["exif", "width"]))
    # An IPTC resource claiming more bytes than its segment holds; XMP that is not XML.
    ps = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + struct.pack(">I", 0x7FFFFFF0) + b"\x1c\x02\x78" * 100
    name = write("hx-info-bad-iptc.jpg", jpeg_app(FIX["small.jpg"], 0xED, ps))
    case("info/iptc-overrun", info("", static(name)), 200, check_fn=info_json(["iptc", "width"]))
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + b"<x:xmpmeta><rdf:RDF" * 2000
    name = write("hx-info-bad-xmp.jpg", jpeg_app(FIX["small.jpg"], 0xE1, xmp))
    case("info/xmp-not-xml", info("", static(name)), 200, check_fn=info_json(["xmp", "width"]))
    # A body that never ends: /info reads no further than its header check (at most
    # 1 MB when no frame header comes) for the size and format only; the statistics
    # need the whole body, which runs into the source size limit as processing does.
    case("info/endless-size-format", info("d:0/exif:0/iptc:0/xmp:0", hostile_origin("endless")), 200,
         check_fn=info_json(["size", "format"]))
    case("info/endless-stats", info(stats, hostile_origin("endless")), 422, body=INVALID_SOURCE)


def add_origin_cases(cp):
    """Origins that lie or never end."""
    write("hx-ok.jpg", FIX["small.jpg"])
    write("hx-ok.png", FIX["small.png"])
    case("content-length-larger-than-body", plain("", hostile_origin("cl-long/hx-ok.jpg")), 500,
         body=INTERNAL)
    # The first half of the file, then the end of the response: as a truncated file.
    case("content-length-smaller-than-body/png", plain("", hostile_origin("cl-short/hx-ok.png")), 200,
         check_fn=image_check("png", 64, 40))
    case("content-length-smaller-than-body/jpeg", plain("", hostile_origin("cl-short/hx-ok.jpg")), 422,
         body=BROKEN)
    case("redirect-loop", plain("", hostile_origin("loop")), 404, body=UNREACHABLE)
    case("redirect-loop-two-hops", plain("", hostile_origin("loop-a")), 404, body=UNREACHABLE)
    case("redirect-to-link-local-metadata",
         plain("", hostile_origin("to?url=" + urllib.parse.quote("http://169.254.169.254/latest/meta-data/"))),
         404, body=UNREACHABLE, note="needs the i6net source-address guard")
    case("redirect-to-file-scheme",
         plain("", hostile_origin("to?url=" + urllib.parse.quote("file:///etc/passwd"))), 404,
         body=UNREACHABLE)
    case("redirect-to-closed-port",
         plain("", hostile_origin("to?url=" + urllib.parse.quote("http://127.0.0.1:%d/x.jpg" % cp))), 500,
         body=INTERNAL)
    dl = DOWNLOAD_TIMEOUT
    case("endless-body/limit", plain("", hostile_origin("endless")), 422, body=INVALID_SOURCE)
    case("endless-body/slow-drip", plain("", hostile_origin("endless?rate=1")), 504, body=UNREACHABLE,
         bound=dl + BOUND)
    case("endless-body/no-limit", plain("", hostile_origin("endless")), 504, front="nolimit",
         body=UNREACHABLE, bound=dl + BOUND)
    case("content-length-10GiB/limit", plain("", hostile_origin("huge")), 422, body=INVALID_SOURCE,
         bound=1.0)
    # A claim is not a reason to reserve 10 GiB, even of address space (a ulimit -v or
    # vm.overcommit_memory=2 would turn that into a 500): the process's size stays put.
    vm = {}

    def vm_before():
        vm["before"] = vm_kb(PIDS["nolimit"])

    def vm_after(r):
        grew = vm_kb(PIDS["nolimit"]) - vm["before"]
        check(grew < 1024 * 1024, "VmSize grew by %d MB" % (grew // 1024))
    case("content-length-10GiB/no-limit", plain("", hostile_origin("huge")), 504, front="nolimit",
         body=UNREACHABLE, bound=dl + BOUND, pre=vm_before, check_fn=vm_after)


# Checks of SVG answers.


def no_fetch(tok):
    """A check that the canary tok was never fetched."""
    def fn(r):
        check(canary_hits(tok) == 0, "the canary %s was fetched" % tok)
    return fn


def both(*fns):
    """All of the checks fns (None: skipped)."""
    def fn(r):
        for f in fns:
            if f is not None:
                f(r)
    return fn


def sanitised(forbidden, kept=('<rect',)):
    """An SVG answer without any of the patterns forbidden, with every string of kept."""
    def fn(r):
        check(r.ctype() == "image/svg+xml", "want image/svg+xml, got %r" % r.ctype())
        text = r.body.decode(errors="replace")
        for pat in forbidden:
            check(not re.search(pat, text, re.I), "the sanitised SVG still has %r: %r" % (pat, text[:400]))
        for s in kept:
            check(s in text, "the sanitised SVG lost %r: %r" % (s, text[:400]))
    return fn


def rect_pixel(w, h):
    """A PNG of w x h whose centre is the #3366cc of the background rect."""
    def fn(r):
        image_check("png", w, h)(r)
        px = [round(float(v)) for v in vips_value("getpoint", r.body, 2, 2)]
        check(px[:3] == [0x33, 0x66, 0xcc], "want #3366cc at (2,2), got %r" % px)
    return fn


def add_svg_cases(cp):
    token = "svg%d" % os.getpid()
    canary = PYORIGIN + "/hostile/canary/"
    rect = '<rect width="120" height="80" fill="#3366cc"/>'
    script = svg_doc(
        rect + '<script type="text/javascript">alert("svg-script")</script>'
        '<SCRIPT>alert("svg-upper-script")</SCRIPT>'
        '<svg:script xmlns:svg="http://www.w3.org/2000/svg">alert("svg-prefixed-script")</svg:script>'
        '<circle cx="60" cy="40" r="10" fill="#fff" onclick="alert(\'svg-onclick\')" '
        'OnMouseOver = \'alert("svg-mouseover")\'/>'
        '<foreignObject width="10" height="10"><iframe src="javascript:alert(\'svg-iframe\')">'
        'x</iframe></foreignObject>',
        attrs=' onload="alert(\'svg-onload\')"')
    name = write("hx-svg-script.svg", script)
    forbidden = (r"<\s*(\w+:)?script", r"svg-(upper-|prefixed-)?script", r"svg-onclick", r"svg-mouseover",
                 r"svg-onload", r"\son\w+\s*=", r"<\s*iframe", r"svg-iframe")
    case("svg/script/passthrough", plain("", static(name)), 200, check_fn=sanitised(forbidden))
    case("svg/script/rasterised", plain("", static(name), "png"), 200, check_fn=rect_pixel(120, 80))
    # Not XML (an unquoted attribute): passed through sanitised all the same; librsvg refuses it.
    name = write("hx-svg-unquoted-handler.svg", svg_doc(
        rect + '<circle cx="60" cy="40" r="10" onfocusin=alert(1) fill="#fff"/>'))
    case("svg/unquoted-handler/passthrough", plain("", static(name)), 200,
         check_fn=sanitised([r"onfocusin", r"alert\("]))
    case("svg/unquoted-handler/rasterised", plain("", static(name), "png"), 422, body=BROKEN)

    # External entities: a local file, a closed port, and a canary that counts fetches.
    def xxe(system):
        return svg_doc(rect + '<text x="4" y="40" font-size="20">&xxe;</text>',
                       prolog='<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY xxe SYSTEM "%s">]>\n' % system)

    name = write("hx-svg-xxe-file.svg", xxe("file:///etc/passwd"))
    case("svg/xxe-file/passthrough", plain("", static(name)), 200,
         check_fn=sanitised([r"root:x?:0:0"], kept=("<rect", "&xxe;")))
    case("svg/xxe-file/rasterised", plain("", static(name), "png"), 422, body=BROKEN)
    name = write("hx-svg-xxe-closed.svg", xxe("http://127.0.0.1:%d/" % cp))
    case("svg/xxe-closed-port/rasterised", plain("", static(name), "png"), 422, body=BROKEN)
    tok = token + "-xxe"
    name = write("hx-svg-xxe-canary.svg", xxe(canary + tok))
    case("svg/xxe-canary/passthrough", plain("", static(name)), 200,
         check_fn=both(sanitised([], kept=("<rect", "&xxe;")), no_fetch(tok)))
    case("svg/xxe-canary/rasterised", plain("", static(name), "png"), 422, body=BROKEN,
         check_fn=no_fetch(tok))
    tok = token + "-dtd"
    name = write("hx-svg-external-dtd.svg", svg_doc(
        rect, prolog='<?xml version="1.0"?>\n<!DOCTYPE svg SYSTEM "%s%s">\n' % (canary, tok)))
    case("svg/external-dtd/rasterised", plain("", static(name), "png"), 200,
         check_fn=both(rect_pixel(120, 80), no_fetch(tok)))
    tok = token + "-pe"
    name = write("hx-svg-parameter-entity.svg", svg_doc(
        rect, prolog='<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY %% pe SYSTEM "%s%s"> %%pe;]>\n'
        % (canary, tok)))
    case("svg/external-parameter-entity/rasterised", plain("", static(name), "png"), 422,
         body=BROKEN, check_fn=no_fetch(tok))
    # An internal entity, harmless in itself: not rasterised either, since librsvg 2.54 leaks
    # each entity's text on every parse (LeakSanitizer saw it); passed through as it is.
    name = write("hx-svg-internal-entity.svg", svg_doc(
        rect + '<text x="4" y="40" font-size="30">&t;</text>',
        prolog='<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY t "INTERNAL ENTITY TEXT">]>\n'))
    case("svg/internal-entity/passthrough", plain("", static(name)), 200,
         check_fn=sanitised([], kept=("<rect", "&t;", "INTERNAL ENTITY TEXT")))
    case("svg/internal-entity/rasterised", plain("", static(name), "png"), 422, body=BROKEN)

    # Entity expansion.
    name = write("hx-svg-billion-laughs.svg", billion_laughs())
    case("svg/billion-laughs/passthrough", plain("", static(name)), 200,
         check_fn=sanitised([], kept=("<rect", "&lol9;")))
    case("svg/billion-laughs/rasterised", plain("", static(name), "png"), 422, body=BROKEN)
    name = write("hx-svg-quadratic-blowup.svg", quadratic_blowup())
    case("svg/quadratic-blowup/passthrough", plain("", static(name)), 200,
         check_fn=sanitised([], kept=("<rect", "&a;")))
    case("svg/quadratic-blowup/rasterised", plain("", static(name), "png"), 422, body=BROKEN)

    # External <use> and <image>: <use> to another document is dropped, <image> kept (as
    # imgproxy's sanitiser does); librsvg fetches neither.
    tu, ti = token + "-use", token + "-image"
    ext_refs = svg_doc(
        rect + '<use href="%s%s#a"/><use xlink:href="http://127.0.0.1:%d/x.svg#b"/>'
        '<use href="#r"/><rect id="r" width="1" height="1" fill="#3366cc"/>'
        '<image href="%s%s" x="100" y="60" width="10" height="10"/>'
        '<image xlink:href="file:///etc/passwd" x="100" y="60" width="10" height="10"/>'
        % (canary, tu, cp, canary, ti))
    name = write("hx-svg-external-refs.svg", ext_refs)
    case("svg/external-use-image/passthrough", plain("", static(name)), 200,
         check_fn=both(sanitised([re.escape(tu), r"127\.0\.0\.1:%d" % cp], kept=("<rect", '<use href="#r"', ti)),
                       no_fetch(tu), no_fetch(ti)))
    case("svg/external-use-image/rasterised", plain("", static(name), "png"), 200,
         check_fn=both(rect_pixel(120, 80), no_fetch(tu), no_fetch(ti)))

    # A canvas of 10^10 px (over IMGPROXY_MAX_SRC_RESOLUTION): drawn at the scale that fits
    # the limit, as imgproxy does, then resized: red top-left quarter, blue elsewhere.
    name = write("hx-svg-huge-canvas.svg", svg_doc(
        '<rect width="100000" height="100000" fill="#3366cc"/>'
        '<rect width="50000" height="50000" fill="#ff0000"/>', 100000, 100000))

    def quarters(r):
        image_check("png", 200, 200)(r)
        for x, y, want in ((20, 20, [255, 0, 0]), (180, 180, [0x33, 0x66, 0xcc]), (180, 20, [0x33, 0x66, 0xcc])):
            px = [round(float(v)) for v in vips_value("getpoint", r.body, x, y)][:3]
            check(px == want, "want %r at (%d,%d), got %r" % (want, x, y, px))
    case("svg/huge-canvas/rs:fit:200:200", plain("rs:fit:200:200", static(name), "png"), 200,
         check_fn=quarters)


# How many leading bytes each format needs before imgfcgi (as imgproxy) knows its type.
MAGIC_LEN = {"jpeg": 2, "png": 8, "gif": 6, "webp": 15, "avif": 12, "heic": 12, "tiff": 4,
             "jxl": 2, "bmp": 2, "ico": 4}
# libvips (8.14, default fail_on=none, which imgproxy keeps) decodes a cut JPEG, PNG or
# GIF once their headers are in and fills in what is missing; the other decoders fail.
TOLERANT = {"jpeg": "jpeg", "png": "png", "gif": "gif"}


def truncation_expect(fmt, data, cut):
    """(status, public message, check) for the first cut bytes of data in format fmt."""
    if fmt == "svg":
        root = data.find(b"<svg")
        if cut < root + 5:  # the root element's name is not all there: not an SVG
            return 422, INVALID_SOURCE, None
        return 200, None, lambda r: check(r.ctype() == MIME["svg"], "want SVG, got %r" % r.ctype())
    if cut < MAGIC_LEN[fmt]:
        return 422, INVALID_SOURCE, None
    if fmt in TOLERANT and cut >= len(data) // 4:
        return 200, None, image_check(TOLERANT[fmt], 192, 120)
    return 422, BROKEN, None


# ---------------------------------------------------------------- PDFs and watermark text


GREEN_PAGE = b"0 0.6 0 rg 0 0 100 100 re f"


def green_check(w, h):
    def fn(r):
        imgtest.expect_image(r, "png", w, h)
        got = [float(v) for v in vips_value("getpoint", r.body, w // 2, h // 2)[:3]]
        check(abs(got[0]) < 8 and abs(got[1] - 153) < 8 and abs(got[2]) < 8,
              "want the green page, got %s" % got)
    return fn


def add_wm_pdf_cases():
    """Hostile PDFs (on the PDF front when run.sh gives one) and hostile watermark text."""
    if PDF_FRONT:
        box = b"0 0 100 100"
        # 5000 real pages (one shared content stream): the last one, and ten of them.
        write("hx-pdf-5000.pdf", imgtest.pdf_doc([(box, GREEN_PAGE)] * 5000))
        case("pdf/page-count-bomb-last-page", plain("pg:4999", static("hx-pdf-5000.pdf"), "png"),
             200, front="pdf", check_fn=green_check(100, 100))
        case("pdf/page-count-bomb-pages-over-limit",
             plain("pg:10/pgs:1000", static("hx-pdf-5000.pdf"), "png"), 422, front="pdf",
             body=INVALID_SOURCE)
        # One page that claims a count of 2^31 - 1: libvips refuses the page range.
        write("hx-pdf-count-lie.pdf", imgtest.pdf_doc([(box, GREEN_PAGE)], count=2147483647))
        case("pdf/count-lie", plain("pg:2000000000/pgs:5", static("hx-pdf-count-lie.pdf"), "png"),
             422, front="pdf", body=BROKEN)
        # Page-size bombs: 10^6 x 10^6 points, and a PDF's largest page (14400 pt) twice over.
        write("hx-pdf-huge-page.pdf", imgtest.pdf_doc([(b"0 0 1000000 1000000", GREEN_PAGE)]))
        case("pdf/page-size-bomb", plain("rs:fit:100:100", static("hx-pdf-huge-page.pdf"), "png"),
             422, front="pdf", body=INVALID_SOURCE, bound=2.0)
        write("hx-pdf-14400.pdf", imgtest.pdf_doc([(b"0 0 14400 14400", GREEN_PAGE)] * 3))
        case("pdf/page-size-bomb-stacked",
             plain("pgs:3/rs:fit:100:100", static("hx-pdf-14400.pdf"), "png"), 422, front="pdf",
             body=INVALID_SOURCE, bound=2.0)
        # Every xref offset wrong: poppler rebuilds the table from the objects.
        write("hx-pdf-broken-xref.pdf", imgtest.pdf_doc([(box, GREEN_PAGE)], xref_ok=False))
        case("pdf/broken-xref", plain("", static("hx-pdf-broken-xref.pdf"), "png"), 200,
             front="pdf", check_fn=green_check(100, 100))
        # JavaScript in an OpenAction and a page action: not run, the page is drawn.
        js = {3: b"<< /S /JavaScript /JS (app.alert\\(1\\); while\\(true\\){}) >>"}
        write("hx-pdf-js.pdf", imgtest.pdf_doc([(box, GREEN_PAGE)], extra_objs=js,
                                       catalog_extra=b"/OpenAction 3 0 R /Names << >> "))
        case("pdf/javascript", plain("", static("hx-pdf-js.pdf"), "png"), 200, front="pdf",
             check_fn=green_check(100, 100))
        # Not a PDF past its header; a header and nothing else.
        write("hx-pdf-garbage.pdf", b"%PDF-1.7\n" + bytes((i * 7919) % 251 for i in range(8000)))
        case("pdf/garbage-after-header", plain("", static("hx-pdf-garbage.pdf"), "png"), 422,
             front="pdf", body=BROKEN)
        write("hx-pdf-header-only.pdf", b"%PDF-1.4\n")
        case("pdf/header-only", plain("", static("hx-pdf-header-only.pdf"), "png"), 422,
             front="pdf", body=BROKEN)
    # PDF sources where they are off (the default): refused, poppler never runs.
    write("hx-pdf-off.pdf", imgtest.pdf_doc([(b"0 0 100 100", GREEN_PAGE)]))
    case("pdf/off-by-default", plain("", static("hx-pdf-off.pdf"), "png"), 422, body=INVALID_SOURCE)
    # Hostile markup: refused as a bad argument (404) before anything renders.
    photo = static("photo.jpg")
    for name, markup in (
            ("font-size", "<span size='2147483647'>x</span>"),
            ("font-desc", "<span font_desc='Sans 5000'>x</span>"),
            ("nesting", "<big>" * 20 + "x" + "</big>" * 20),
            ("rise", "<span rise='2000000000'>x</span>"),
            ("line-height", "<span line_height='1000'>x\nx</span>"),
            ("unclosed", "<b><i>x</b>"),
            ("entity", "&bogus;x"),
            ("bad-utf8", b"<b>\xff\xfe</b>")):
        case("wmt/markup-" + name, plain("wm:1/wmt:%s" % imgtest.b64(markup), photo), 404,
             body="Invalid URL")
    # A huge wmt: past the argument limit.
    case("wmt/huge", plain("wm:1/wmt:%s" % imgtest.b64("W" * 5000), photo), 404, body="Invalid URL")
    # Within the markup bounds but at dpr 10 (an 800x500 result): refused by the pixel
    # limit from a small draft, quickly.
    case("wmt/render-bomb",
         plain("rs:fit:80:50/dpr:10/wm:1/wmt:%s" % imgtest.b64("<span size='128pt'>" + "W" * 40 +
                                                                "</span>"), photo), 422,
         body=INVALID_SOURCE)


# ---------------------------------------------------------------- process checks


def rss_kb(pid):
    return imgtest.proc_status_kb(pid, "VmRSS")


def vm_kb(pid):
    return imgtest.proc_status_kb(pid, "VmSize")


def healthy(front):
    r = get(front, "/health", timeout=10 * SLOW)
    return r.status == 200 and r.complete, r


def warm_up():
    """Normal requests through every decoder and encoder the cases touch, twice."""
    paths = []
    for fmt, (ext, _) in sorted(FIX["bases"].items()):
        src = static("hx-full-%s.%s" % (fmt, ext))
        status = FULL_STATUS.get(fmt, 200)
        paths += [(plain("", src), status), (plain("rs:fit:50:50", src), status),
                  (plain("", src, "png"), status), (plain("", src, "webp"), status)]
    for fmt, (ext, data) in FIX["large"].items():
        paths.append((plain("", static(write("hx-large-%s.%s" % (fmt, ext), data)), "jpg"), 200))
    paths.append((plain("rs:fill:300:300", static("photo.jpg"), "avif"), 200))
    paths.append((plain("maf:10", static("animated.gif")), 200))
    # /info through libexif, libiptcdata, exempi and the pixel statistics: their
    # first use allocates caches that stay, which is no growth the cases cause.
    for src in (static("photo.jpg"), static("animated.gif")):
        paths.append(("/info" + plain("exif:1/iptc:1/xmp:1/bh:4:3/avg:1/p:16/dc:1/pn:1", src), 200))
    # A text watermark: Pango and fontconfig load their fonts and caches once.
    paths.append((plain("rs:fit:200:200/wm:1:soea/wmt:%s" % imgtest.b64("<b>warm</b>"),
                        static("photo.jpg")), 200))
    bad = []
    for _ in range(2):
        for front in FRONTS.values():
            for p, status in paths:
                r = get(front, p)
                if r.status != status or not r.complete:
                    bad.append("%s %s: want %d, got %r" % (front, p, status, r))
    return bad


def run_case(c):
    front = FRONTS[c["front"]]
    bound = c["bound"] * SLOW
    if c["pre"] is not None:
        c["pre"]()
    r = get(front, c["path"], timeout=bound + 30)
    check(r.error is None, "%r" % r)
    check(r.complete, "an incomplete response: %d of its bytes then the end (%r)" % (len(r.body), r))
    check(r.elapsed < bound, "answered in %.2fs, over the %.1fs bound" % (r.elapsed, bound))
    check(r.status == c["status"], "want %d, got %r" % (c["status"], r))
    if c["body"] is not None:
        imgtest.expect_error(r, c["status"], c["body"])
    if c["ctype"] is not None:
        check(r.ctype() == c["ctype"], "want Content-Type %s, got %r" % (c["ctype"], r.ctype()))
    if c["check"] is not None:
        c["check"](r)


def main():
    only = sys.argv[1:]
    tally = imgtest.Tally()
    ok = tally.record
    make_fixtures()
    add_cases()
    add_wm_pdf_cases()
    todo = [c for c in CASES if not only or any(o in c["name"] for o in only)]
    start = {}
    for label, pid in PIDS.items():
        good, r = healthy(FRONTS[label])
        ok("hostile/%s/healthy-at-start" % label, None if good else "health: %r" % r)
        start[label] = imgtest.start_time(pid)
    bad = warm_up()
    ok("hostile/warm-up", None if not bad else "%d failed requests: %s" % (len(bad), "; ".join(bad[:3])))
    time.sleep(2.5)  # IMGPROXY_FREE_MEMORY_INTERVAL=1: one release round after the last request
    rss_warm = {label: rss_kb(pid) for label, pid in PIDS.items()}

    t0 = time.monotonic()
    for c in todo:
        err = imgtest.outcome(run_case, c)
        if err is not None and c["note"]:
            err += " [%s]" % c["note"]
        ok(c["name"], err)
        if TRACE_RSS and c["front"] in PIDS:
            print("rss %s: %d KB" % (c["name"], rss_kb(PIDS[c["front"]])), flush=True)
        good, r = healthy(FRONTS[c["front"]])
        ok(c["name"] + "/health", None if good else "health after the case: %r" % r)
    elapsed = time.monotonic() - t0

    time.sleep(2.5)
    for label, pid in PIDS.items():
        alive = imgtest.pid_alive(pid)
        same = alive and imgtest.start_time(pid) == start[label]
        ok("hostile/%s/same-process" % label, None if same else "pid %d is %s" % (
            pid, "another process" if alive else "gone"))
        good, r = healthy(FRONTS[label])
        ok("hostile/%s/healthy-at-end" % label, None if good else "health: %r" % r)
        if not alive:
            continue
        rss_end = rss_kb(pid)
        ratio = rss_end / rss_warm[label]
        print("hostile: %s pid %d RSS after warm-up %d KB, after the %d cases %d KB (x%.2f)" % (
            label, pid, rss_warm[label], len(todo), rss_end, ratio))
        if ASAN:
            # ASan's quarantine holds up to 256 MB of freed memory: RSS says nothing there.
            # LeakSanitizer checks every allocation at the instance's exit instead.
            print("hostile: %s RSS bound not asserted under ASan" % label)
            continue
        ok("hostile/%s/rss" % label, None if ratio <= RSS_GROWTH else
           "RSS grew from %d KB to %d KB, over %d%%" % (rss_warm[label], rss_end, (RSS_GROWTH - 1) * 100))
    print("hostile: %d cases in %.1fs" % (len(todo), elapsed))
    return tally.finish(RESULT, "hostile")


if __name__ == "__main__":
    sys.exit(main())
