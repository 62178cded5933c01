#!/usr/bin/env python3
"""test_wm_pdf.py: per-request watermarks and pages/PDF sources, checked numerically.

`test_wm_pdf.py --make-fixtures DIR` writes the generated sources (run.sh
calls it while it builds the origin's tree): PDFs written here byte by byte
(one filled rectangle a page, a colour per page), a multi-page TIFF, an
animated WebP made from the conformance suite's anim4.gif, a mid-grey photo.

Then, started by run.sh (nginx host) against:
  WP     imgfcgi-wp: IMGFCGI_ENABLE_PDF=true, security options allowed,
         the common limits (3 MB sources, loopback origins allowed)
  FRONT  imgfcgi #1: PDF off (the default)
Every result is decoded with the vips CLI and its pixels compared with what
the options ask for. Prints one line per failure and "N passed, N failed".
"""
import os
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import b64, check, expect_error, expect_image  # noqa: E402


def page_colour(i):
    """The colour of page i (zero-based) of the generated PDFs: distinct for i < 64."""
    return ((i * 37) % 200 + 30, (i * 91) % 200 + 30, (i * 53) % 200 + 30)


# The colour of pdfnobg.pdf's square.
NOBG_SQUARE = (200, 40, 40)


def make_pdf(pages, square=None):
    """A PDF whose page i is w x h points filled with colour; pages: [(w, h, (r, g, b))].
    square=(x, y, side): only that square of each page is filled, the rest left unpainted."""
    out = []
    for w, h, (r, g, b) in pages:
        x, y, sw, sh = (square[0], square[1], square[2], square[2]) if square else (0, 0, w, h)
        out.append((b"0 0 %d %d" % (w, h),
                    b"%.4f %.4f %.4f rg %d %d %d %d re f" % (r / 255, g / 255, b / 255, x, y, sw, sh)))
    return imgtest.pdf_doc(out)


def make_tiff(pages):
    """A little-endian baseline TIFF, one uncompressed RGB page per (w, h, (r, g, b))."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    next_ptr = 4
    for w, h, rgb in pages:
        data_off = len(out)
        out += bytes(rgb) * (w * h)
        out += b"\x00" * (len(out) % 2)
        bps_off = len(out)
        out += struct.pack("<HHH", 8, 8, 8)
        entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, bps_off), (259, 3, 1, 1),
                   (262, 3, 1, 2), (273, 4, 1, data_off), (277, 3, 1, 3), (278, 3, 1, h),
                   (279, 4, 1, w * h * 3), (284, 3, 1, 1)]
        ifd = len(out)
        struct.pack_into("<I", out, next_ptr, ifd)
        out += struct.pack("<H", len(entries))
        for tag, typ, cnt, val in entries:
            if typ == 3 and cnt == 1:
                out += struct.pack("<HHIHH", tag, typ, cnt, val, 0)
            else:
                out += struct.pack("<HHII", tag, typ, cnt, val)
        next_ptr = len(out)
        out += b"\x00\x00\x00\x00"
    return bytes(out)


def write_pam(path, w, h, rgb):
    """A w x h image of one colour, in the format path's suffix names (through vips)."""
    imgtest.write_image(path, w, h, lambda x, y: rgb)


def make_fixtures(d):
    def put(name, data):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    put("pdf20.pdf", make_pdf([(200, 300, page_colour(i)) for i in range(20)]))
    put("pdf60.pdf", make_pdf([(100, 50, page_colour(i)) for i in range(60)]))
    # Pages 100, 80 and 60 points wide: stacked left-aligned on white.
    put("pdfmix.pdf", make_pdf([(100 - 20 * i, 40, page_colour(i)) for i in range(3)]))
    # One 3000 x 3000 pt page: 9 MP at 72 dpi.
    put("pdfbig.pdf", make_pdf([(3000, 3000, (10, 20, 30))]))
    # A 100 x 100 pt page with no background: a 40 pt square in the middle, nothing else.
    put("pdfnobg.pdf", make_pdf([(100, 100, NOBG_SQUARE)], square=(30, 30, 40)))
    # One 7000 x 7000 pt page: 49 MP at 72 dpi, just under the default limit.
    put("pdf7000.pdf", make_pdf([(7000, 7000, (40, 160, 80))]))
    put("pages3.tiff", make_tiff([(40, 30, page_colour(i)) for i in range(3)]))
    # The conformance suite's 40x20 GIF (red, green, blue, white) as an animated WebP.
    subprocess.run(["vips", "copy", os.path.join(d, "anim4.gif") + "[n=-1]",
                    os.path.join(d, "anim4.webp") + "[lossless]"],
                   check=True, capture_output=True, timeout=60)
    write_pam(os.path.join(d, "grey.png"), 300, 200, (128, 128, 128))
    # Watermarks for watermark_url: 20x10 opaque red, fetched by one test only each.
    for name in ("wmpdf-wm.png", "wmpdf-once.png", "wmpdf-pre.png", "wmpdf-allowed.png"):
        write_pam(os.path.join(d, name), 20, 10, (255, 0, 0))
    for name in os.listdir(d):
        if name.startswith(("pdf", "pages3", "anim4.webp", "grey", "wmpdf-")):
            os.chmod(os.path.join(d, name), 0o644)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--make-fixtures":
    make_fixtures(sys.argv[2])
    sys.exit(0)


WP, WP_LOG, WP_PID = imgtest.instance_env("IT_WP")
# IMGPROXY_PDF_NO_BACKGROUND, IMGPROXY_BASE_URL (the origin), IMGPROXY_WATERMARK_PREPROCESS_URL.
WP2, WP2_LOG, _ = imgtest.instance_env("IT_WP2")
# IMGPROXY_ALLOWED_SOURCES="http://127.0.0.1:*/,local:///" (test_ssrf.py's default instance).
ALLOWED, ALLOWED_LOG, _ = imgtest.instance_env("IT_WP_ALLOWED")
FRONT = os.environ["IT_FRONT"]
ORIGIN = os.environ["IT_ORIGIN"]
ORIGIN_LOG = os.environ["IT_ORIGIN_LOG"]
PYORIGIN = os.environ["IT_PYORIGIN"]
RESULT = os.environ.get("IT_WP_RESULT")
ASAN = os.environ.get("IT_ASAN") == "1"
TIMEOUT = 120 if ASAN else 60

SUITE = imgtest.Suite()
test = SUITE.test


def get(opts, src, ext="png", base=WP, headers=None):
    path = imgtest.plain(opts, src, ext, sig="insecure", safe=":/")
    return imgtest.http_get(base, path, TIMEOUT, headers=headers)


def pixels(body):
    """(w, h, bytes) of body decoded to 8-bit RGB by `vips copy` to a PPM."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in"), os.path.join(d, "out.ppm")
        with open(src, "wb") as f:
            f.write(body)
        flat = os.path.join(d, "flat.v")
        bands = int(imgtest.image_info(body)["bands"])
        if bands in (2, 4):
            subprocess.run(["vips", "flatten", src, flat, "--background", "255"],
                           check=True, capture_output=True, timeout=60)
            src = flat
        subprocess.run(["vips", "colourspace", src, dst, "srgb"], check=True, capture_output=True,
                       timeout=60)
        with open(dst, "rb") as f:
            _, w, h, data = imgtest.read_pnm(f.read())
    return w, h, data


def px(img, x, y):
    w, _, data = img
    i = (y * w + x) * 3
    return tuple(data[i:i + 3])


def near(a, b, tol=6):
    return all(abs(p - q) <= tol for p, q in zip(a, b))


def region(img, x0, y0, x1, y1):
    """Every pixel of the rectangle [x0, x1) x [y0, y1)."""
    return [px(img, x, y) for y in range(y0, y1) for x in range(x0, x1)]


def expect_colour(img, x, y, want, what, tol=6):
    got = px(img, x, y)
    check(near(got, want, tol), "%s: pixel (%d, %d) is %s, want %s" % (what, x, y, got, want))


def L(name):
    return "local:///" + name


def timed_get(opts, src):
    """get(opts, src) from WP, and the seconds it took."""
    t0 = time.monotonic()
    r = get(opts, src)
    return r, time.monotonic() - t0


def png_pixels(opts, src, w, h, bands=None):
    """GETs opts/src (from WP) as a PNG that must be w x h (with that many bands if given);
    returns its pixels."""
    r = get(opts, src)
    expect_image(r, "png", w, h, bands=bands)
    return pixels(r.body)


def log_has(text, wait=3.0, log=None):
    deadline = time.monotonic() + wait
    while True:
        with open(log or WP_LOG, errors="replace") as f:
            if text in f.read():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# ---------------------------------------------------------------- PDF and pages


@test("pdf/refused-unless-enabled")
def _():
    expect_error(get("rs:fit:100:100", L("pdf20.pdf"), base=FRONT), 422, "Invalid source image")
    # The same file where it is enabled: a PNG of page 0.
    img = png_pixels("rs:fit:100:100", L("pdf20.pdf"), 67, 100)
    expect_colour(img, 33, 50, page_colour(0), "page 0")


@test("pdf/page-5-of-20-at-the-size-asked")
def _():
    img = png_pixels("pg:5/rs:fit:100:100", L("pdf20.pdf"), 67, 100, bands=3)
    for x, y in ((2, 2), (33, 50), (64, 97)):
        expect_colour(img, x, y, page_colour(5), "pg:5")
    # Larger: drawn at the scale asked (enlarged), still page 5.
    img = png_pixels("pg:5/rs:fit:400:600:1", L("pdf20.pdf"), 400, 600)
    expect_colour(img, 200, 300, page_colour(5), "pg:5 enlarged")


@test("pdf/page-past-the-last-is-the-last")
def _():
    img = png_pixels("pg:100/rs:fit:50:50", L("pdf20.pdf"), 33, 50)
    expect_colour(img, 16, 25, page_colour(19), "pg:100 of 20")


@test("pdf/pages-3-of-60-stacked")
def _():
    img = png_pixels("pg:10/pgs:3", L("pdf60.pdf"), 100, 150, bands=3)
    for k in range(3):
        for x, y in ((1, 50 * k + 1), (50, 50 * k + 25), (98, 50 * k + 48)):
            expect_colour(img, x, y, page_colour(10 + k), "pgs:3 page %d" % (10 + k))
    # Scaled as one image: 50x75, the middle band still page 11.
    img = png_pixels("pg:10/pgs:3/rs:fit:50:75", L("pdf60.pdf"), 50, 75)
    expect_colour(img, 25, 37, page_colour(11), "pgs:3 scaled")


@test("pdf/pages-of-different-widths-left-aligned-on-white")
def _():
    img = png_pixels("pgs:3", L("pdfmix.pdf"), 100, 120)
    for k in range(3):
        expect_colour(img, 5, 40 * k + 20, page_colour(k), "page %d, left" % k)
    expect_colour(img, 90, 60, (255, 255, 255), "right of the 80 pt page")
    expect_colour(img, 70, 100, (255, 255, 255), "right of the 60 pt page")


@test("pdf/page-over-max-src-resolution-refused-before-rendering")
def _():
    r, took = timed_get("msr:4/rs:fit:100:100", L("pdfbig.pdf"))
    expect_error(r, 422, "Invalid source image")
    check(log_has("Source image resolution is too big (3000x3000)"), "no resolution line in the log")
    check(took < (3.0 if ASAN else 1.0), "refusal took %.2f s" % took)
    # Within the limit it renders, at the scale the result needs.
    img = png_pixels("msr:10/rs:fit:100:100", L("pdfbig.pdf"), 100, 100)
    expect_colour(img, 50, 50, (10, 20, 30), "big page")


@test("pdf/drawn-at-the-scale-the-result-needs")
def _():
    # 7000 pt to 100 px: poppler draws 100x100 (scale 1/70), not 49 MP then shrunk.
    r, took = timed_get("rs:fit:100:100", L("pdf7000.pdf"))
    expect_image(r, "png", 100, 100)
    expect_colour(pixels(r.body), 50, 50, (40, 160, 80), "7000 pt page")
    check(log_has("PDF: 1 page(s) of 7000x7000 drawn at scale 0.0143"),
          "no line in the log saying the page was drawn at scale 1/70")
    check(took < (8.0 if ASAN else 2.0), "took %.2f s" % took)


@test("pdf/too-many-pages-refused")
def _():
    expect_error(get("pgs:11", L("pdf60.pdf")), 422, "Invalid source image")
    check(log_has("Too many pages: 11"), "no IMGFCGI_MAX_PAGES line in the log")


@test("pdf/not-a-pdf-after-the-header")
def _():
    expect_error(get("rs:fit:10:10", L("text.txt")), 422)


def rgba_at(body, x, y):
    """The band values of body's pixel (x, y), as decoded by `vips getpoint`."""
    return tuple(round(float(v)) for v in imgtest.run_on_body(body, ["vips", "getpoint"], x, y).split())


@test("pdf/drawn-over-white-unless-no-background")
def _():
    # Default: the unpainted page is white and the result has no alpha.
    r = get("", L("pdfnobg.pdf"))
    expect_image(r, "png", 100, 100, bands=3)
    img = pixels(r.body)
    expect_colour(img, 2, 2, (255, 255, 255), "unpainted corner")
    expect_colour(img, 50, 50, NOBG_SQUARE, "painted square")
    # IMGPROXY_PDF_NO_BACKGROUND: the corner stays transparent in a PNG, the square opaque.
    r = get("", "pdfnobg.pdf", base=WP2)
    expect_image(r, "png", 100, 100, bands=4)
    corner, middle = rgba_at(r.body, 2, 2), rgba_at(r.body, 50, 50)
    check(corner[3] == 0, "no background: the corner is %s, want alpha 0" % (corner,))
    check(middle[3] == 255 and near(middle[:3], NOBG_SQUARE), "the square is %s" % (middle,))
    # A format without alpha flattens it onto the background colour (white by default).
    r = get("", "pdfnobg.pdf", ext="jpeg", base=WP2)
    expect_image(r, "jpeg", 100, 100, bands=3)
    expect_colour(pixels(r.body), 2, 2, (255, 255, 255), "no background, as JPEG", tol=3)
    r = get("bg:0:0:255", "pdfnobg.pdf", ext="jpeg", base=WP2)
    expect_colour(pixels(r.body), 2, 2, (0, 0, 255), "no background, bg:0:0:255", tol=6)


def mean_abs_diff(a, b):
    check(a[:2] == b[:2], "sizes differ: %dx%d and %dx%d" % (a[0], a[1], b[0], b[1]))
    return sum(abs(p - q) for p, q in zip(a[2], b[2])) / max(1, len(a[2]))


@test("pdf/result-is-the-jpeg-on-one-page")
def _():
    opts = "rs:fit:200:200"
    r = get(opts, L("photo.jpg"), ext="pdf")
    jpeg = get(opts, L("photo.jpg"), ext="jpeg")
    expect_image(jpeg, "jpeg", 200, 125)
    info = expect_image(r, "pdf", 200, 125, bands=4)
    check(r.body.startswith(b"%PDF-"), "not a PDF: %r" % r.body[:20])
    check(info.get("n-pages") == "1", "pages: %s" % info.get("n-pages"))
    check(b"/MediaBox [ 0 0 200 125 ]" in r.body, "no 200 x 125 pt page box")
    # The JPEG result byte for byte (DCTDecode), and the page decodes to its pixels.
    check(jpeg.body in r.body, "the JPEG result is not embedded as it is")
    diff = mean_abs_diff(pixels(r.body), pixels(jpeg.body))
    check(diff < 2.0, "the page differs from the JPEG by %.2f levels on average" % diff)
    check("filename=\"photo.pdf\"" in r.headers.get("content-disposition", ""),
          "Content-Disposition %r" % r.headers.get("content-disposition"))
    # The quality is the JPEG's: q:30 embeds the q:30 JPEG, and is smaller.
    r30 = get("q:30/" + opts, L("photo.jpg"), ext="pdf")
    check(get("q:30/" + opts, L("photo.jpg"), ext="jpeg").body in r30.body,
          "q:30: the q:30 JPEG is not embedded")
    check(len(r30.body) < len(r.body), "q:30 PDF %d bytes, default %d" % (len(r30.body), len(r.body)))
    # format:pdf and .pdf ask for it too.
    for path in (imgtest.plain("f:pdf/" + opts, L("photo.jpg"), sig="insecure", safe=":/"),
                 imgtest.plain("format:pdf/" + opts, L("photo.jpg"), sig="insecure", safe=":/"),
                 imgtest.b64path(opts, L("photo.jpg"), ext="pdf")):
        expect_image(imgtest.http_get(WP, path, TIMEOUT), "pdf", 200, 125)
    # A page of a PDF source as a PDF result: its colour.
    r = get("pg:5/rs:fit:100:100", L("pdf20.pdf"), ext="pdf")
    expect_image(r, "pdf", 67, 100)
    expect_colour(pixels(r.body), 33, 50, page_colour(5), "pg:5 as PDF", tol=8)


@test("pdf/result-only-when-asked-for")
def _():
    # Accept never picks it, nor does a PDF source.
    r = get("rs:fit:50:50", L("photo.jpg"), ext=None, headers={"Accept": "application/pdf"})
    expect_image(r, "jpeg", 50, 31)
    r = get("rs:fit:50:50", L("pdf20.pdf"), ext=None, headers={"Accept": "application/pdf,*/*"})
    check(r.status == 200 and r.ctype() in ("image/jpeg", "image/png"),
          "a PDF source without a format: %r" % r)


@test("tiff/page-and-pages")
def _():
    img = png_pixels("pg:1", L("pages3.tiff"), 40, 30)
    expect_colour(img, 20, 15, page_colour(1), "tiff pg:1")
    img = png_pixels("pgs:3", L("pages3.tiff"), 40, 90)
    for k in range(3):
        expect_colour(img, 20, 30 * k + 15, page_colour(k), "tiff pgs:3 page %d" % k)
    # Without page options: the first page only.
    r = get("", L("pages3.tiff"))
    expect_image(r, "png", 40, 30)


@test("gif/disable-animation-picks-frames")
def _():
    # anim4.gif: 40x20 frames red, green, blue, white.
    img = png_pixels("da:1/pg:2", L("anim4.gif"), 40, 20)
    expect_colour(img, 20, 10, (0, 0, 255), "da:1/pg:2", tol=10)
    img = png_pixels("da:1/pg:1/pgs:2", L("anim4.gif"), 40, 40)
    expect_colour(img, 20, 10, (0, 255, 0), "frame 1", tol=10)
    expect_colour(img, 20, 30, (0, 0, 255), "frame 2", tol=10)
    # An animated result keeps every frame: page and pages are ignored.
    r = get("maf:4/pg:2/pgs:1", L("anim4.gif"), ext="gif")
    expect_image(r, "gif", 40, 20, pages=4, load_options="[n=-1]")
    # da:1 with an animated result format: one still frame (page 0 unless asked).
    r = get("maf:4/da:1/pg:3", L("anim4.gif"), ext="gif")
    expect_image(r, "gif", 40, 20, pages=1, load_options="[n=-1]")
    expect_colour(pixels(r.body), 20, 10, (255, 255, 255), "da:1/pg:3 as GIF", tol=10)


@test("webp/pages")
def _():
    img = png_pixels("da:1/pg:1", L("anim4.webp"), 40, 20)
    expect_colour(img, 20, 10, (0, 255, 0), "webp pg:1", tol=10)
    img = png_pixels("pg:1/pgs:3", L("anim4.webp"), 40, 60)
    expect_colour(img, 20, 50, (255, 255, 255), "webp pgs:3 last", tol=10)


@test("dpi/written-to-the-result")
def _():
    for ext in ("png", "jpeg", "tiff"):
        r = get("dpi:300/rs:fit:50:50", L("grey.png"), ext=ext)
        info = expect_image(r, ext, 50, 33)
        check(abs(float(info["xres"]) - 300 / 25.4) < 0.01,
              "%s: xres %s, want %.4f px/mm" % (ext, info["xres"], 300 / 25.4))
    # Stripped without dpi: 72.
    info = expect_image(get("rs:fit:50:50", L("grey.png")), "png", 50, 33)
    check(abs(float(info["xres"]) - 72 / 25.4) < 0.01, "default xres %s" % info["xres"])


# ---------------------------------------------------------------- watermarks

GREY = (128, 128, 128)


def changed(pixels_, base=GREY, tol=2):
    return sum(1 for p in pixels_ if not near(p, base, tol))


@test("wmt/changes-only-its-corner")
def _():
    text = b64("<b>IMGFCGI</b>")
    r = get("wm:1:nowe:4:4/wmt:%s" % text, L("grey.png"))
    expect_image(r, "png", 300, 200, bands=3)
    img = pixels(r.body)
    corner = changed(region(img, 0, 0, 150, 40))
    check(corner > 100, "text corner: %d pixels changed, want > 100" % corner)
    dark = min(p[0] for p in region(img, 0, 0, 150, 40))
    check(dark < 40, "default black text: darkest %d" % dark)
    rest = changed(region(img, 0, 40, 300, 200)) + changed(region(img, 150, 0, 300, 40))
    check(rest == 0, "%d pixels changed outside the top-left corner" % rest)
    # soea: the bottom-right corner instead.
    img = pixels(get("wm:1:soea:4:4/wmt:%s" % text, L("grey.png")).body)
    check(changed(region(img, 150, 160, 300, 200)) > 100, "soea: bottom right unchanged")
    check(changed(region(img, 0, 0, 300, 150)) == 0, "soea: pixels changed above")
    # Half opacity: the darkest text pixel halfway to grey.
    img = pixels(get("wm:0.5:nowe:4:4/wmt:%s" % text, L("grey.png")).body)
    dark = min(p[0] for p in region(img, 0, 0, 150, 40))
    check(50 <= dark <= 80, "wm:0.5 text: darkest %d, want about 64" % dark)
    # Colour from the markup.
    img = pixels(get("wm:1:nowe:4:4/wmt:%s" % b64("<span foreground='#ff0000'>RRRR</span>"),
                     L("grey.png")).body)
    reds = sum(1 for p in region(img, 0, 0, 150, 40) if p[0] > 200 and p[1] < 60)
    check(reds > 20, "red markup: %d red pixels" % reds)


@test("wmt/hostile-markup-refused")
def _():
    for what, markup in (("huge font", "<span size='2000000'>x</span>"),
                         ("huge font desc", "<span font='sans 5000'>x</span>"),
                         ("big nesting", "<big>" * 12 + "x" + "</big>" * 12),
                         ("letter spacing", "<span letter_spacing='10000000'>xx</span>"),
                         ("unclosed", "<b>x"), ("unknown tag", "<script>x</script>")):
        expect_error(get("wm:1/wmt:%s" % b64(markup), L("grey.png")), 404, "Invalid URL")
    # Too long: the argument limit.
    expect_error(get("wm:1/wmt:%s" % b64("W" * 400), L("grey.png")), 404, "Invalid URL")


@test("wmt/dpr-over-the-text-pixel-limit-refused")
def _():
    t0 = time.monotonic()
    # A 300x200 result asked for at dpr 10: the text is drawn at 720 dpi.
    r = get("rs:fit:30:20/dpr:10/wm:1/wmt:%s" % b64("<span size='100pt'>WWWWWWWWWW</span>"),
            L("grey.png"))
    expect_error(r, 422)
    check(time.monotonic() - t0 < (6 if ASAN else 2), "refusal took too long")


def wmu(name):
    return b64("%s/%s" % (ORIGIN, name))


def red_box(img):
    """The bounding box (x0, y0, x1, y1) of clearly red pixels, or None."""
    w, h, _ = img
    xs, ys = [], []
    for y in range(h):
        for x in range(w):
            p = px(img, x, y)
            if p[0] > 180 and p[1] < 90 and p[2] < 90:
                xs.append(x)
                ys.append(y)
    return (min(xs), min(ys), max(xs) + 1, max(ys) + 1) if xs else None


@test("wmu/placed-sized-rotated")
def _():
    r = get("wm:1:nowe:0:0/wmu:%s" % wmu("wmpdf-wm.png"), L("grey.png"))
    expect_image(r, "png", 300, 200)
    check(red_box(pixels(r.body)) == (0, 0, 20, 10), "wmu as is: %s" % (red_box(pixels(r.body)),))
    box = red_box(pixels(get("wm:1:nowe:0:0/wmu:%s/wms:40:0" % wmu("wmpdf-wm.png"), L("grey.png")).body))
    check(box == (0, 0, 40, 20), "wms:40:0: red box %s, want 40x20" % (box,))
    box = red_box(pixels(get("wm:1:nowe:0:0/wmu:%s/wms:0:5" % wmu("wmpdf-wm.png"), L("grey.png")).body))
    check(box == (0, 0, 10, 5), "wms:0:5: red box %s, want 10x5" % (box,))
    box = red_box(pixels(get("wm:1:nowe:0:0/wmu:%s/wmr:90" % wmu("wmpdf-wm.png"), L("grey.png")).body))
    check(box == (0, 0, 10, 20), "wmr:90: red box %s, want 10x20" % (box,))
    # 45 degrees: a diamond on a grown canvas, about 21x21, its corners still grey.
    img = pixels(get("wm:1:nowe:0:0/wmu:%s/wmr:45" % wmu("wmpdf-wm.png"), L("grey.png")).body)
    box = red_box(img)
    check(box is not None and 18 <= box[2] - box[0] <= 23 and 18 <= box[3] - box[1] <= 23,
          "wmr:45: red box %s" % (box,))
    check(near(px(img, 0, 0), GREY, 4), "wmr:45: the canvas corner is %s" % (px(img, 0, 0),))


@test("wmsh/shadow-around-the-watermark")
def _():
    img = pixels(get("wm:1:ce/wmu:%s/wmsh:3" % wmu("wmpdf-wm.png"), L("grey.png")).body)
    box = red_box(img)
    check(box is not None and box[2] - box[0] == 20 and box[3] - box[1] == 10, "red box %s" % (box,))
    below = px(img, (box[0] + box[2]) // 2, box[3] + 1)
    check(below[0] < 118, "just below the watermark: %s, want darker than grey" % (below,))
    far = px(img, 10, 10)
    check(near(far, GREY, 2), "far from it: %s" % (far,))
    plain = pixels(get("wm:1:ce/wmu:%s" % wmu("wmpdf-wm.png"), L("grey.png")).body)
    check(near(px(plain, (box[0] + box[2]) // 2, box[3] + 1), GREY, 2), "no shadow without wmsh")


@test("wm/chessboard-leaves-every-other-cell-empty")
def _():
    # Cells 40x30 (20x10 + spacing 20), 5 x 5 of them centred on 300x200... on grey 300x200:
    # the middle cell and its diagonal neighbours hold the watermark, its side neighbours not.
    ch = pixels(get("wm:1:ch:20:20/wmu:%s" % wmu("wmpdf-wm.png"), L("grey.png")).body)
    re_ = pixels(get("wm:1:re:20:20/wmu:%s" % wmu("wmpdf-wm.png"), L("grey.png")).body)
    cx, cy = 150, 100
    for img, name in ((ch, "ch"), (re_, "re")):
        expect_colour(img, cx, cy, (255, 0, 0), "%s middle cell" % name, tol=10)
        expect_colour(img, cx - 40, cy - 30, (255, 0, 0), "%s diagonal cell" % name, tol=10)
    expect_colour(re_, cx - 40, cy, (255, 0, 0), "re side cell", tol=10)
    expect_colour(ch, cx - 40, cy, GREY, "ch side cell", tol=2)
    expect_colour(ch, cx, cy - 30, GREY, "ch cell above", tol=2)


def origin_hits(path):
    with open(ORIGIN_LOG, errors="replace") as f:
        return sum(1 for line in f if '"GET %s ' % path in line)


@test("wmu/fetched-once-for-100-requests")
def _():
    for i in range(100):
        r = get("wm:1:nowe/wmu:%s/cb:%d/rs:fit:60:40" % (wmu("wmpdf-once.png"), i), L("grey.png"))
        check(r.status == 200, "request %d: %r" % (i, r))
    time.sleep(0.2)
    hits = origin_hits("/wmpdf-once.png")
    check(hits == 1, "the origin saw %d requests for the watermark, want 1" % hits)


@test("wmu/redirect-to-link-local-refused")
def _():
    import urllib.parse
    target = "%s/r/x?%s" % (PYORIGIN, urllib.parse.urlencode({"redirect": "http://169.254.169.254/wm.png"}))
    r = get("wm:1/wmu:%s" % b64(target), L("grey.png"))
    expect_error(r, 404, "Source image is unreachable")
    check(log_has("Source address is not allowed"), "no guard line in the log")


@test("wmu/over-the-limits-refused")
def _():
    # 8000x8000 (64 MP) and a 4 MB file: over IMGPROXY_MAX_SRC_RESOLUTION / _FILE_SIZE.
    expect_error(get("wm:1/wmu:%s" % wmu("big.png"), L("grey.png")), 422, "Invalid source image")
    expect_error(get("wm:1/wmu:%s" % wmu("padded.jpg"), L("grey.png")), 422, "Invalid source image")
    # msr:0.1 on the request: the 300x200 source fits, the 800x500 watermark does not.
    expect_error(get("msr:0.1/wm:1/wmu:%s" % wmu("photo.jpg"), L("grey.png")), 422,
                 "Invalid source image")
    expect_error(get("wm:1/wmu:%s" % wmu("text.txt"), L("grey.png")), 422)
    expect_error(get("wm:1/wmu:%s" % b64("%s/404" % ORIGIN), L("grey.png")), 404)
    # Without wm (opacity 0) nothing is fetched or drawn.
    r = get("wmu:%s" % wmu("big.png"), L("grey.png"))
    expect_image(r, "png", 300, 200)


@test("wmu/outside-allowed-sources-refused")
def _():
    # Inside IMGPROXY_ALLOWED_SOURCES: drawn.
    r = get("wm:1:nowe:0:0/wmu:%s" % wmu("wmpdf-allowed.png"), L("grey.png"), base=ALLOWED)
    expect_image(r, "png", 300, 200)
    check(red_box(pixels(r.body)) == (0, 0, 20, 10), "allowed wmu: %s" % (red_box(pixels(r.body)),))
    # Outside (localhost is not 127.0.0.1 to the patterns): refused as a source would be,
    # before anything is downloaded.
    port = ORIGIN.rsplit(":", 1)[1]
    url = "http://localhost:%s/wmpdf-allowed.png?outside" % port
    r = get("wm:1/wmu:%s" % b64(url), L("grey.png"), base=ALLOWED)
    expect_error(r, 404, "Invalid source URL")
    check(log_has("Source URL is not allowed: %s (watermark_url)" % url, log=ALLOWED_LOG),
          "no allowed-sources line for the watermark in the log")
    time.sleep(0.2)
    check(origin_hits("/wmpdf-allowed.png?outside") == 0, "the outside watermark was downloaded")


@test("fiu/outside-allowed-sources-refused")
def _():
    missing = "missing-fiu-%d.jpg" % os.getpid()
    # Inside: the fallback image stands in for the missing source.
    r = get("%s/f:png" % ("fiu:" + b64(ORIGIN + "/fallback.png")), ORIGIN + "/" + missing,
            base=ALLOWED)
    expect_image(r, "png", 37, 23)
    # Outside: the source's own error stands, and the log says why the fallback was not used.
    url = "http://localhost:%s/fallback.png" % ORIGIN.rsplit(":", 1)[1]
    r = get("fiu:%s/f:png" % b64(url), ORIGIN + "/" + missing, base=ALLOWED)
    expect_error(r, 404)
    check(log_has("Source URL is not allowed: %s (fallback_image_url)" % url, log=ALLOWED_LOG),
          "no allowed-sources line for the fallback in the log")


@test("wmu/preprocessed-with-base-url")
def _():
    # IMGPROXY_BASE_URL is the origin: a relative source and a relative wmu.
    r = get("wm:1:nowe:0:0/wmu:%s" % b64("wmpdf-pre.png"), "grey.png", base=WP2)
    expect_image(r, "png", 300, 200)
    check(red_box(pixels(r.body)) == (0, 0, 20, 10), "relative wmu: %s" % (red_box(pixels(r.body)),))
    check(origin_hits("/wmpdf-pre.png") >= 1, "the origin never saw the relative watermark")
    # IMGPROXY_URL_REPLACEMENTS first (wm:// is the origin), then the base URL (already there).
    r = get("wm:1:nowe:0:0/wmu:%s" % b64("wm://wmpdf-wm.png"), "grey.png", base=WP2)
    check(red_box(pixels(r.body)) == (0, 0, 20, 10), "wm:// wmu: %s" % (red_box(pixels(r.body)),))
    # Without IMGPROXY_WATERMARK_PREPROCESS_URL a relative wmu is no URL.
    r = get("wm:1:nowe:0:0/wmu:%s" % b64("wmpdf-pre.png"), L("grey.png"))
    check(r.status in (404, 422), "relative wmu without preprocessing: %r" % r)


if __name__ == "__main__":
    sys.exit(SUITE.main(sys.argv[1:], RESULT, "wm-pdf", workers=2))
