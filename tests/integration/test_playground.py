#!/usr/bin/env python3
"""test_playground.py: the playground and live memory view (IMGFCGI_PLAYGROUND), in a browser.

Started by run.sh (nginx host) with Debian's python3 (python3-selenium) against:
  IT_PG_FRONT / IT_PG_PID    an instance with IMGFCGI_PLAYGROUND=true, IMGPROXY_KEY/SALT
                             (IT_KEY/IT_SALT) and IMGFCGI_PLAYGROUND_ORIGIN=IT_ORIGIN/;
  IT_SIGNED_FRONT            an instance with neither the playground nor metrics;
  IT_FRONT                   an instance with IMGFCGI_METRICS_PATH only.
The browser case drives headless Chromium (chromium, chromium-driver): it builds a URL
with the form, checks the page shows the URL imgfcgi serves and an image of the size
asked for, runs the page's load button and holds the memory chart's RSS against
/proc/PID/status. IT_PG_SCREENSHOT: where to save a screenshot taken under load.
Prints one line per failure and "  playground: N passed, N failed".
"""
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, http_get  # noqa: E402

SUITE = imgtest.Suite()
test = SUITE.test

PG = os.environ["IT_PG_FRONT"]
PG_PID = int(os.environ["IT_PG_PID"])
PLAIN = os.environ["IT_SIGNED_FRONT"]
METRICS_ONLY = os.environ["IT_FRONT"]
ORIGIN = os.environ["IT_ORIGIN"]
KEY = bytes.fromhex(os.environ["IT_KEY"])
SALT = bytes.fromhex(os.environ["IT_SALT"])
RESULT = os.environ.get("IT_PG_RESULT")
SCREENSHOT = os.environ.get("IT_PG_SCREENSHOT")
HOST = urllib.parse.urlsplit(PG).netloc
BROWSER_DEADLINE = 60  # seconds for the whole browser case

PHOTO_PATH = "/rs:fit:300:200/plain/local:///photo.jpg"
PAGE_FILES = ("/playground/playground.js", "/playground/playground.css")


def sign_req(path, headers=None):
    q = "/playground/sign?path=" + urllib.parse.quote(path, safe="")
    return http_get(PG, q, headers=headers if headers is not None else
                    {"Referer": "http://%s/" % HOST})


@test("playground/off/landing")
def _():
    r = http_get(PLAIN, "/")
    check(r.status == 200 and r.ctype().startswith("text/html"), "/: %r" % r)
    check(b"playground" not in r.body, "/ without IMGFCGI_PLAYGROUND names the playground")


@test("playground/off/404")
def _():
    for path in ("/memory", "/playground/stats.json", "/playground/sign?path=%2Fx") + PAGE_FILES:
        r = http_get(PLAIN, path, headers={"Referer": "%s/" % PLAIN})
        check(r.status == 404, "%s without the playground: want 404, got %r" % (path, r))


@test("playground/metrics-only")
def _():
    check(b"playground.js" not in http_get(METRICS_ONLY, "/").body, "/ is not the landing page")
    r = http_get(METRICS_ONLY, "/playground/stats.json")
    check(r.status == 200 and json.loads(r.body)["rss"] > 0, "stats.json: %r" % r)
    r = http_get(METRICS_ONLY, "/playground/sign?path=" + urllib.parse.quote(PHOTO_PATH, safe=""),
                 headers={"Referer": "%s/" % METRICS_ONLY})
    check(r.status == 404, "the signing endpoint without the playground: %r" % r)


@test("playground/files")
def _():
    r = http_get(PG, "/")
    check(r.status == 200 and b"playground/playground.js" in r.body, "/: %r" % r)
    for path, ctype in zip(PAGE_FILES, ("text/javascript", "text/css")):
        r = http_get(PG, path)
        check(r.status == 200 and r.ctype().startswith(ctype), "%s: %r" % (path, r))
    r = http_get(PG, "/memory")
    check(r.status == 200 and r.body == http_get(PG, "/").body, "/memory: %r" % r)


@test("playground/sign/ok")
def _():
    for path in (PHOTO_PATH, "/w:50/plain/%s/photo.jpg@png" % ORIGIN,
                 "/w:50/" + imgtest.b64("local:///alpha.png") + ".webp"):
        r = sign_req(path)
        check(r.status == 200, "signing %s: %r" % (path, r))
        got = json.loads(r.body)
        check(got["signature"] == imgtest.sign(path, KEY, SALT),
              "%s: signature %s is not HMAC(key, salt + path)" % (path, got["signature"]))
        img = http_get(PG, "/" + got["signature"] + path)
        check(img.status == 200 and img.ctype().startswith("image/"), "%s: %r" % (path, img))


@test("playground/sign/refuses-sources")
def _():
    for path in ("/w:50/plain/http://127.0.0.2:1/photo.jpg",
                 "/w:50/plain/%s.evil/photo.jpg" % ORIGIN,
                 "/w:50/" + imgtest.b64("http://example.com/a.jpg"),
                 "/w:50/plain/local:///../etc/passwd"):
        r = sign_req(path)
        check(r.status == 403, "signing %s: want 403, got %r" % (path, r))
        check(b"signature" not in r.body, "%s: a signature came back" % path)


@test("playground/sign/refuses-other-sites")
def _():
    own = "http://%s/" % HOST
    for headers in ({}, {"Referer": "http://evil.example/"},
                    {"Referer": own, "Origin": "http://evil.example"},
                    {"Referer": "http://%s.evil.example/" % HOST.split(":")[0]},
                    {"Origin": "http://" + HOST}):
        r = sign_req(PHOTO_PATH, headers)
        check(r.status == 403, "%r: want 403, got %r" % (headers, r))


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1100,1500", "--no-proxy-server", "--disable-extensions"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def wait_for(drv, script, what, deadline):
    """Polls the JavaScript expression script until it is truthy; returns its value."""
    while time.monotonic() < deadline:
        v = drv.execute_script("return " + script)
        if v:
            return v
        time.sleep(0.2)
    raise imgtest.Failure("timed out waiting for " + what)


def console_errors(drv):
    return [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def choose(drv, ident, value):
    drv.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('change'));", ident, value)


def check_result(drv, deadline):
    """The form: sample photo.jpg, fill 240x160, smart gravity, PNG; the page shows the URL
    imgfcgi serves and an image of that size."""
    choose(drv, "sample", "local:///photo.jpg")
    choose(drv, "rt", "fill")
    drv.find_element("id", "width").clear()
    drv.find_element("id", "width").send_keys("240")
    drv.find_element("id", "height").clear()
    drv.find_element("id", "height").send_keys("160")
    choose(drv, "gravity", "sm")
    choose(drv, "format", "png")
    drv.find_element("id", "go").click()
    url = wait_for(drv, "document.getElementById('result-img').dataset.done", "the result", deadline)
    shown = drv.find_element("id", "result-url").text
    path = "/rs:fill:240:160/g:sm/plain/local:///photo.jpg@png"
    want = "%s/%s%s" % (PG, imgtest.sign(path, KEY, SALT), path)
    check(shown == want, "the page shows %s, want %s" % (shown, want))
    check(url == want[len(PG):], "the page requested %s" % url)
    check(drv.find_element("id", "url-plain").text == path, "plain form: %s"
          % drv.find_element("id", "url-plain").text)
    size = drv.execute_script("const i = document.getElementById('result-img');"
                              "return [i.naturalWidth, i.naturalHeight];")
    check(size == [240, 160], "the image's natural size is %r" % size)
    r = http_get(PG, url)
    imgtest.expect_image(r, "png", 240, 160)
    shown_bytes = drv.find_element("id", "r-bytes").text.replace(",", "")
    check(shown_bytes == str(len(r.body)), "the page says %s bytes, imgfcgi sent %d"
          % (shown_bytes, len(r.body)))
    check(drv.find_element("id", "r-type").text == "image/png", "Content-Type shown: %s"
          % drv.find_element("id", "r-type").text)


def check_load(drv, deadline):
    """The load button: 200 requests at concurrency 4, all 200; the chart has >= 10
    points and its latest RSS is within 10% of /proc/PID/status VmRSS."""
    choose(drv, "concurrency", "4")
    drv.find_element("id", "load").click()
    wait_for(drv, "/running: 1[5-9][0-9]\\//.test(document.getElementById('load-status').textContent)"
             " || document.getElementById('load-status').dataset.done", "the load to run", deadline)
    if SCREENSHOT:
        drv.save_screenshot(SCREENSHOT)
    done = wait_for(drv, "document.getElementById('load-status').dataset.done", "the load", deadline)
    errors = drv.execute_script("return document.getElementById('load-status').dataset.errors")
    check(done == "200" and errors == "0", "load: %s done, %s errors" % (done, errors))
    wait_for(drv, "Number(document.getElementById('chart-memory').dataset.points) >= 10",
             "10 chart points", deadline)
    points = drv.execute_script("return window.imgfcgiPlayground.points.length")
    check(points >= 10, "%d points" % points)
    worst = 0.0
    for _ in range(3):
        before = imgtest.rss_bytes(PG_PID)
        drv.execute_async_script("window.imgfcgiPlayground.poll().then(arguments[0])")
        after = imgtest.rss_bytes(PG_PID)
        rss = drv.execute_script("const p = window.imgfcgiPlayground.points;"
                                 "return p[p.length - 1].rss")
        ref = (before + after) / 2
        off = abs(rss - ref) / ref
        worst = max(worst, off)
        check(off <= 0.10, "chart RSS %d vs VmRSS %d..%d: %.1f%% off"
              % (rss, before, after, off * 100))
    print("figure playground: %d points, chart RSS within %.2f%% of VmRSS" % (points, worst * 100))


@test("playground/browser")
def _():
    deadline = time.monotonic() + BROWSER_DEADLINE
    drv = browser()
    try:
        drv.set_script_timeout(10)
        drv.get(PG + "/")
        wait_for(drv, "window.imgfcgiPlayground && window.imgfcgiPlayground.points.length > 0",
                 "the first figures", deadline)
        check_result(drv, deadline)
        check_load(drv, deadline)
        errs = console_errors(drv)
        check(not errs, "console errors: %s" % errs)
        drv.get(PG + "/memory")
        wait_for(drv, "window.imgfcgiPlayground && window.imgfcgiPlayground.points.length > 0",
                 "the memory view", deadline)
        hidden = drv.execute_script(
            "return getComputedStyle(document.getElementById('playground')).display")
        check(hidden == "none", "/memory shows the playground form (%s)" % hidden)
        errs = console_errors(drv)
        check(not errs, "console errors on /memory: %s" % errs)
    finally:
        drv.quit()


def main():
    return SUITE.main(sys.argv[1:], RESULT, label="playground")


if __name__ == "__main__":
    sys.exit(main())
