# scripts/deps.sh: the Debian packages imgfcgi needs, in one place.
# shellcheck shell=bash
# Sourced (not run) by run.sh, tests/run.sh and .ci/run; needs bash.

# Build: compiler, libraries with their headers, cmocka for the unit tests.
# libc6-dev is listed because --no-install-recommends does not pull it in with gcc.
IMGFCGI_BUILD_DEPS=(gcc libc6-dev make pkg-config libvips-dev libglib2.0-dev libfcgi-dev
    libcurl4-openssl-dev libcmocka-dev libjson-glib-dev)
# cairo's PDF surface writes PDF results (src/save_pdf.c); libvips-dev pulls it in
# through Pango, listed since imgfcgi uses it directly.
IMGFCGI_BUILD_DEPS+=(libcairo2-dev)
# OpenSSL's libcrypto (AES-CBC) decrypts /enc/ source URLs (src/encsrc.c).
IMGFCGI_BUILD_DEPS+=(libssl-dev)
# Sanitizers and fuzzing: gcc's ASan/UBSan/TSan runtimes come with gcc; the
# libFuzzer targets (make fuzz) need clang and its runtime library package,
# which --no-install-recommends does not pull in.
IMGFCGI_BUILD_DEPS+=(clang libclang-rt-14-dev)
# /info (src/inforeport.c) and keep_copyright (src/metadata.c): EXIF through
# libexif, IPTC through libiptcdata, XMP through exempi (/info) and libxml2
# (keep_copyright's filter), not parsers of our own.
IMGFCGI_BUILD_DEPS+=(libexif-dev libiptcdata0-dev libexempi-dev libxml2-dev)
# gs:// signs its OAuth JWT with RS256 through OpenSSL's libcrypto (EVP_DigestSign).
IMGFCGI_BUILD_DEPS+=(libssl-dev)
# Run and test: the web servers, the spawner, vipsheader for the tests, curl for
# health checks, python3 for the integration suite, the optional allocators,
# iproute2 (ip) for the suite's private loopback-only network namespace.
IMGFCGI_RUNTIME_DEPS=(nginx spawn-fcgi libvips-tools curl python3 libjemalloc2
    libtcmalloc-minimal4 iproute2)
# The other FastCGI hosts the integration suite runs behind (conf/lighttpd.conf,
# conf/apache-fcgid.conf). The suite starts private instances; Debian's policy-rc.d
# or a container keeps the packaged services from starting.
IMGFCGI_RUNTIME_DEPS+=(lighttpd apache2 libapache2-mod-fcgid)
# The colour suite (tests/integration/test_colour.py): ICC profiles for its
# fixtures and LittleCMS's jpgicc/tificc for its references.
IMGFCGI_RUNTIME_DEPS+=(icc-profiles-free colord-data liblcms2-utils)
# The storage tests: the GCS stub (tests/storage/gcs_stub.py) verifies JWTs with the
# openssl command; Azurite (tests/storage/azurite) is an npm package run by Node.js.
IMGFCGI_RUNTIME_DEPS+=(openssl)
# The fleet drills (make fleet): runit's runsv supervises each host's imgfcgi.
IMGFCGI_RUNTIME_DEPS+=(runit)
# The /enc/ tests (tests/integration/test_pro_sources.py): openssl enc makes the payloads.
IMGFCGI_RUNTIME_DEPS+=(openssl)
# The storage tests (tests/integration/test_storage.py): OpenStack Swift with its s3api
# and tempauth middlewares is the S3 server (real SigV4 checks) and the Swift v1 server,
# memcached keeps tempauth's tokens (tests/storage/swift.sh).
IMGFCGI_RUNTIME_DEPS+=(swift swift-proxy swift-account swift-container swift-object memcached)
# Benchmarks (tests/bench/throughput): the load generator and nginx's image_filter
# to compare against. The module package may enable itself in /etc/nginx/modules-enabled;
# the project's nginx configurations never include that directory.
IMGFCGI_BENCH_DEPS=(wrk libnginx-mod-http-image-filter)
# watermark_text: Pango's markup parser checks user markup before libvips renders it
# (src/markup.c), and a font for the text (libvips' vips_text uses fontconfig).
IMGFCGI_BUILD_DEPS+=(libpango1.0-dev)
IMGFCGI_RUNTIME_DEPS+=(fonts-dejavu-core)
# The checks .ci/run makes before the tests: make format-check (clang-format) and
# make lint (shellcheck, pyflakes3).
IMGFCGI_LINT_DEPS=(clang-format shellcheck python3-pyflakes)
# The playground's browser test (tests/integration/test_playground.py): headless
# Chromium driven through chromedriver by Selenium.
IMGFCGI_BROWSER_DEPS=(chromium chromium-driver python3-selenium)
IMGFCGI_DEPS=("${IMGFCGI_BUILD_DEPS[@]}" "${IMGFCGI_RUNTIME_DEPS[@]}" "${IMGFCGI_BENCH_DEPS[@]}"
    "${IMGFCGI_LINT_DEPS[@]}" "${IMGFCGI_BROWSER_DEPS[@]}")

# Prints the packages among "$@" that dpkg does not have installed, one per line.
deps_missing() {
    local p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$'; then
            echo "$p"
        fi
    done
}

# Makes sure every package in IMGFCGI_DEPS is installed. As root it runs
# apt-get update once and installs only the missing ones; otherwise it lists
# them and returns 1.
deps_ensure() {
    local missing
    missing=$(deps_missing "${IMGFCGI_DEPS[@]}" | tr '\n' ' ')
    missing=${missing% }
    if [ -z "$missing" ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: $missing" >&2
        echo "install them with: sudo apt-get install --no-install-recommends $missing" >&2
        return 1
    fi
    echo "installing: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086 # one word per package
    apt-get install -y -q --no-install-recommends $missing
}
