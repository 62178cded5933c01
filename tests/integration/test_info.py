#!/usr/bin/env python3
"""test_info.py: the /info endpoint behind nginx, checked against vipsheader.

Started by run.sh (nginx host) against imgfcgi-info: signed with the key
"secret" and salt "hello", IMGPROXY_INFO_PRESETS="stats=bh:4:3/avg:1", a 20 MB
source limit. Sources are local:// files of IT_ROOT (the fixtures, the
metadata fixture made here, the corpus of ../shared/corpus when it exists,
copied in) and, for the early stop, the scriptable origin's slow route.
Prints one line per failure and "info: N passed, N failed".
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check  # noqa: E402



def jpeg_segment(marker, payload):
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def make_fixtures(root):
    """meta.jpg: photo.jpg with a Photoshop block (APP13: IPTC, ResolutionInfo) and an XMP packet (APP1) spliced in
    after its SOI; photo12mp.jpg: photo.jpg scaled to 4272x2850 (12.2 MP)."""
    def dataset(tag, text):
        data = text.encode()
        return b"\x1c\x02" + bytes([tag]) + len(data).to_bytes(2, "big") + data

    iptc = dataset(120, "A test caption") + dataset(25, "alpha") + dataset(25, "beta")
    if len(iptc) % 2:
        iptc += b"\0"
    # ResolutionInfo (0x03ED): 240 px/inch across, 72.5 px/cm down, widths in inches, heights in cm.
    resinfo = (240 << 16).to_bytes(4, "big") + b"\0\x01\0\x01" + \
        (72 << 16 | 0x8000).to_bytes(4, "big") + b"\0\x02\0\x02"
    app13 = b"Photoshop 3.0\0" + b"8BIM" + (0x0404).to_bytes(2, "big") + b"\0\0" + \
        len(iptc).to_bytes(4, "big") + iptc + \
        b"8BIM" + (0x03ED).to_bytes(2, "big") + b"\0\0" + len(resinfo).to_bytes(4, "big") + resinfo
    xmp = ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
           '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
           'xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" aux:Lens="16.0-35.0 mm f/4.0">'
           '<dc:creator><rdf:Seq><rdf:li>Peter B. Parker</rdf:li></rdf:Seq></dc:creator>'
           '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()
    app1 = b"http://ns.adobe.com/xap/1.0/\0" + xmp
    with open(os.path.join(root, "photo.jpg"), "rb") as f:
        photo = f.read()
    with open(os.path.join(root, "meta.jpg"), "wb") as f:
        f.write(photo[:2] + jpeg_segment(0xED, app13) + jpeg_segment(0xE1, app1) + photo[2:])
    subprocess.run(["vips", "resize", os.path.join(root, "photo.jpg"),
                    os.path.join(root, "photo12mp.jpg[Q=85]"), "5.34", "--vscale", "5.7"], check=True)


if __name__ == "__main__" and sys.argv[1:2] == ["--make-fixtures"]:
    make_fixtures(sys.argv[2])
    sys.exit(0)

FRONT = os.environ["IT_INFO_FRONT"]
ROOT = os.environ["IT_ROOT"]
PYORIGIN = os.environ["IT_PYORIGIN"]
PYORIGIN_LOG = os.environ["IT_PYORIGIN_LOG"]
RESULT = os.environ.get("IT_INFO_RESULT")
KEY = bytes.fromhex(os.environ.get("IT_KEY", "736563726574"))
SALT = bytes.fromhex(os.environ.get("IT_SALT", "68656C6C6F"))
ASAN = os.environ.get("IT_ASAN") == "1"
TIMEOUT = 120 if ASAN else 60
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# The shared corpus next to the repository, when there is one (IT_INFO_CORPUS names another).
CORPUS = os.environ.get("IT_INFO_CORPUS") or os.path.join(REPO, "..", "shared", "corpus")
BLURHASH_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
# Sources the info instance must refuse from their header (over IMGPROXY_MAX_SRC_RESOLUTION).
REFUSED = {"huge-dimensions.png", "big.png"}

SUITE = imgtest.Suite()
test = SUITE.test


def info_get(opts, src, sig=None, headers=None):
    """GET /info/<signature>/<opts>/plain/<src>, signed with the instance's key."""
    path = imgtest.plain(opts, src, sig="", safe=":/=&")[1:]  # "/<opts>/plain/<src>"
    if sig is None:
        sig = imgtest.sign(path, KEY, SALT)
    return imgtest.http_get(FRONT, "/info/" + sig + path, TIMEOUT, headers=headers)


def info_json(opts, src):
    r = info_get(opts, src)
    check(r.status == 200, "/info %s %s: want 200, got %r" % (opts, src, r))
    check(r.ctype() == "application/json", "want application/json, got %r" % r.ctype())
    return json.loads(r.body)


def blurhash_components(bh):
    """(x, y) components from a BlurHash's first character, after checking its length."""
    flag = BLURHASH_DIGITS.index(bh[0])
    nx, ny = flag % 9 + 1, flag // 9 + 1
    check(len(bh) == 4 + 2 * nx * ny, "BlurHash %r: length %d for %dx%d" % (bh, len(bh), nx, ny))
    check(all(c in BLURHASH_DIGITS for c in bh), "BlurHash %r: not base 83" % bh)
    return nx, ny


FORMAT_BY_EXT = {"jpg": "jpeg", "png": "png", "gif": "gif", "webp": "webp", "avif": "avif",
                 "heic": "heic", "tif": "tiff", "svg": "svg"}


def sources():
    """(name under ROOT, path on disk) of every fixture image and corpus image present."""
    out = []
    for name in sorted(os.listdir(ROOT)):
        ext = name.rsplit(".", 1)[-1]
        if ext in FORMAT_BY_EXT and os.path.isfile(os.path.join(ROOT, name)) and \
                not name.startswith(("padded", "broken", "odd", "my ", "escape", "inside")):
            out.append(name)
    if os.path.isdir(CORPUS):
        os.makedirs(os.path.join(ROOT, "corpus"), exist_ok=True)
        for name in sorted(os.listdir(CORPUS)):
            if name.rsplit(".", 1)[-1] in FORMAT_BY_EXT:
                dst = os.path.join(ROOT, "corpus", name)
                if not os.path.exists(dst):
                    shutil.copyfile(os.path.join(CORPUS, name), dst)
                    os.chmod(dst, 0o644)
                out.append("corpus/" + name)
    return out


def header(path):
    """vipsheader's fields of the file at path, and its page count."""
    with open(path, "rb") as f:
        body = f.read()
    fields = imgtest.image_info(body)
    pages = int(fields.get("n-pages", "1"))
    return body, fields, pages


@test("info/every fixture and corpus image: the documented fields match vipsheader")
def _():
    checked = []
    for name in sources():
        path = os.path.join(ROOT, name)
        base = os.path.basename(name)
        if base in REFUSED:
            r = info_get("", "local:///" + name)
            check(r.status == 422, "%s: over the resolution limit, want 422, got %r" % (name, r))
            continue
        body, fields, pages = header(path)
        got = info_json("pn:1/cs:1/b:1/sf:1/bh:4:3/avg:1", "local:///" + name)
        w, h = int(fields["width"]), int(fields["height"])
        if "page-height" in fields:
            h = int(fields["page-height"])
        orientation = int(fields.get("orientation", "1"))
        if orientation >= 5:
            w, h = h, w
        want_fmt = FORMAT_BY_EXT[base.rsplit(".", 1)[-1]]
        check(got.get("format") == want_fmt, "%s: format %r, want %r" % (name, got.get("format"), want_fmt))
        check(got.get("mime_type") == imgtest.MIME[want_fmt], "%s: mime_type %r" % (name, got.get("mime_type")))
        check(got.get("size") == len(body), "%s: size %r, want %d" % (name, got.get("size"), len(body)))
        check((got.get("width"), got.get("height")) == (w, h),
              "%s: %rx%r, vipsheader says %dx%d (orientation %d)" % (name, got.get("width"), got.get("height"), w, h, orientation))
        check(got.get("orientation") == orientation, "%s: orientation %r, want %d" % (name, got.get("orientation"), orientation))
        check(got.get("pages_number") == pages, "%s: pages_number %r, vipsheader n-pages %d" % (name, got.get("pages_number"), pages))
        check(got.get("bands") == int(fields["bands"]), "%s: bands %r, want %s" % (name, got.get("bands"), fields["bands"]))
        check(got.get("sample_format") == fields["format"], "%s: sample_format %r, want %s" % (name, got.get("sample_format"), fields["format"]))
        check(got.get("colorspace") == fields["interpretation"], "%s: colorspace %r, want %s" % (name, got.get("colorspace"), fields["interpretation"]))
        for block in ("exif", "iptc", "xmp"):
            check(isinstance(got.get(block), dict), "%s: %s is %r, want an object" % (name, block, got.get(block)))
        if "exif-ifd0-Model" in fields:
            want = fields["exif-ifd0-Model"].split(" (")[0].strip()
            check(got["exif"].get("Model", "").strip() == want,
                  "%s: exif Model %r, vipsheader %r" % (name, got["exif"].get("Model"), want))
        check(blurhash_components(got["blurhash"]) == (4, 3), "%s: BlurHash %r is not 4x3" % (name, got["blurhash"]))
        avg = got["average"]
        check(all(0 <= avg[c] <= 255 for c in "RGBA"), "%s: average %r" % (name, avg))
        checked.append(name)
    check(len(checked) >= 5, "only %d images checked: %r" % (len(checked), checked))
    print("  /info checked on %d images: %s" % (len(checked), ", ".join(checked)))


@test("info/defaults: size, format, dimensions and the metadata blocks only")
def _():
    got = info_json("", "local:///photo.jpg")
    check(set(got) == {"size", "format", "mime_type", "width", "height", "orientation", "exif", "iptc", "xmp"},
          "default fields: %r" % sorted(got))


@test("info/EXIF (titles and canonical names), IPTC, photoshop and XMP of the metadata fixture")
def _():
    got = info_json("", "local:///orientation-6.jpg")
    check(got["exif"].get("Model", "").strip() == "E-M1", "exif: %r" % got["exif"])
    check("Date and Time" in got["exif"], "exif titles: %r" % sorted(got["exif"]))
    got = info_json("exif:1:1", "local:///orientation-6.jpg")
    check(got["exif"].get("DateTime") == "2015:11:14 19:27:56", "canonical exif: %r" % sorted(got["exif"]))
    got = info_json("", "local:///meta.jpg")
    check(got["iptc"].get("Caption") == "A test caption", "iptc: %r" % got["iptc"])
    check(got["iptc"].get("Keywords") == ["alpha", "beta"], "iptc keywords: %r" % got["iptc"])
    check(got["xmp"].get("dc", {}).get("creator") == ["Peter B. Parker"], "xmp dc: %r" % got["xmp"])
    check(got["xmp"].get("aux", {}).get("Lens") == "16.0-35.0 mm f/4.0", "xmp aux: %r" % got["xmp"])
    want = {"resolution": {"XResolution": 240, "XResolutionUnit": "inches", "WidthUnit": "inches",
                           "YResolution": 72.5, "YResolutionUnit": "cm", "HeightUnit": "cm"}}
    check(got.get("photoshop") == want, "photoshop: %r" % got.get("photoshop"))
    check(isinstance(got.get("photoshop", {}).get("resolution", {}).get("XResolution"), int),
          "photoshop XResolution is not an integer")
    got = info_json("exif:0/iptc:0/xmp:0", "local:///meta.jpg")
    check(not ({"exif", "iptc", "photoshop", "xmp"} & set(got)), "blocks turned off: %r" % sorted(got))
    got = info_json("", "local:///photo.jpg")
    check("photoshop" not in got, "photoshop without an APP13 block: %r" % got.get("photoshop"))


@test("info/hashsums, alpha, crop, palette, dominant colours, info presets")
def _():
    with open(os.path.join(ROOT, "alpha.png"), "rb") as f:
        body = f.read()
    got = info_json("chs:md5:sha256/a:1:1/c:160:100:nowe/p:8/dc:1", "local:///alpha.png")
    check(got["hashsums"] == {"md5": hashlib.md5(body).hexdigest(), "sha256": hashlib.sha256(body).hexdigest()},
          "hashsums %r" % got["hashsums"])
    check(got["alpha"] is True, "alpha %r" % got.get("alpha"))
    check(got["crop"] == {"left": 0, "top": 0, "width": 0.5, "height": 0.5}, "crop %r" % got["crop"])
    check(1 <= len(got["palette"]) <= 8, "palette %r" % got["palette"])
    check(isinstance(got["dominant_colors"], dict), "dominant_colors %r" % got["dominant_colors"])
    got = info_json("a:1", "local:///photo.jpg")
    check(got["alpha"] is False, "photo.jpg alpha %r" % got.get("alpha"))
    got = info_json("pr:stats", "local:///photo.jpg")
    check(blurhash_components(got["blurhash"]) == (4, 3) and "average" in got, "preset stats: %r" % sorted(got))


@test("info/signature, bad options and limits get imgproxy's statuses")
def _():
    r = info_get("", "local:///photo.jpg", sig="not-the-signature")
    check(r.status == 403, "bad signature: want 403, got %r" % r)
    for opts, status in (("nonsense:1", 404), ("p:1", 404), ("bh:10:1", 404), ("exp:1", 404),
                         ("rs:fit:10:10", 404), ("msr:1", 403), ("pr:nope", 404),
                         ("hs:md5:00000000000000000000000000000000", 422)):
        r = info_get(opts, "local:///photo.jpg")
        check(r.status == status, "%s: want %d, got %r" % (opts, status, r))
    with open(os.path.join(ROOT, "photo.jpg"), "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    r = info_get("hs:md5:" + md5.upper(), "local:///photo.jpg")
    check(r.status == 200, "matching hashsum: want 200, got %r" % r)
    for src, status in (("local:///broken.jpg", 422), ("local:///text.txt", 422),
                        ("local:///missing.jpg", 404)):
        r = info_get("bh:3:3", src)
        check(r.status == status, "%s: want %d, got %r" % (src, status, r))


@test("info/size and format only: a 12 MP JPEG from a slow origin is read no further than 64 KB")
def _():
    path = os.path.join(ROOT, "photo12mp.jpg")
    size = os.path.getsize(path)
    marker = "slow=32&m=%d" % time.monotonic_ns()
    t0 = time.monotonic()
    got = info_json("d:0/exif:0/iptc:0/xmp:0", "%s/img/photo12mp.jpg?%s" % (PYORIGIN, marker))
    took = time.monotonic() - t0
    check(got == {"size": size, "format": "jpeg", "mime_type": "image/jpeg"}, "answer %r" % got)
    sent = None
    for _ in range(100):
        with open(PYORIGIN_LOG) as f:
            for line in f:
                entry = json.loads(line)
                if marker in entry.get("path", "") and "sent" in entry:
                    sent = entry["sent"]
        if sent is not None:
            break
        time.sleep(0.05)
    check(sent is not None, "the origin logged no byte count for %s" % marker)
    check(sent <= 65536, "the origin sent %d bytes of %d (want at most 65536)" % (sent, size))
    print("  size+format of a %d-byte 12 MP JPEG at 32 KiB/s: origin sent %d bytes, %.2f s" % (size, sent, took))


if __name__ == "__main__":
    sys.exit(SUITE.main(sys.argv[1:], RESULT, "info"))
