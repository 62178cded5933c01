#!/usr/bin/env python3
"""test_conformance.py: imgproxy v3 processing parity through nginx; started by run.sh.

Two parts:
- every processing option of imgproxy v3, under each of its names, through the
  front nginx, with formats, dimensions and, where it matters, pixels;
- the sizing matrix: a 200x100 source, every resizing type x enlarge x extend x
  extend_aspect_ratio over 12 requested sizes, expected sizes from an
  independent Python model of imgproxy's sizing rules (not from imgfcgi's C code).

`test_conformance.py --make-fixtures DIR` writes the generated sources (run.sh
calls it before the servers start: the watermark is loaded at start-up).
Ends with "conformance: N passed, N failed".
"""
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, expect_error, expect_image, image_info, plain  # noqa: E402


# ---------------------------------------------------------------- fixtures
# Written as binary PAM with plain Python, then converted by `vips copy` (imgtest.write_image).


def lzw_uncompressed(indices):
    """GIF LZW data for 2-bit colour indices, a clear code every 2 pixels so codes stay 3 bits."""
    clear, eoi, bits, nbits, out = 4, 5, 0, 0, bytearray()

    def emit(code):
        nonlocal bits, nbits
        bits |= code << nbits
        nbits += 3
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8

    for i, v in enumerate(indices):
        if i % 2 == 0:
            emit(clear)
        emit(v)
    emit(eoi)
    if nbits:
        out.append(bits & 0xFF)
    data = bytearray([2])  # LZW minimum code size
    for i in range(0, len(out), 255):
        chunk = out[i:i + 255]
        data += bytes([len(chunk)]) + chunk
    return bytes(data + b"\x00")


def write_gif(path, w, h, frames, delays_cs, loop):
    """An animated GIF: frames are colour indices 0..3 (red, green, blue, white), one per frame."""
    g = bytearray(b"GIF89a") + w.to_bytes(2, "little") + h.to_bytes(2, "little") + bytes([0xF1, 0, 0])
    g += bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
    g += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + loop.to_bytes(2, "little") + b"\x00"
    for colour, delay in zip(frames, delays_cs):
        g += b"\x21\xf9\x04\x00" + delay.to_bytes(2, "little") + b"\x00\x00"
        g += b"\x2c\x00\x00\x00\x00" + w.to_bytes(2, "little") + h.to_bytes(2, "little") + b"\x00"
        g += lzw_uncompressed([colour] * (w * h))
    g += b"\x3b"
    with open(path, "wb") as f:
        f.write(g)


def ramp(x, y):
    """The ramp fixture's pixel at (x, y) of its 200x100 stored layout."""
    return (x * 255 // 199, y * 255 // 99, 128)


def with_exif_orientation(jpeg, orientation):
    """jpeg bytes with an APP1 EXIF segment holding only the Orientation tag, right after SOI."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08"  # big-endian TIFF header, IFD0 at offset 8
    tiff += b"\x00\x01"  # one entry
    tiff += b"\x01\x12\x00\x03\x00\x00\x00\x01" + orientation.to_bytes(2, "big") + b"\x00\x00"
    tiff += b"\x00\x00\x00\x00"  # no next IFD
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + jpeg[2:]


def tiff_ifd(entries, base):
    """One little-endian TIFF IFD at offset base: entries are (tag, type, count, value bytes)."""
    size = 2 + 12 * len(entries) + 4
    out, data = bytearray(len(entries).to_bytes(2, "little")), bytearray()
    for tag, typ, count, val in sorted(entries):
        out += tag.to_bytes(2, "little") + typ.to_bytes(2, "little") + count.to_bytes(4, "little")
        if len(val) <= 4:
            out += val.ljust(4, b"\x00")
        else:
            out += (base + size + len(data)).to_bytes(4, "little")
            data += val + (b"\x00" if len(val) % 2 else b"")
    return bytes(out + b"\x00\x00\x00\x00" + data)


def exif_ascii(tag, text):
    b = text.encode() + b"\x00"
    return (tag, 2, len(b), b)


COPYRIGHT = "(c) 2026 Jane Example"
ARTIST = "Jane Artist"


def copyright_segments():
    """APP1 EXIF (Make, Artist, Copyright, GPS), APP1 XMP and APP13 IPTC, as JPEG segments."""
    ifd0 = [exif_ascii(0x010F, "TestMake"), exif_ascii(0x013B, ARTIST), exif_ascii(0x8298, COPYRIGHT),
            (0x8825, 4, 1, b"\x00" * 4)]
    gps_at = 8 + len(tiff_ifd(ifd0, 8))
    ifd0[-1] = (0x8825, 4, 1, gps_at.to_bytes(4, "little"))
    gps = [exif_ascii(0x0001, "N"),
           (0x0002, 5, 3, b"".join(v.to_bytes(4, "little") for v in (48, 1, 51, 1, 24, 1)))]
    tiff = b"II*\x00" + (8).to_bytes(4, "little") + tiff_ifd(ifd0, 8) + tiff_ifd(gps, gps_at)
    exif = b"Exif\x00\x00" + tiff
    xmp = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
           '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
           'xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/" '
           'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmpRights:Marked="True" '
           'photoshop:City="XmpCityParis">'
           '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">XmpSecretTitle</rdf:li></rdf:Alt></dc:title>'
           '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">XmpRights2026</rdf:li></rdf:Alt></dc:rights>'
           '<dc:creator><rdf:Seq><rdf:li>XmpCreatorJane</rdf:li></rdf:Seq></dc:creator>'
           # A property written twice (not valid RDF; edited photos carry such packets).
           '<photoshop:LegacyIPTCDigest>00FF</photoshop:LegacyIPTCDigest>'
           '<photoshop:LegacyIPTCDigest>00FF</photoshop:LegacyIPTCDigest>'
           '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + xmp

    def iim(record, dataset, text):
        return bytes([0x1C, record, dataset]) + len(text).to_bytes(2, "big") + text.encode()

    iptc = iim(2, 5, "IptcObjectName") + iim(2, 80, "IptcByline") + iim(2, 90, "IptcCityParis") + \
        iim(2, 116, "IptcCopyright2026")
    iptc += b"\x00" * (len(iptc) % 2)
    ps3 = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + len(iptc).to_bytes(4, "big") + iptc

    def seg(marker, payload):
        return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload

    return seg(0xE1, exif) + seg(0xE1, xmp) + seg(0xED, ps3)


def write_orientations(d, prefix, pixel):
    """A 200x100 JPEG of pixel(x, y) as PREFIX1.jpg .. PREFIX8.jpg in d, each with that EXIF
    orientation; returns the JPEG without EXIF."""
    with tempfile.NamedTemporaryFile(suffix=".jpg") as t:
        imgtest.write_image(t.name + "[Q=95,strip]", 200, 100, pixel)
        jpeg = open(t.name, "rb").read()
    for o in range(1, 9):
        path = os.path.join(d, "%s%d.jpg" % (prefix, o))
        with open(path, "wb") as f:
            f.write(with_exif_orientation(jpeg, o))
        os.chmod(path, 0o644)
    return jpeg


def make_fixtures(d):
    # 40x20, 4 frames (red, green, blue, white), delays 100/200/300/400 ms, loop 3.
    write_gif(os.path.join(d, "anim4.gif"), 40, 20, [0, 1, 2, 3], [10, 20, 30, 40], 3)
    os.chmod(os.path.join(d, "anim4.gif"), 0o644)
    with open(os.path.join(d, "evil.svg"), "w") as f:
        f.write('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
                'width="100" height="50" onload="alert(1)"><script>alert(2)</script>'
                '<use xlink:href="http://127.0.0.1:1/x.svg#a"/>'
                '<rect width="100" height="50" fill="#ff0000" onclick="alert(3)"/></svg>')
    os.chmod(os.path.join(d, "evil.svg"), 0o644)
    # halves.png as JPEG with every EXIF orientation, 1..8.
    plain_jpeg = write_orientations(d, "orient", lambda x, y: (255, 0, 0) if x < 100 else (0, 0, 255))
    # A 200x100 ramp (red grows with x, green with y) as JPEG with every EXIF
    # orientation, and as PNG: crop positions after orientation, checked pixel by pixel.
    write_orientations(d, "ramp", ramp)
    imgtest.write_image(os.path.join(d, "ramp.png"), 200, 100, ramp)
    os.chmod(os.path.join(d, "ramp.png"), 0o644)
    # 200x100: left half red, right half blue (flip, sizing).
    imgtest.write_image(os.path.join(d, "halves.png"), 200, 100,
              lambda x, y: (255, 0, 0) if x < 100 else (0, 0, 255))
    # 200x100 checkerboard of 2 px squares (blur lowers energy, pixelate makes blocks).
    imgtest.write_image(os.path.join(d, "checker.png"), 200, 100,
              lambda x, y: (255, 255, 255) if ((x // 2) + (y // 2)) % 2 else (0, 0, 0))
    # 200x100 white with a 100x50 red box at (50, 25) (trim).
    imgtest.write_image(os.path.join(d, "boxed.png"), 200, 100,
              lambda x, y: (255, 0, 0) if 50 <= x < 150 and 25 <= y < 75 else (255, 255, 255))
    # 200x100 fully transparent but a green centre (background when flattening).
    imgtest.write_image(os.path.join(d, "transparent.png"), 200, 100,
              lambda x, y: (0, 255, 0, 255) if 90 <= x < 110 and 40 <= y < 60 else (0, 0, 0, 0), 4)
    # 64x32: left half (250, 120, 40) at alpha 200, right half transparent green
    # (premultiplied alpha around the resampler).
    imgtest.write_image(os.path.join(d, "alphaedge.png"), 64, 32,
              lambda x, y: (250, 120, 40, 200) if x < 32 else (0, 255, 0, 0), 4)
    # 200x100 plain blue (watermark placement).
    imgtest.write_image(os.path.join(d, "blue.png"), 200, 100, lambda x, y: (0, 0, 255))
    # The watermark: 20x10 opaque red.
    imgtest.write_image(os.path.join(d, "wm.png"), 20, 10, lambda x, y: (255, 0, 0))
    # A small AVIF (no embedded thumbnail: enforce_thumbnail falls back to the image).
    imgtest.write_image(os.path.join(d, "small.avif"), 64, 32, lambda x, y: (0, 128, 255))
    # 200x100 red/blue JPEG with copyright and other EXIF, XMP and IPTC (keep_copyright).
    with open(os.path.join(d, "copyright.jpg"), "wb") as f:
        f.write(plain_jpeg[:2] + copyright_segments() + plain_jpeg[2:])
    for name in ("halves.png", "checker.png", "boxed.png", "transparent.png", "alphaedge.png",
                 "blue.png", "wm.png", "small.avif", "copyright.jpg"):
        os.chmod(os.path.join(d, name), 0o644)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--make-fixtures":
    make_fixtures(sys.argv[2])
    sys.exit(0)


FRONT = os.environ["IT_FRONT"]
SIGNED_FRONT = os.environ["IT_SIGNED_FRONT"]
# imgfcgi #3: presets, a watermark and IMGPROXY_ALLOW_SECURITY_OPTIONS=true.
FRONT3 = os.environ["IT_CONF_FRONT"]
ROOT = os.environ["IT_ROOT"]
RESULT = os.environ.get("IT_CONF_RESULT")
# Sanitizer builds are several times slower.
TIMEOUT = 120 if os.environ.get("IT_ASAN") == "1" else 60
WORKERS = 4


def get(path, base=FRONT):
    return imgtest.http_get(base, path, TIMEOUT)


def pixels(body):
    """Decodes body to (w, h, bands, bytes) through a binary PPM/PGM from `vips copy`."""
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in")
        with open(src, "wb") as f:
            f.write(body)
        info = image_info(body)
        bands = int(info["bands"])
        # Drop alpha for a PPM; keep it as a second image when wanted.
        dst = os.path.join(d, "out.ppm" if bands >= 3 else "out.pgm")
        flat = os.path.join(d, "flat.v")
        if bands in (2, 4):
            subprocess.run(["vips", "extract_band", src, flat, "0", "--n", str(bands - 1)],
                           check=True, capture_output=True, timeout=60)
            src = flat
        subprocess.run(["vips", "copy", src, dst], check=True, capture_output=True, timeout=60)
        with open(dst, "rb") as f:
            magic, w, hh, data = imgtest.read_pnm(f.read())
    return w, hh, 3 if magic == b"P6" else 1, data


def px(img, x, y):
    w, _, ch, data = img
    i = (y * w + x) * ch
    return tuple(data[i:i + ch])


def near(a, b, tol=40):
    return all(abs(p - q) <= tol for p, q in zip(a, b))


def energy(img):
    """Mean absolute horizontal difference of the first channel: high-frequency energy."""
    w, hh, ch, data = img
    total = 0
    for y in range(hh):
        row = y * w * ch
        for x in range(w - 1):
            total += abs(data[row + x * ch] - data[row + (x + 1) * ch])
    return total / (hh * (w - 1))


def L(name):
    return "local:///" + name


# ---------------------------------------------------------------- the sizing model


def go_round(v):
    """Go's math.Round: half away from zero."""
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def scale(a, s):
    return 0 if a == 0 else go_round(a * s)


def min_non_zero(a, b):
    if a == 0:
        return b
    if b == 0:
        return a
    return min(a, b)


def extend_size(iw, ih, w, hh):
    if w <= iw and hh <= ih:
        return iw, ih
    return (w if w > 0 else iw), (hh if hh > 0 else ih)


def model(src_w, src_h, rt="fit", w=0, hh=0, enlarge=False, extend=False, exar=False, dpr=1.0,
          zoom=1.0, min_w=0, min_h=0, pad=(0, 0, 0, 0), mrd=0):
    """Result size of a raster source, written from imgproxy v3's sizing and padding rules."""
    dst_w = w if w else src_w
    dst_h = hh if hh else src_h
    ws = 1.0 if dst_w == src_w else src_w / dst_w
    hs = 1.0 if dst_h == src_h else src_h / dst_h
    if ws != 1 or hs != 1:
        t = rt
        if t == "auto":
            same = (src_w - src_h >= 0 and dst_w - dst_h >= 0) or (src_w - src_h < 0 and dst_w - dst_h < 0)
            t = "fill" if same else "fit"
        if w == 0 and t != "force":
            ws = hs
        elif hh == 0 and t != "force":
            hs = ws
        elif t == "fit":
            ws = hs = max(ws, hs)
        elif t in ("fill", "fill-down"):
            ws = hs = min(ws, hs)
    ws /= zoom
    hs /= zoom
    dpr_scale = dpr
    if not enlarge:
        m = min(ws, hs)
        if m < 1:
            ws /= m
            hs /= m
            if not extend:
                dpr_scale /= m
        dpr_scale = min(dpr_scale, ws, hs)
    if min_w and src_w / min_w < ws:
        hs /= ws / (src_w / min_w)
        ws = src_w / min_w
    if min_h and src_h / min_h < hs:
        ws /= hs / (src_h / min_h)
        hs = src_h / min_h
    ws /= dpr_scale
    hs /= dpr_scale
    ws = min(ws, src_w)
    hs = min(hs, src_h)
    wscale, hscale = 1 / ws, 1 / hs

    def sizes(wscale, hscale, dpr_scale):
        tw, th = scale(w, dpr_scale * zoom), scale(hh, dpr_scale * zoom)
        sw, sh = max(scale(src_w, wscale), 1), max(scale(src_h, hscale), 1)
        cw, chh = tw, th
        if rt == "fill-down" and not enlarge:
            dw, dh = tw / sw, th / sh
            if dw > dh and dw > 1:
                chh, cw = scale(sw, th / tw), sw
            elif dh > dw and dh > 1:
                cw, chh = scale(sh, tw / th), sh
        ew = eh = 0
        if exar and tw > 0 and th > 0:
            ow, oh = min_non_zero(sw, cw), min_non_zero(sh, chh)
            dw, dh = tw / ow, th / oh
            if dh > dw:
                eh, ew = scale(ow, th / tw), ow
            elif dw > dh:
                ew, eh = scale(oh, tw / th), oh
        pads = [int(round(p * dpr_scale)) for p in pad]  # RoundToEven, as Python's round
        return tw, th, sw, sh, cw, chh, ew, eh, pads

    tw, th, sw, sh, cw, chh, ew, eh, pads = sizes(wscale, hscale, dpr_scale)
    if mrd > 0:
        ow, oh = min_non_zero(sw, cw), min_non_zero(sh, chh)
        if extend:
            ow, oh = max(ow, tw), max(oh, th)
        elif exar:
            ow, oh = max(ow, ew), max(oh, eh)
        ow += pads[1] + pads[3]
        oh += pads[0] + pads[2]
        if ow > mrd or oh > mrd:
            down = mrd / max(ow, oh)
            wscale = max(wscale * down, 1 / src_w)
            hscale = max(hscale * down, 1 / src_h)
            dpr_scale *= down
            tw, th, sw, sh, cw, chh, ew, eh, pads = sizes(wscale, hscale, dpr_scale)
    out_w, out_h = min(min_non_zero(cw, sw), sw), min(min_non_zero(chh, sh), sh)
    if extend:
        out_w, out_h = extend_size(out_w, out_h, tw, th)
    if exar and ew > 0 and eh > 0:
        out_w, out_h = extend_size(out_w, out_h, ew, eh)
    return out_w + pads[1] + pads[3], out_h + pads[0] + pads[2]


# ---------------------------------------------------------------- registry

SUITE = imgtest.Suite()
test = SUITE.test


def size_case(name, opts, src, fmt, want, base=None):
    test(name)(lambda: expect_image(get(plain(opts, L(src), fmt), base or FRONT), fmt, *want))


def model_case(name, opts, src_wh, kw, src="halves.png", base=None):
    def run():
        want = model(*src_wh, **kw)
        expect_image(get(plain(opts, L(src), "png"), base or FRONT), "png", *want)
    test(name)(run)


# ---------------------------------------------------------------- the sizing matrix

SIZES = [(50, 50), (100, 0), (0, 50), (300, 150), (400, 400), (150, 100), (100, 300), (250, 50),
         (20, 80), (200, 100), (0, 200), (500, 0)]
for rt in ("fit", "fill", "fill-down", "force", "auto"):
    for el in (0, 1):
        for ex in (0, 1):
            for exar in (0, 1):
                for (w, hh) in SIZES:
                    opts = "rs:%s:%d:%d:%d:%d/exar:%d" % (rt, w, hh, el, ex, exar)
                    model_case("matrix/" + opts, opts, (200, 100),
                               dict(rt=rt, w=w, hh=hh, enlarge=bool(el), extend=bool(ex), exar=bool(exar)))

# dpr, zoom, min sizes, padding and max_result_dimension through the same model.
model_case("sizing/dpr", "rs:fit:50:50/dpr:2", (200, 100), dict(w=50, hh=50, dpr=2))
model_case("sizing/dpr-enlarge", "rs:fit:150:0:1/dpr:2", (200, 100), dict(w=150, enlarge=True, dpr=2))
model_case("sizing/zoom", "z:0.5", (200, 100), dict(zoom=0.5))
model_case("sizing/zoom-2-enlarge", "z:2/el:1", (200, 100), dict(zoom=2, enlarge=True))
model_case("sizing/min-width", "w:50/mw:120", (200, 100), dict(w=50, min_w=120))
model_case("sizing/min-height", "h:20/mh:60", (200, 100), dict(hh=20, min_h=60))
model_case("sizing/padding", "rs:fit:100:100/pd:10:20", (200, 100), dict(w=100, hh=100, pad=(10, 20, 10, 20)))
model_case("sizing/padding-dpr", "rs:fit:50:50/pd:5/dpr:2", (200, 100), dict(w=50, hh=50, dpr=2, pad=(5, 5, 5, 5)))
model_case("sizing/padding-4", "pd:1:2:3:4", (200, 100), dict(pad=(1, 2, 3, 4)))
model_case("sizing/mrd", "rs:fit:400:400:1/mrd:100", (200, 100), dict(w=400, hh=400, enlarge=True, mrd=100),
           base=FRONT3)
model_case("sizing/mrd-extend", "rs:fit:300:300:0:1/mrd:150", (200, 100),
           dict(w=300, hh=300, extend=True, mrd=150), base=FRONT3)
model_case("sizing/fractional-crop", "c:0.5:0.5/rs:fit:60:60:1", (100, 50),
           dict(w=60, hh=60, enlarge=True))

# ---------------------------------------------------------------- option rows

size_case("opt/resize", "resize:fill:50:50", "halves.png", "png", (50, 50))
size_case("opt/rs-gravity", "rs:fill:50:50:0:0:ea", "halves.png", "png", (50, 50))
size_case("opt/size", "size:100:100", "halves.png", "png", (100, 50))
size_case("opt/s", "s:100:0:0:1", "halves.png", "png", (100, 50))
size_case("opt/resizing_type", "resizing_type:force/w:50/h:50", "halves.png", "png", (50, 50))
size_case("opt/rt", "rt:fill/w:50/h:50", "halves.png", "png", (50, 50))
size_case("opt/width", "width:100", "halves.png", "png", (100, 50))
size_case("opt/height", "height:20", "halves.png", "png", (40, 20))
size_case("opt/min-width", "min-width:300/el:1", "halves.png", "png", (300, 150))
size_case("opt/min-height", "mh:200/el:1", "halves.png", "png", (400, 200))
size_case("opt/zoom", "zoom:0.5:0.25", "halves.png", "png", (100, 25))
size_case("opt/dpr", "w:50/dpr:3", "halves.png", "png", (150, 75))
size_case("opt/enlarge", "w:400/enlarge:1", "halves.png", "png", (400, 200))
size_case("opt/extend", "rs:fit:300:300/extend:1:no", "halves.png", "png", (300, 300))
size_case("opt/extend_aspect_ratio", "rs:fit:300:300/extend_aspect_ratio:1", "halves.png", "png", (200, 200))
size_case("opt/extend_ar", "rs:fit:50:100/extend_ar:1:so", "halves.png", "png", (50, 100))
size_case("opt/gravity-sm", "rs:fill:50:50/gravity:sm", "halves.png", "png", (50, 50))
size_case("opt/g-fp", "rs:fill:50:50/g:fp:0.2:0.8", "halves.png", "png", (50, 50))
size_case("opt/crop", "crop:50:40:nowe", "halves.png", "png", (50, 40))
size_case("opt/c-fraction", "c:0.25:0.5", "halves.png", "png", (50, 50))
size_case("opt/trim", "trim:10", "boxed.png", "png", (100, 50))
size_case("opt/t-color-equal", "t:10:ffffff:1:1", "boxed.png", "png", (100, 50))
size_case("opt/padding", "padding:10", "halves.png", "png", (220, 120))
size_case("opt/pd", "pd:0:5", "halves.png", "png", (210, 100))
size_case("opt/rotate", "rotate:90", "halves.png", "png", (100, 200))
size_case("opt/rot-270", "rot:270/w:50", "halves.png", "png", (50, 100))
size_case("opt/strip_metadata", "strip_metadata:0", "halves.png", "png", (200, 100))
size_case("opt/sm", "sm:1", "halves.png", "png", (200, 100))
size_case("opt/keep_copyright", "keep_copyright:0", "halves.png", "png", (200, 100))
size_case("opt/kcr", "kcr:1", "halves.png", "png", (200, 100))
size_case("opt/strip_color_profile", "strip_color_profile:0", "halves.png", "png", (200, 100))
size_case("opt/scp", "scp:1", "halves.png", "png", (200, 100))
size_case("opt/enforce_thumbnail", "enforce_thumbnail:1", "halves.png", "png", (200, 100))
size_case("opt/eth", "eth:0", "halves.png", "png", (200, 100))
size_case("opt/eth-avif-source", "eth:1/w:32", "small.avif", "png", (32, 16))
size_case("opt/quality", "quality:50", "halves.png", "jpeg", (200, 100))
size_case("opt/q", "q:90", "halves.png", "webp", (200, 100))
size_case("opt/format_quality", "format_quality:jpeg:20:webp:30", "halves.png", "jpeg", (200, 100))
size_case("opt/fq", "fq:webp:10", "halves.png", "webp", (200, 100))
size_case("opt/sharpen", "sharpen:1.5", "halves.png", "png", (200, 100))
size_case("opt/sh", "sh:0.5/w:100", "halves.png", "png", (100, 50))
size_case("opt/preset-default-and-named", "preset:small", "halves.png", "png", (50, 25), base=FRONT3)
size_case("opt/pr-chained", "pr:small:wide", "halves.png", "png", (150, 75), base=FRONT3)
size_case("opt/pr-recursive-skipped", "pr:loop", "halves.png", "png", (10, 5), base=FRONT3)
size_case("opt/max_result_dimension", "max_result_dimension:50", "halves.png", "png", (50, 25), base=FRONT3)
size_case("opt/mrd", "mrd:80", "halves.png", "png", (80, 40), base=FRONT3)
size_case("opt/max_src_resolution-ok", "max_src_resolution:1", "halves.png", "png", (200, 100), base=FRONT3)
size_case("opt/max_animation_frames", "max_animation_frames:2", "halves.png", "png", (200, 100), base=FRONT3)
size_case("opt/maf", "maf:1", "halves.png", "png", (200, 100), base=FRONT3)
size_case("opt/max_animation_frame_resolution", "max_animation_frame_resolution:1", "halves.png", "png",
          (200, 100), base=FRONT3)
size_case("opt/mafr", "mafr:0.5", "halves.png", "png", (200, 100), base=FRONT3)
size_case("opt/max_src_file_size-ok", "max_src_file_size:10000000", "halves.png", "png", (200, 100),
          base=FRONT3)
size_case("opt/format", "format:webp", "halves.png", "webp", (200, 100))
size_case("opt/f", "f:gif", "halves.png", "gif", (200, 100))
size_case("opt/ext", "ext:tiff", "halves.png", "tiff", (200, 100))


@test("opt/auto_rotate")
def _():
    # orientation-6.jpg is stored landscape with EXIF 6: auto-rotation swaps the sides.
    info = image_info(open(os.path.join(ROOT, "orientation-6.jpg"), "rb").read())
    sw, sh = int(info["width"]), int(info["height"])
    expect_image(get(plain("auto_rotate:1", L("orientation-6.jpg"), "jpeg")), "jpeg", sh, sw)
    expect_image(get(plain("ar:0", L("orientation-6.jpg"), "jpeg")), "jpeg", sw, sh)


# Where the red half of halves.png lands after each EXIF orientation (displayed size, red pixel, blue pixel).
ORIENTATIONS = {
    1: ((200, 100), (20, 50), (180, 50)),
    2: ((200, 100), (180, 50), (20, 50)),   # mirrored
    3: ((200, 100), (180, 50), (20, 50)),   # rotated 180
    4: ((200, 100), (20, 50), (180, 50)),   # flipped vertically
    5: ((100, 200), (50, 20), (50, 180)),   # transposed
    6: ((100, 200), (50, 20), (50, 180)),   # rotated 90 clockwise
    7: ((100, 200), (50, 180), (50, 20)),   # transversed
    8: ((100, 200), (50, 180), (50, 20)),   # rotated 270 clockwise
}


def orientation_case(o):
    def run():
        (w, hh), red, blue = ORIENTATIONS[o]
        r = get(plain("", L("orient%d.jpg" % o), "png"))
        expect_image(r, "png", w, hh)
        img = pixels(r.body)
        check(near(px(img, *red), (255, 0, 0), 60), "orientation %d: %r should be red: %r" % (o, red, px(img, *red)))
        check(near(px(img, *blue), (0, 0, 255), 60), "orientation %d: %r should be blue" % (o, blue))
        # Without auto_rotate the stored layout comes back; with a crop, gravity follows the display.
        expect_image(get(plain("ar:0", L("orient%d.jpg" % o), "png")), "png", 200, 100)
        r = get(plain("c:40:40:nowe", L("orient%d.jpg" % o), "png"))
        expect_image(r, "png", 40, 40)
        corner = px(pixels(r.body), 5, 5)
        want = px(img, 5, 5)
        check(near(corner, want, 60), "orientation %d: crop nowe corner %r, display corner %r" % (o, corner, want))
    test("exif/orientation-%d" % o)(run)


for _o in range(1, 9):
    orientation_case(_o)


# EXIF orientation (1..8, or the rotate/flip options of the PNG cases) -> the stored pixel
# of the ramp that a displayed pixel shows: the EXIF definitions, on a 200x100 stored image.
DISPLAY_TO_STORED = {
    1: lambda x, y: (x, y),
    2: lambda x, y: (199 - x, y),
    3: lambda x, y: (199 - x, 99 - y),
    4: lambda x, y: (x, 99 - y),
    5: lambda x, y: (y, x),
    6: lambda x, y: (y, 99 - x),
    7: lambda x, y: (199 - y, 99 - x),
    8: lambda x, y: (199 - y, x),
}


def ramp_check(opts, src, o, box, scale_by, out):
    """Fetches opts on src (displayed as EXIF orientation o), expects an out = (w, h) PNG
    whose pixel (i, j) shows displayed pixel box[0] + (i + 0.5) / scale_by - 0.5 (same for y)."""
    r = get(plain(opts, L(src), "png"))
    expect_image(r, "png", out[0], out[1])
    img = pixels(r.body)
    for i, j in ((2, 2), (out[0] - 3, 2), (2, out[1] - 3), (out[0] - 3, out[1] - 3), (out[0] // 2, out[1] // 2)):
        dx = box[0] + (i + 0.5) / scale_by - 0.5
        dy = box[1] + (j + 0.5) / scale_by - 0.5
        want = ramp(*DISPLAY_TO_STORED[o](int(round(dx)), int(round(dy))))
        check(near(px(img, i, j), want, 24), "%s on %s: pixel %d,%d is %r, want %r (displayed %.1f,%.1f)"
              % (opts, src, i, j, px(img, i, j), want, dx, dy))


def inside(pos, size, outer):
    """A crop position clamped so that the crop stays inside the image, as gravity offsets are."""
    return max(0, min(pos, outer - size))


def ramp_case(o):
    def run():
        dw, dh = (100, 200) if o >= 5 else (200, 100)
        # A crop before scaling at an asymmetric gravity with offsets, then scaled by 1/2.
        ramp_check("c:60:80:nowe:13:7/rs:fit:30:40", "ramp%d.jpg" % o, o,
                   (inside(13, 60, dw), inside(7, 80, dh)), 0.5, (30, 40))
        ramp_check("c:60:80:soea:9:21", "ramp%d.jpg" % o, o,
                   (inside(dw - 60 - 9, 60, dw), inside(dh - 80 - 21, 80, dh)), 1.0, (60, 80))
        # Fill: scaled to cover 50x50, then cropped at north-west with offsets.
        # A gravity offset cannot push the crop out of the image (it is clamped).
        s = max(50 / dw, 50 / dh)
        left, top = inside(4, 50, round(dw * s)), inside(6, 50, round(dh * s))
        ramp_check("rs:fill:50:50/g:nowe:4:6", "ramp%d.jpg" % o, o, (left / s, top / s), s, (50, 50))
    test("exif/ramp-crop-%d" % o)(run)


for _o in range(1, 9):
    ramp_case(_o)

# The rotate and flip options on a PNG (no EXIF): the same mappings as orientations 6, 8, 3, 2.
ROTATE_CASES = [("rot:90", 6), ("rot:270", 8), ("rot:180", 3), ("fl:1", 2), ("fl:0:1", 4)]


def rotate_case(rot, o):
    def run():
        dw, dh = (100, 200) if o >= 5 else (200, 100)
        ramp_check(rot + "/c:60:80:nowe:13:7", "ramp.png", o, (inside(13, 60, dw), inside(7, 80, dh)), 1.0,
                   (60, 80))
        ramp_check(rot + "/c:60:80:noea:5:30/rs:fit:30:40", "ramp.png", o,
                   (inside(dw - 60 - 5, 60, dw), inside(30, 80, dh)), 0.5, (30, 40))
    test("opt/ramp-%s" % rot)(run)


for _rot, _o in ROTATE_CASES:
    rotate_case(_rot, _o)


# Crop and result-crop positions on halves.png (left red, right blue): gravity, offsets, focus point.
POSITIONS = [
    ("c:50:50:we", "red"), ("c:50:50:ea", "blue"), ("c:50:50:we:120:0", "blue"), ("c:50:50:ea:120:0", "red"),
    ("c:50:50:ce:-0.3:0", "red"), ("c:50:50:fp:0.9:0.5", "blue"), ("c:50:50:fp:0.1:0.5", "red"),
    ("rs:fill:50:100/g:we", "red"), ("rs:fill:50:100/g:ea", "blue"), ("rs:fill:50:100/g:fp:0.8:0", "blue"),
    ("rs:fill:50:100/g:nowe:110:0", "blue"), ("rs:fill:50:100/g:nowe:50:0", "red"),
    # Absolute offsets scale with dpr: 50 px at dpr 2 starts the 50x100 crop at x=100.
    ("rs:fill:25:50/dpr:2/g:we:50", "blue"), ("rs:fill:25:50/dpr:2/g:we:20", "red"),
]


def position_case(opts, colour):
    def run():
        r = get(plain(opts, L("halves.png"), "png"))
        check(r.status == 200, "want 200, got %r" % r)
        img = pixels(r.body)
        want = (255, 0, 0) if colour == "red" else (0, 0, 255)
        for x, y in ((2, 2), (img[0] - 3, img[1] - 3)):
            check(near(px(img, x, y), want), "%s: %d,%d should be %s: %r" % (opts, x, y, colour, px(img, x, y)))
    test("position/" + opts)(run)


for _opts, _colour in POSITIONS:
    position_case(_opts, _colour)


RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
# Pixels of single results: name, options, source, format, size checked first ((w, h)
# or (w, h, bands); None: not checked), the instance, and (x, y, colour) probes.
PIXEL_ROWS = [
    ("opt/flip", "flip:1", "halves.png", "png", (200, 100), FRONT, [(5, 50, BLUE)]),
    ("opt/flip/vertical-keeps-left", "fl:0:1", "halves.png", "png", None, FRONT, [(5, 50, RED)]),
    ("opt/background-flatten", "background:255:0:0", "transparent.png", "jpeg", (200, 100), FRONT,
     [(5, 5, RED), (100, 50, GREEN)]),
    ("opt/bg-hex-png", "bg:00f", "transparent.png", "png", (200, 100, 3), FRONT, [(0, 0, BLUE)]),
    ("opt/bg-default-white-jpeg", "", "transparent.png", "jpeg", None, FRONT, [(0, 0, WHITE)]),
    # The extended band is green, the image sits in the centre.
    ("opt/extend-background", "rs:fit:300:300/ex:1/bg:0:255:0", "halves.png", "jpeg", (300, 300), FRONT,
     [(150, 10, GREEN), (60, 150, RED)]),
    ("opt/padding-pixels", "pd:10:0:0:0/bg:ffffff", "blue.png", "png", (200, 110), FRONT,
     [(100, 5, WHITE), (100, 50, BLUE)]),
    ("opt/watermark-position/noea", "watermark:1:noea", "blue.png", "png", (200, 100), FRONT3,
     [(195, 3, RED), (5, 95, BLUE)]),
    ("opt/watermark-position/sowe", "watermark:1:sowe", "blue.png", "png", (200, 100), FRONT3,
     [(5, 95, RED), (195, 3, BLUE)]),
    ("opt/watermark-position/ce", "watermark:1:ce", "blue.png", "png", (200, 100), FRONT3,
     [(100, 50, RED), (5, 5, BLUE)]),
    ("opt/wm-offset-scale-opacity/offset", "wm:1:nowe:30:20", "blue.png", "png", None, FRONT3,
     [(35, 25, RED), (5, 5, BLUE)]),
    # Scale 0.5 makes the watermark 100 px wide.
    ("opt/wm-offset-scale-opacity/scale", "wm:1:nowe:0:0:0.5", "blue.png", "png", None, FRONT3,
     [(90, 20, RED)]),
    ("opt/wm-replicate", "wm:1:re", "blue.png", "png", None, FRONT3,
     [(5, 5, RED), (45, 5, RED), (185, 95, RED), (105, 55, RED)]),
    # Spaced tiles leave gaps.
    ("opt/wm-replicate/spaced", "wm:1:re:20:10", "blue.png", "png", None, FRONT3, [(15, 10, RED), (2, 2, BLUE)]),
    # PNG cannot animate: the first frame.
    ("anim/frame-colours", "maf:4", "anim4.gif", "png", (40, 20), FRONT3, [(5, 5, RED)]),
    # svgload is allowed and draws the red rect.
    ("svg/rasterised-on-request", "w:50", "evil.svg", "png", (50, 25), FRONT, [(25, 12, RED)]),
]


def pixel_case(name, opts, src, fmt, size, base, probes):
    def run():
        r = get(plain(opts, L(src), fmt), base)
        if size:
            expect_image(r, fmt, *size)
        img = pixels(r.body)
        for x, y, want in probes:
            check(near(px(img, x, y), want), "%d,%d is %r, want %r" % (x, y, px(img, x, y), want))
    test(name)(run)


for _row in PIXEL_ROWS:
    pixel_case(*_row)


def variants(opts, src, fmt, size):
    """(option, response) for src under each of opts, each checked to be fmt of size."""
    for opt in opts:
        r = get(plain(opt, L(src), fmt))
        expect_image(r, fmt, *size)
        yield opt, r


@test("opt/blur")
def _():
    base = energy(pixels(get(plain("", L("checker.png"), "png")).body))
    for opt, r in variants(("blur:2", "bl:1"), "checker.png", "png", (200, 100)):
        e = energy(pixels(r.body))
        check(e < base / 2, "%s: energy %.1f not well below %.1f" % (opt, e, base))


@test("opt/resize-premultiplies-alpha")
def _():
    # Inside the translucent half the colour and alpha come back as they were; at its
    # edge the transparent green must not bleed into the colour, only lower alpha.
    r = get(plain("rs:fit:16:16", L("alphaedge.png"), "png"))
    expect_image(r, "png", 16, 8, bands=4)

    def at(x, y):
        out = imgtest.run_on_body(r.body, ["vips", "getpoint"], x, y)
        return tuple(int(float(v)) for v in out.split())
    inner, edge = at(2, 4), at(7, 4)
    check(near(inner, (250, 120, 40, 200), 1), "inside the translucent half: %r" % (inner,))
    check(near(edge[:3], (250, 120, 40), 2) and 40 <= edge[3] < 200,
          "at the edge: %r, want (250, 120, 40) at a lower alpha" % (edge,))


@test("opt/pixelate")
def _():
    for opt, r in variants(("pixelate:10", "pix:8"), "checker.png", "png", (200, 100)):
        n = int(opt.split(":")[1])
        img = pixels(r.body)
        # Every n x n block is one colour.
        for bx in range(0, 200 - n, n * 3):
            for by in range(0, 100 - n, n * 2):
                first = px(img, bx, by)
                for dx in (0, n - 1):
                    for dy in (0, n - 1):
                        check(px(img, bx + dx, by + dy) == first, "%s: block at %d,%d not uniform" % (opt, bx, by))


@test("opt/wm-offset-scale-opacity")
def _():
    c = px(pixels(get(plain("wm:0.5:ce", L("blue.png"), "png"), FRONT3).body), 100, 50)
    check(80 < c[0] < 180 and 80 < c[2] < 180, "half opacity mixes red and blue: %r" % (c,))


def red_footprint(img):
    """(count, bbox) of the watermark's red pixels on a blue result."""
    w, hh, _, _ = img
    n, xs, ys = 0, [], []
    for y in range(hh):
        for x in range(w):
            p = px(img, x, y)
            if p[0] > 128 and p[2] < 128:
                n += 1
                xs.append(x)
                ys.append(y)
    return n, ((min(xs), min(ys), max(xs), max(ys)) if n else None)


@test("opt/wm-scale-footprint")
def _():
    # scale 0.3 of 200x100: the 20x10 watermark fits 60x30 (sides rounded half to even), and
    # ce puts it at RoundToEven((200-60+1)/2) = 70, RoundToEven((100-30+1)/2) = 36.
    r = get(plain("wm:1:ce:0:0:0.3", L("blue.png"), "png"), FRONT3)
    expect_image(r, "png", 200, 100)
    n, box = red_footprint(pixels(r.body))
    check(box == (70, 36, 129, 65) and n == 60 * 30, "footprint %r of %d px, want (70, 36, 129, 65) 1800" % (box, n))
    # scale 0.1 on a 50x50 result: fit 5x5, so 5x2.5 -> 5x3 (Go rounding), at soea 45,47.
    r = get(plain("rs:force:50:50/wm:1:soea:0:0:0.1", L("blue.png"), "png"), FRONT3)
    n, box = red_footprint(pixels(r.body))
    check(box == (45, 47, 49, 49) and n == 15, "footprint %r of %d px, want (45, 47, 49, 49) 15" % (box, n))


@test("opt/wm-replicate-relative-spacing")
def _():
    # Spacing 0.1 x 200 = 20, 0.2 x 100 = 20: 40x30 tiles, the watermark at 10,10 in each; the
    # tiling is centred (5 x 5 tiles, 150 px tall, shifted up 25): red rows 15-24, 45-54, 75-84.
    r = get(plain("wm:1:re:0.1:0.2", L("blue.png"), "png"), FRONT3)
    img = pixels(r.body)
    n, box = red_footprint(img)
    check(n == 5 * 20 * 3 * 10 and box == (10, 15, 189, 84), "tiles %d px in %r, want 3000 in (10, 15, 189, 84)" % (n, box))
    for x, y, red in ((15, 20, True), (15, 10, False), (15, 50, True), (35, 20, False), (55, 80, True)):
        check(near(px(img, x, y), (255, 0, 0) if red else (0, 0, 255)), "%d,%d %s" % (x, y, "red" if red else "blue"))


def metadata_of(r, fmt, w=200, hh=100):
    """vipsheader fields and the bytes to search for XMP/IPTC text (PNG zTXt chunks inflated)."""
    import zlib

    info = expect_image(r, fmt, w, hh)
    text, b, i = bytearray(r.body), r.body, 8
    while fmt == "png" and i + 8 <= len(b):
        n, kind = int.from_bytes(b[i:i + 4], "big"), b[i + 4:i + 8]
        if kind == b"zTXt":
            data = b[i + 8:i + 8 + n]
            text += zlib.decompress(data[data.index(b"\x00") + 2:])
        i += 12 + n
    return info, bytes(text)


@test("meta/keep_copyright-jpeg")
def _():
    for opts in ("sm:1/kcr:1", "strip_metadata:1/keep_copyright:1", ""):  # kcr and sm default to true
        info, body = metadata_of(get(plain(opts, L("copyright.jpg"), "jpeg")), "jpeg")
        check(COPYRIGHT in info.get("exif-ifd0-Copyright", ""), "%s: Copyright %r" % (opts, info.get("exif-ifd0-Copyright")))
        check(info.get("exif-ifd0-Artist", "").startswith(ARTIST), "%s: Artist %r" % (opts, info.get("exif-ifd0-Artist")))
        gone = [k for k in info if k.startswith("exif-ifd3-") or k == "exif-ifd0-Make"]
        check(not gone, "%s: GPS and Make must go: %r" % (opts, gone))
        for keep in (b"XmpRights2026", b"XmpCreatorJane", b"IptcByline", b"IptcCopyright2026"):
            check(keep in body, "%s: %r was dropped" % (opts, keep))
        for drop in (b"TestMake", b"XmpSecretTitle", b"XmpCityParis", b"LegacyIPTCDigest", b"IptcObjectName",
                     b"IptcCityParis"):
            check(drop not in body, "%s: %r was kept" % (opts, drop))


@test("meta/kcr-0-drops-all")
def _():
    info, body = metadata_of(get(plain("sm:1/kcr:0", L("copyright.jpg"), "jpeg")), "jpeg")
    check(not [k for k in info if k.startswith(("exif", "xmp", "iptc"))], "metadata left: %r" % sorted(info))
    for drop in (ARTIST.encode(), COPYRIGHT.encode(), b"XmpRights2026", b"IptcByline"):
        check(drop not in body, "%r was kept" % drop)


@test("meta/sm-0-keeps-all")
def _():
    info, body = metadata_of(get(plain("sm:0", L("copyright.jpg"), "jpeg")), "jpeg")
    check("exif-ifd3-GPSLatitude" in info and "TestMake" in info.get("exif-ifd0-Make", ""), "EXIF kept")
    check(b"XmpSecretTitle" in body and b"IptcCityParis" in body, "XMP and IPTC kept")


@test("meta/keep_copyright-webp-png")
def _():
    for fmt in ("webp", "png"):
        info, body = metadata_of(get(plain("kcr:1", L("copyright.jpg"), fmt)), fmt)
        check(COPYRIGHT in info.get("exif-ifd0-Copyright", ""), "%s: Copyright %r" % (fmt, info.get("exif-ifd0-Copyright")))
        check(not [k for k in info if k.startswith("exif-ifd3-") or k == "exif-ifd0-Make"], "%s: GPS, Make" % fmt)
        check(b"XmpRights2026" in body and b"XmpSecretTitle" not in body, "%s: XMP filtered" % fmt)
        info, body = metadata_of(get(plain("kcr:0", L("copyright.jpg"), fmt)), fmt)
        check(not [k for k in info if k.startswith(("exif", "xmp"))], "%s kcr:0: %r" % (fmt, sorted(info)))


@test("meta/strip_color_profile-with-sm")
def _():
    # Stripping metadata keeps the ICC profile unless strip_color_profile drops it (imgproxy's vips_strip).
    for fmt in ("jpeg", "webp", "png"):
        info = expect_image(get(plain("sm:1/scp:0/w:50", L("orientation-6.jpg"), fmt)), fmt, 50, 31)
        check("icc-profile-data" in info, "%s scp:0: ICC dropped" % fmt)
        check("exif-ifd0-Make" not in info, "%s sm:1: EXIF Make kept" % fmt)
        info = expect_image(get(plain("sm:1/scp:1/w:50", L("orientation-6.jpg"), fmt)), fmt, 50, 31)
        check("icc-profile-data" not in info, "%s scp:1: ICC kept" % fmt)


@test("fixsize/webp-16383")
def _():
    expect_image(get(plain("rs:force:20000:100:1", L("halves.png"), "webp")), "webp", 16383, 82)
    expect_image(get(plain("rs:force:100:20000:1", L("halves.png"), "webp")), "webp", 82, 16383)
    expect_image(get(plain("rs:force:16383:50:1", L("halves.png"), "webp")), "webp", 16383, 50)


@test("fixsize/avif-16384")
def _():
    expect_image(get(plain("rs:force:17000:20:1", L("halves.png"), "avif")), "avif", 16384, 19)


@test("fixsize/gif-65535")
def _():
    expect_image(get(plain("rs:force:70000:10:1", L("halves.png"), "gif")), "gif", 65535, 9)


@test("fixsize/ico-256-and-no-cap-for-png")
def _():
    r = get(plain("rs:fit:512:512:1", L("halves.png"), "ico"))
    expect_other(r, "ico", 256, 128)
    expect_image(get(plain("rs:force:20000:100:1", L("halves.png"), "png")), "png", 20000, 100)


OTHER_MAGIC = {"bmp": b"BM", "ico": b"\x00\x00\x01\x00"}
OTHER_MIME = {"bmp": "image/bmp", "ico": "image/x-icon"}


def expect_other(r, fmt, w, hh, bands=None):
    """BMP and ICO: no trusted libvips loader, so the vips CLI's ImageMagick loader decodes them."""
    check(r.status == 200, "want 200 %s, got %r" % (fmt, r))
    check(r.ctype() == OTHER_MIME[fmt], "want %s, got %r" % (OTHER_MIME[fmt], r.ctype()))
    check(r.body[:len(OTHER_MAGIC[fmt])] == OTHER_MAGIC[fmt], "%s magic: %r" % (fmt, r.body[:8]))
    cd = r.headers.get("content-disposition", "")
    check(cd.endswith('.%s"' % fmt), "Content-Disposition %r" % cd)
    info = image_info(r.body)
    check((int(info["width"]), int(info["height"])) == (w, hh), "want %dx%d, got %sx%s" % (w, hh, info["width"], info["height"]))
    if bands is not None:
        check(int(info["bands"]) == bands, "want %d bands, got %s" % (bands, info["bands"]))
    return info


@test("format/bmp")
def _():
    for path, want in ((plain("", L("halves.png"), "bmp"), (200, 100)),
                       (plain("f:bmp/w:100", L("halves.png")), (100, 50)),
                       (plain("format:bmp/rs:force:33:17", L("transparent.png")), (33, 17))):
        expect_other(get(path), "bmp", *want, bands=3)
    img = pixels(get(plain("", L("halves.png"), "bmp")).body)
    check(near(px(img, 10, 10), (255, 0, 0)) and near(px(img, 190, 90), (0, 0, 255)), "BMP rows top down")
    # transparent.png flattens on white for BMP (no alpha), the green centre stays.
    img = pixels(get(plain("", L("transparent.png"), "bmp")).body)
    check(near(px(img, 5, 5), (255, 255, 255)) and near(px(img, 100, 50), (0, 255, 0)), "BMP flattened")


@test("format/ico")
def _():
    expect_other(get(plain("rs:fit:64:64", L("halves.png"), "ico")), "ico", 64, 32)
    expect_other(get(plain("", L("transparent.png"), "ico")), "ico", 200, 100, bands=4)
    img = pixels(get(plain("w:64", L("halves.png"), "ico")).body)
    check(near(px(img, 5, 5), (255, 0, 0)) and near(px(img, 60, 30), (0, 0, 255)), "ICO pixels")


@test("opt/max_bytes")
def _():
    full = get(plain("q:95", L("photo.jpg"), "jpeg"))
    for opt, r in variants(("max_bytes:20000/q:95", "mb:8000/q:95"), "photo.jpg", "jpeg", (800, 500)):
        check(len(r.body) < len(full.body), "%s: %d not below %d" % (opt, len(r.body), len(full.body)))


@test("opt/skip_processing")
def _():
    src = open(os.path.join(ROOT, "halves.png"), "rb").read()
    for opt in ("skip_processing:png/w:50", "skp:jpg:png/w:50"):
        r = get(plain(opt, L("halves.png")))
        check(r.status == 200 and r.body == src, "%s: want the source bytes, got %r" % (opt, r))
    r = get(plain("skp:png/w:50", L("halves.png"), "jpeg"))
    expect_image(r, "jpeg", 50, 25)


@test("opt/raw")
def _():
    src = open(os.path.join(ROOT, "photo.jpg"), "rb").read()
    r = get(plain("raw:1/w:10", L("photo.jpg"), "png"))
    check(r.status == 200 and r.body == src and r.ctype() == "image/jpeg",
          "raw: want the source bytes as image/jpeg, got %r" % r)
    # No type check in raw mode: even a text file streams through.
    text = open(os.path.join(ROOT, "text.txt"), "rb").read()
    r = get(plain("raw:1", L("text.txt")))
    check(r.status == 200 and r.body == text, "raw text.txt: got %r" % r)
    expect_error(get(plain("", L("text.txt"))), 422)


def anim_info(r, fmt, w, page_h, frames):
    """Every frame decoded: frames of w x page_h, stacked into one strip."""
    info = expect_image(r, fmt, w, page_h, pages=frames, load_options="[n=-1]")
    check(int(info["height"]) == page_h * frames, "strip height %s" % info["height"])
    return info


@test("anim/gif-to-webp-keeps-frames-and-delays")
def _():
    info = anim_info(get(plain("maf:10/rs:fit:20:20", L("anim4.gif"), "webp"), FRONT3), "webp", 20, 10, 4)
    check(info.get("delay", "").split() == ["100", "200", "300", "400"], "delays %r" % info.get("delay"))
    # NETSCAPE repeat count 3 is 4 plays; libvips 8.14's gifload reports loop=4.
    check(info.get("loop") == "4", "loop %r" % info.get("loop"))


@test("anim/max-frames-drops-extra")
def _():
    info = anim_info(get(plain("max_animation_frames:3", L("anim4.gif"), "webp"), FRONT3), "webp", 40, 20, 3)
    check(info.get("delay", "").split() == ["100", "200", "300"], "delays %r" % info.get("delay"))


@test("anim/gif-to-gif-every-frame-processed")
def _():
    r = get(plain("maf:4/rs:fill:10:10/pd:1", L("anim4.gif")), FRONT3)
    info = anim_info(r, "gif", 12, 12, 4)
    check(info.get("delay", "").split() == ["100", "200", "300", "400"], "delays %r" % info.get("delay"))


@test("anim/default-one-frame")
def _():
    r = get(plain("", L("anim4.gif"), "webp"))
    anim_info(r, "webp", 40, 20, 1)


@test("svg/passthrough-sanitised")
def _():
    r = get(plain("", L("evil.svg")))
    check(r.status == 200 and r.ctype() == "image/svg+xml", "want 200 image/svg+xml, got %r" % r)
    body = r.body.decode()
    for bad in ("<script", "onload", "onclick", "127.0.0.1"):
        check(bad not in body, "%r left in the SVG: %s" % (bad, body))
    check("<rect" in body and 'fill="#ff0000"' in body, "the drawing is kept: %s" % body)


@test("opt/security-options-forbidden")
def _():
    for opt in ("max_src_resolution:1", "msr:1", "max_src_file_size:1", "msfs:1", "max_animation_frames:2",
                "maf:2", "max_animation_frame_resolution:1", "mafr:1", "max_result_dimension:10", "mrd:10"):
        expect_error(get(plain(opt, L("halves.png"))), 403, "Invalid URL")


@test("opt/security-limits")
def _():
    expect_error(get(plain("msr:0.01", L("halves.png")), FRONT3), 422)
    expect_error(get(plain("msfs:100", L("halves.png")), FRONT3), 422)


@test("opt/unknown-preset")
def _():
    expect_error(get(plain("pr:nope", L("halves.png")), FRONT3), 404, "Invalid URL")


@test("opt/bad-arguments")
def _():
    for opt in ("pd:-1", "pd:1:2:3:4:5", "t:x", "fl:1:1:1", "bg:1:2", "bg:zzz", "bl:-1", "sh:x", "pix:-2",
                "mb:x", "skp:nope", "wm:2", "wm:1:sm", "exar:1:sm", "g:re", "rot:45"):
        expect_error(get(plain(opt, L("halves.png"))), 404, "Invalid URL")


@test("opt/cachebuster")
def _():
    base = get(plain("w:50", L("halves.png"), "png"))
    for opt, r in variants(("cachebuster:v2/w:50", "cb:abc/w:50"), "halves.png", "png", (50, 25)):
        check(r.body == base.body, "%s: only the URL changes, not the image" % opt)


@test("opt/expires")
def _():
    import time

    r = get(plain("expires:%d/w:50" % (int(time.time()) + 100), L("halves.png"), "png"))
    expect_image(r, "png", 50, 25)
    cc = r.headers.get("cache-control", "")
    check(cc.startswith("max-age=") and 0 < int(cc[8:].split(",")[0]) <= 100, "Cache-Control %r" % cc)
    expect_error(get(plain("exp:%d/w:50" % (int(time.time()) - 10), L("halves.png"), "png")), 404, "Invalid URL")


@test("opt/filename-return_attachment")
def _():
    r = get(plain("filename:summer/w:50", L("halves.png"), "png"))
    expect_image(r, "png", 50, 25)
    check(r.headers.get("content-disposition") == 'inline; filename="summer.png"', "%r" % r.headers)
    r = get(plain("fn:c3VtbWVy:1/att:1", L("halves.png"), "bmp"))
    check(r.headers.get("content-disposition") == 'attachment; filename="summer.bmp"', "%r" % r.headers)
    r = get(plain("return_attachment:1", L("halves.png"), "ico"))
    check(r.headers.get("content-disposition") == 'attachment; filename="halves.ico"', "%r" % r.headers)


# ---------------------------------------------------------------- the Node client
# ---------------------------------------------------------------- JPEG XL and HEIC results

def with_accept(path, accept, base=FRONT3):
    return imgtest.http_get(base, path, TIMEOUT, headers={"Accept": accept})


@test("formats/jxl-and-heic-by-extension-format-and-ext")
def _():
    for fmt in ("jxl", "heic"):
        for path in (plain("rs:fit:120:120", L("photo.jpg"), fmt),
                     plain("rs:fit:120:120/f:" + fmt, L("photo.jpg")),
                     plain("rs:fit:120:120/format:" + fmt, L("photo.jpg")),
                     plain("rs:fit:120:120/ext:" + fmt, L("photo.jpg"))):
            r = get(path)
            expect_image(r, fmt, 120, 75, bands=3)
            cd = r.headers.get("content-disposition", "")
            check(cd.endswith('.%s"' % fmt), "%s: Content-Disposition %r" % (fmt, cd))


@test("formats/jxl-and-heic-keep-alpha-and-pixels")
def _():
    for fmt in ("jxl", "heic"):
        r = get(plain("", L("transparent.png"), fmt))
        expect_image(r, fmt, 200, 100, bands=4)
        # The left half of halves.png is red, the right blue: a lossy result stays near them.
        w, h, ch, data = pixels(get(plain("q:90", L("halves.png"), fmt)).body)
        check((w, h) == (200, 100), "%s: %dx%d" % (fmt, w, h))
        for x, want in ((20, RED), (180, BLUE)):
            got = data[(50 * w + x) * ch:(50 * w + x) * ch + 3]
            check(all(abs(a - b) <= 16 for a, b in zip(got, want)),
                  "%s pixel (%d, 50): %r, want %r" % (fmt, x, tuple(got), want))


@test("formats/jxl-and-heic-quality-changes-the-size")
def _():
    for fmt in ("jxl", "heic"):
        sizes = {}
        for q in (20, 90):
            for opt in ("q:%d" % q, "fq:%s:%d" % (fmt, q)):
                r = get(plain("rs:fit:300:300/" + opt, L("photo.jpg"), fmt))
                expect_image(r, fmt, 300, 188)
                sizes[opt] = len(r.body)
        print("  figure %s 300x188 bytes: %s" % (fmt, ", ".join("%s=%d" % kv for kv in sorted(sizes.items()))))
        check(sizes["q:20"] < sizes["q:90"] * 0.8, "%s: q sizes %r" % (fmt, sizes))
        check(sizes["fq:%s:20" % fmt] < sizes["fq:%s:90" % fmt] * 0.8, "%s: fq sizes %r" % (fmt, sizes))
        # format_quality for another format leaves this one at its default.
        base = get(plain("rs:fit:300:300", L("photo.jpg"), fmt))
        other = get(plain("rs:fit:300:300/fq:webp:5", L("photo.jpg"), fmt))
        check(len(base.body) == len(other.body), "%s: fq:webp changed the size" % fmt)


@test("formats/heic-max-bytes")
def _():
    big = get(plain("rs:fit:400:400", L("photo.jpg"), "heic"))
    expect_image(big, "heic", 400, 250)
    r = get(plain("rs:fit:400:400/mb:%d" % (len(big.body) // 2), L("photo.jpg"), "heic"))
    expect_image(r, "heic", 400, 250)
    check(len(r.body) <= len(big.body) // 2, "mb: %d bytes, limit %d" % (len(r.body), len(big.body) // 2))


@test("fixsize/heic-16384-and-no-cap-for-jxl")
def _():
    # 40 px high: over x265's thin-shape limit, and under the HEIC encode-time bound.
    expect_image(get(plain("rs:force:17000:40:1", L("halves.png"), "heic")), "heic", 16384, 39)
    expect_image(get(plain("rs:force:17000:64:1", L("halves.png"), "jxl")), "jxl", 17000, 64)


@test("formats/heic-shape-x265-cannot-write-is-an-error")
def _():
    r = get(plain("rs:force:5000:19:1", L("halves.png"), "heic"))
    check(r.status == 500, "want 500 for a 5000x19 HEIC, got %r" % r)


@test("formats/auto-jxl-accept-and-vary")
def _():
    path = plain("rs:fit:100:100", L("photo.jpg"))
    r = with_accept(path, "image/avif,image/jxl,image/webp,*/*")
    expect_image(r, "jxl", 100, 63)
    check(r.headers.get("vary") == "Accept", "Vary %r" % r.headers.get("vary"))
    # Without image/jxl in Accept: the source's format, and still Vary: Accept.
    r = with_accept(path, "image/webp,*/*")
    expect_image(r, "jpeg", 100, 63)
    check(r.headers.get("vary") == "Accept", "Vary %r" % r.headers.get("vary"))
    # AUTO does not override a format the URL names.
    expect_image(with_accept(plain("rs:fit:100:100", L("photo.jpg"), "png"), "image/jxl"), "png", 100, 63)
    # An animated source is not turned into JPEG XL (imgproxy: jxl/avif never for animations).
    r = with_accept(plain("maf:10/rs:fit:50:50", L("anim4.gif")), "image/jxl")
    check(r.status == 200 and r.ctype() == "image/gif", "animated + jxl: %r" % r)


# tests/clients/cases.mjs builds signed URLs with @imgproxy/imgproxy-node; run.sh
# writes them to IT_CLIENT_CASES. They go to the signed instance (#2).

CLIENT_CASES = os.environ.get("IT_CLIENT_CASES", "")


def client_case(c):
    test("client/" + c["name"])(lambda: expect_image(get(c["path"], SIGNED_FRONT), c["fmt"], c["w"], c["h"]))


if os.path.exists(CLIENT_CASES):
    import json

    with open(CLIENT_CASES) as f:
        cases = json.load(f)
    for c in cases:
        client_case(c)

    @test("client/tampered-signature")
    def _():
        p = cases[0]["path"]
        expect_error(get("/AAAA" + p[p.index("/", 1):], SIGNED_FRONT), 403)
else:
    @test("client/setup")
    def _():
        raise imgtest.Failure("no client cases: is node installed and did `npm ci` in tests/clients work?")


if __name__ == "__main__":
    sys.exit(SUITE.main(sys.argv[1:], RESULT, "conformance", WORKERS))
