#!/bin/bash
# make-corpus.sh: writes the seed corpora in tests/fuzz/corpus/<target>/ and
# options.dict. Run from anywhere; needs libvips-tools. The images are drawn
# here by libvips (flat colours, gradients), so they carry no third-party
# licence; the animated GIF takes only the frame layout (page height, delays)
# of tests/fixtures/animated.gif, every pixel is replaced.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
c=$here/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$c"
mkdir -p "$c"/{url,options,signature,request,loaders}

# seed DIR NAME: stdin into DIR/NAME.
seed() { cat >"$c/$1/$2"; }

# URL paths like the unit and integration tests use.
urls=(
    "/insecure/rs:fit:300:300/plain/http://example.com/a.jpg"
    "/insecure/rs:fill:300:400:0/g:sm/plain/local:///photo.jpg@webp"
    "/insecure/w:100/plain/http://example.com/a.jpg?x=1&y=2"
    "/insecure/fill/300/300/no/1/aHR0cDovL2V4YW1wbGUuY29tL2EuanBn.png"
    "/insecure/rs:fit:300:300/aHR0cDovL2V4YW1wbGUuY29tL2EuanBn/name.webp"
    "/insecure/pr:small/plain/http:/example.com/a%20b.jpg@png"
    "/insecure/c:100:200:fp:0.5:0.75/ex:1:ce:0:0/plain/https%3A%2F%2Fexample.com%2Fx.gif"
    "/oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8/rs:fill:300:400:0/g:sm/plain/http://x/y.jpg"
)
i=0
for u in "${urls[@]}"; do
    printf '\000%s' "$u" | seed url "u$i"
    printf '\001%s' "$u" | seed signature "s$i"
    i=$((i + 1))
done
# ${1} and ${2} are url_replacements' capture references, not shell expansions.
# shellcheck disable=SC2016
printf '\012http://fuzz/*=http://x/${1}/a;local://*/*=http://${2}\n/img/insecure/w:1/plain/http://fuzz/q/r.jpg' |
    seed url replacements
printf '\024/insecure/small:big/plain/http://x/a.jpg' | seed url only-presets
printf '\037/img/insecure/rs,fit,1,1/plain/http://a/b.jpg@avif' | seed url comma-base
# /enc/ (the documented AES-256 vector, split as imgproxy.rb splits it) and a chain.
printf '\000/insecure/rs:fit:300:300/enc/p5VjorNdhs7mRRw8/gA9TWoRlGci3l1ku/zqN43UQlRaRIQ0qt/BKW3qFABIsx-ZRz_/cVc8iVTYbhsNsxNB/L1BHaQ.webp' |
    seed url enc
printf '\000/insecure/rs:fit:500:500/-/trim:10/-/plain/http://x/a.jpg' | seed url chain

# Option segments from tests/unit/test_options.c, a few per seed.
opts=(
    "rs:fit:300:300/q:50/dpr:2/el:1.webp"
    "c:100:200:soea:10:20/g:fp:0.5:0.25/ex:1:ce:0:0:1/exar:1:sm"
    "pd:1:2:3:4/bg:10:20:30/bl:2.5/sh:1/pix:8/rot:90/fl:1:1"
    "t:10:ff0000:1:1/wm:0.5:re:1:2:0.3/fq:jpeg:70:webp:60/f:png"
    "fn:name/att:1/cb:xyz/exp:1700000000/kcr:1/scp:1/sm:1/eth:1"
    "msr:2.5/msfs:1000/maf:3/mafr:1/mb:1000/skp:jpg:png/raw:1"
    "s:100:200:1:1/rt:fill-down/z:1.5:2/mw:10/mh:20/ar:1"
    "pr:small/pr:loop/preset:nope"
    "aq:dssim:0.02:10:95:0.001/f:best/autoquality:size::70:.best"
)
i=0
for o in "${opts[@]}"; do
    printf '\002%s' "$o" | seed options "o$i"
    i=$((i + 1))
done
printf '\003small=rs:fit:1:1/q:2;loop=pr:loop/pr:small;x=fq:webp:1\npr:loop/pr:x/msr:2' |
    seed options presets
printf '\001w,10/g,fp,0.5,0.5/fq,avif,40' | seed options comma
printf '\003test=width:300/height:300/-/width:200/height:200/-/width:100/height:200\nwidth:400/-/preset:test/width:500/-/width:600/f:png' |
    seed options chain
printf '\002hs:sha256:0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef/fiu:aHR0cDovL3gvZi5wbmc/hs:none' |
    seed options sources
# Per-request watermarks (wmt is base64url Pango markup: "<b>Hi</b>") and pages.
printf '\002wm:0.5:ch:5:5/wmu:aHR0cDovL2EvYi5wbmc/wms:40:0/wmr:45/wmsh:2/wmt:PGI-SGk8L2I-/pg:3/pgs:2/da:1/dpi:300' |
    seed options wm-pages

# Option names for both option-parsing targets.
{
    for n in aq ar att auto_rotate autoquality background bg bl blur c cachebuster cb crop dpr el \
        enforce_thumbnail enlarge eth ex exar exp expires ext extend extend_ar \
        extend_aspect_ratio f filename fl flip fn format format_quality fq g gravity h \
        height kcr keep_copyright maf mafr max_animation_frame_resolution \
        max_animation_frames max_bytes max_src_file_size max_src_resolution mb mh \
        min-height min-width msfs msr mw padding pd pix pixelate pr preset q quality raw \
        resize resizing_type return_attachment rot rotate rs rt s scp sh sharpen size \
        skip_processing skp sm strip_color_profile strip_metadata t trim w watermark \
        width wm z zoom hashsum hs fallback_image_url fiu; do
        printf '"%s:"\n' "$n"
    done
    for v in fit fill fill-down force auto ce no so ea we noea nowe soea sowe sm fp re \
        jpg jpeg png webp avif gif heic tiff bmp ico svg plain insecure best none dssim ml enc - md5 sha1 \
        sha256 sha512; do
        printf '"%s"\n' "$v"
    done
} >"$here/options.dict"
# The watermark and page options (after the list above, so that its order stays).
{
    for n in watermark_url wmu watermark_text wmt watermark_size wms watermark_rotate wm_rot \
        wmr watermark_shadow wmsh page pg pages pgs disable_animation da dpi; do
        printf '"%s:"\n' "$n"
    done
    for v in ch pdf "<span size='" "<big>" "</span>" "font_desc='" "letter_spacing='"; do
        printf '"%s"\n' "$v"
    done
} >>"$here/options.dict"

# Images: 12x10 gradients in each format libvips loads here, an alpha PNG, a
# two-frame GIF, an SVG.
cd "$tmp"
vips xyz xy.v 12 10
vips bandjoin_const xy.v rgb.v 90
vips cast rgb.v img.v uchar
vips bandjoin_const img.v rgba.v 128
vips copy img.v "a.jpg[Q=50,strip]"
vips copy img.v "a.png[compression=9,strip]"
vips copy rgba.v "alpha.png[compression=9,strip]"
vips copy img.v "a.webp[Q=30,strip]"
vips copy img.v a.gif
vips copy img.v "a.tif[compression=deflate]"
vips copy img.v "a.avif[Q=20,strip]"
vips copy img.v a.bmp 2>/dev/null || true
vips black blk.v 120 160 --bands 4
vips linear blk.v red.v "1 1 1 1" "200 30 30 255" --uchar
vips insert "$here/../fixtures/animated.gif[n=2]" red.v anim.v 0 0
vips copy anim.v "anim.gif[strip]"
printf '<svg xmlns="http://www.w3.org/2000/svg" width="12" height="10"><rect width="6" height="5" fill="#f00"/><circle cx="8" cy="6" r="3" fill="blue"/></svg>' >a.svg

# request NAME URI HEADERS FILE
request() {
    { printf '%s\n' "$2"; printf '%b' "$3"; printf '\n'; cat "$4"; } | seed request "$1"
}
request jpg "/insecure/rs:fit:8:8/plain/http://o/a.jpg" "" a.jpg
request png-webp "/insecure/rs:fill:6:6/g:sm/plain/http://o/a.png@webp" "Accept: image/webp\n" a.png
request alpha "/insecure/w:5/bg:10:20:30/pd:1/plain/http://o/a.png@jpg" "" alpha.png
request webp "/insecure/c:6:6:nowe/rot:90/fl:1:0/plain/http://o/a.webp" "If-None-Match: \"x\"\n" a.webp
request gif "/insecure/el:1/w:20/wm:0.5:re/plain/http://o/a.gif@png" "" a.gif
request anim "/insecure/maf:2/w:8/plain/http://o/anim.gif" "" anim.gif
request tiff "/insecure/t:10/bl:1/sh:1/pix:2/plain/http://o/a.tif@png" "" a.tif
request avif "/insecure/q:30/plain/http://o/a.avif@jpg" "Accept: image/avif,image/webp\n" a.avif
request svg "/insecure/w:8/plain/http://o/a.svg" "" a.svg
request svg-raster "/insecure/w:8/plain/http://o/a.svg@png" "Dpr: 2\nWidth: 6\n" a.svg
request raw "/insecure/raw:1/plain/http://o/a.jpg" "Cookie: a=b\n" a.jpg
request bmp "/insecure/ex:1/w:14/h:14/plain/http://o/a.bmp@png" "" a.bmp
request etag "/insecure/fn:x/att:1/cb:1/exp:99/plain/http://o/a.png" "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT\n" a.png
request meta "/insecure/pr:small/plain/http://o/a.jpg" "X-Forwarded-Host: h\nX-Forwarded-Proto: https\n" a.jpg
request best "/insecure/w:30/f:best/plain/http://o/a.jpg" "Accept: image/webp\n" a.jpg
request aq "/insecure/el:1/w:24/aq:dssim:0.02:10:95/plain/http://o/a.png@webp" "" a.png
request chain "/insecure/rs:fit:8:8/-/c:4:4/-/rot:90/plain/http://o/a.jpg" "" a.jpg
request hashsum-fiu "/insecure/hs:md5:00000000000000000000000000000000/fiu:aHR0cDovL28vYS5wbmc/w:4/plain/http://o/a.png@webp" \
    "Accept: image/webp\n" a.png
printf '/metrics\n\n' | seed request metrics
# loaders: byte 0 even for jxlload, odd for heifload; JPEG XL lossy, lossless
# and with alpha, HEIC (HEVC) with and without alpha, AVIF.
vips copy img.v "a.jxl[Q=40]"
vips copy img.v "lossless.jxl[lossless]"
vips copy rgba.v "alpha.jxl[Q=60]" --interpretation srgb
vips copy img.v "a.heic[Q=30,compression=hevc,strip]"
vips copy rgba.v "alpha.heic[Q=30,compression=hevc,strip]" --interpretation srgb
for f in a.jxl lossless.jxl alpha.jxl; do { printf '\000'; cat "$f"; } | seed loaders "$f"; done
for f in a.heic alpha.heic a.avif; do { printf '\001'; cat "$f"; } | seed loaders "$f"; done
printf '/health\n\n' | seed request health
