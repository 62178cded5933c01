#!/usr/bin/env python3
"""bounded.py: requests built to outlast a deadline or take the host's memory, against an
imgfcgi with its default settings (only IMGPROXY_TIMEOUT set, and the local root), through
its real nginx front, from 4 clients for a fixed time.

Each request enlarges, zooms, extends or pads to a format's size cap, rasterises a tiny SVG
huge, blurs with a huge sigma or decodes an animation of many large frames; one ordinary
blur runs into its deadline and is stopped there. It passes when every response comes within
the deadline + 1 s (client-measured; under a sanitizer build, which runs libvips' callers
several times slower, within twice the deadline), every status is one of
imgproxy's for such requests (200, 422, 503), the process is alive and the same, and its
peak RSS (VmRSS sampled every 100 ms, and VmHWM: the budget's calibration resets VmHWM, so
neither alone is the peak) stays within the default memory budget + the idle RSS + 10 % and
under 1 GB.
The budget is read from the start-up log line, which is checked too.

Environment: BD_FRONT, BD_PID, BD_LOG, BD_ROOT (the local:/// folder: the SVG and the GIF
are written there), BD_TIMEOUT (IMGPROXY_TIMEOUT of the instance, default 10), BD_SECONDS
(default 60), BD_RESULT. Prints the figures and "bounded: N passed, M failed".
"""
import collections
import http.client
import os
import re
import struct
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402

FRONT, LOG, PID = imgtest.instance_env("BD")
ROOT = os.environ["BD_ROOT"]
TIMEOUT = float(os.environ.get("BD_TIMEOUT", "10"))
SECONDS = float(os.environ.get("BD_SECONDS", "60"))
CLIENTS = 4
STATUSES = (200, 422, 503)

P = "local:///photo.jpg"
PATHS = [
    # enlarge / zoom to each format's side cap (WebP 16383, AVIF 16384, GIF and PNG 65535)
    "/insecure/z:1000/el:1/plain/%s@webp" % P,
    "/insecure/z:12/el:1/plain/%s@avif" % P,
    "/insecure/z:20/el:1/plain/%s@gif" % P,
    "/insecure/z:80/el:1/plain/%s@png" % P,
    "/insecure/z:40/el:1/plain/%s@jpg" % P,
    "/insecure/rs:fit:16383:16383:1/plain/%s@webp" % P,
    # extend and padding to 60000 px
    "/insecure/rs:fill:60000:60000:1/ex:1/plain/%s@png" % P,
    "/insecure/pd:30000/plain/%s@png" % P,
    "/insecure/pd:8000/plain/%s@webp" % P,
    # a 100 px SVG drawn at 20000 px
    "/insecure/rs:fit:20000:20000:1/plain/local:///bd-icon.svg@png",
    "/insecure/rs:fit:16000:16000:1/plain/local:///bd-icon.svg@avif",
    # a huge blur sigma on an enlarged image; an ordinary one that needs longer than the deadline
    "/insecure/z:10/el:1/bl:500/plain/%s@jpg" % P,
    "/insecure/z:5/el:1/bl:60/plain/%s@jpg" % P,
    # animations: many frames on a big canvas (each frame decoded at the canvas size)
    "/insecure/plain/local:///bd-frames.gif@webp",
    "/insecure/z:4/el:1/plain/local:///bd-frames.gif@gif",
    "/insecure/plain/local:///bd-screen.gif@webp",
]

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" viewBox="0 0 100 100">'
       b'<circle cx="50" cy="50" r="40" fill="#c03"/><rect x="10" y="10" width="30" height="20"'
       b' fill="#09f"/></svg>\n')


def gif_canvas(w, h, frames):
    """An animated GIF of `frames` frames on a w x h canvas, each frame's own image 1 x 1
    pixel: a few bytes per frame on disk, w x h pixels per frame once decoded."""
    out = [b"GIF89a", struct.pack("<HHBBB", w, h, 0xF0, 0, 0), b"\x00\x00\x00\xff\xff\xff",
           b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"]
    for i in range(frames):
        out.append(b"\x21\xf9\x04\x00\x0a\x00\x00\x00")  # 100 ms, no disposal
        out.append(struct.pack("<BHHHHB", 0x2C, (i * 7) % w, (i * 5) % h, 1, 1, 0))
        # LZW, minimum code size 2: clear (4), index 1, end (5) in 3-bit codes
        out.append(b"\x02\x02\x4c\x01\x00")
    out.append(b";")
    return b"".join(out)


def write_sources():
    with open(os.path.join(ROOT, "bd-icon.svg"), "wb") as f:
        f.write(SVG)
    with open(os.path.join(ROOT, "bd-frames.gif"), "wb") as f:
        f.write(gif_canvas(1000, 1000, 16))  # 16 MP: within the default source resolution
    with open(os.path.join(ROOT, "bd-screen.gif"), "wb") as f:
        f.write(gif_canvas(4000, 4000, 200))  # 3.2 GP decoded: over it


def budget_from_log():
    """The default budget in MB from the start-up line, or None."""
    with open(LOG, errors="replace") as f:
        m = re.search(r"memory budget (\d+) MB \(default: (\d+)% of ([^)]*?) (\d+) MB", f.read())
    return (int(m.group(1)), m.group(0)) if m else (None, None)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_path = collections.defaultdict(collections.Counter)
        self.slowest = collections.defaultdict(float)
        self.times = collections.defaultdict(list)
        self.bad = []

    def add(self, path, status, secs):
        with self.lock:
            self.by_path[path][status] += 1
            self.slowest[path] = max(self.slowest[path], secs)
            self.times[path].append(secs)

    def problem(self, what):
        with self.lock:
            self.bad.append(what)


def client(n, stop, stats):
    u = urllib.parse.urlsplit(FRONT)
    i = n * 5
    while not stop.is_set():
        path = PATHS[i % len(PATHS)]
        i += 1
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT + 30)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            try:
                r.read()
            except http.client.IncompleteRead:
                pass  # a streamed 200 cut at the deadline: its time is what counts
            stats.add(path, r.status, time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - any transport error counts against the run
            stats.problem("%s: %s %s" % (type(e).__name__, path, e))
        finally:
            conn.close()


def peak_kb(pid, samples):
    try:
        samples.append(max(imgtest.proc_status_kb(pid, "VmRSS"),
                           imgtest.proc_status_kb(pid, "VmHWM")))
    except OSError:
        pass


def run_load(stats, samples):
    """CLIENTS clients for SECONDS, then until each has its last answer; the process's
    memory is sampled every 100 ms all along."""
    stop = threading.Event()
    end = time.monotonic() + SECONDS
    threads = []
    for n in range(CLIENTS):
        threads.append(threading.Thread(target=client, args=(n, stop, stats)))
        threads[-1].start()
    while any(t.is_alive() for t in threads):
        if time.monotonic() >= end:
            stop.set()
        time.sleep(0.1)
        peak_kb(PID, samples)
    peak_kb(PID, samples)


def main():
    tally = imgtest.Tally(verbose=True)

    def check(name, cond, detail):
        tally.record("bounded/" + name, None if cond else detail, detail)

    write_sources()
    budget_mb, line = budget_from_log()
    check("budget-logged", budget_mb is not None and budget_mb > 0, line or "no budget line")
    born = imgtest.start_time(PID)
    idle_kb = imgtest.proc_status_kb(PID, "VmRSS")
    samples = [idle_kb]
    stats = Stats()
    t0 = time.monotonic()
    run_load(stats, samples)
    worst = 0.0
    for path in PATHS:
        c, s = stats.by_path.get(path, {}), stats.slowest.get(path, 0.0)
        worst = max(worst, s)
        print("bounded: %-62s %s, slowest %.2f s" % (
            path, ", ".join("%d x %d" % (n, st) for st, n in sorted(c.items())) or "none", s))
    statuses = collections.Counter()
    for c in stats.by_path.values():
        statuses.update(c)
    peak = max(samples) / 1024
    limit = ((budget_mb or 0) + idle_kb / 1024) * 1.1
    print("bounded: %d clients x %.0f s, %d responses: %s; idle RSS %.1f MB, peak %.1f MB, "
          "limit %.0f MB" % (CLIENTS, time.monotonic() - t0, sum(statuses.values()),
                             dict(sorted(statuses.items())), idle_kb / 1024, peak, limit))
    for b in stats.bad[:5]:
        print("bounded:   %s" % b)

    check("no-transport-errors", not stats.bad, "%d errors" % len(stats.bad))
    check("every-request-answered", all(stats.by_path.get(p) for p in PATHS),
          "not answered: %r" % [p for p in PATHS if not stats.by_path.get(p)])
    # Every answer within the deadline + 1 s: the deadline stops streamed work at its next tile
    # (big tiles run at normal priority near it, none starts after it), and work whose tiles or
    # encode it could not stop in time is refused before it starts. Sanitizer builds run
    # libvips' callers several times slower: they are held to twice the deadline.
    late = sum(1 for p in PATHS for t in stats.times.get(p, []) if t > TIMEOUT + 1)
    print("bounded: slowest response %.2f s; %d of %d later than the deadline + 1 s"
          % (worst, late, sum(len(v) for v in stats.times.values())))
    sanitizer = os.environ.get("IMGFCGI_ASAN") == "1" or os.environ.get("IMGFCGI_TSAN") == "1"
    bound = 2 * TIMEOUT if sanitizer else TIMEOUT + 1
    check("within-the-deadline", worst <= bound,
          "slowest response %.2f s, bound %.0f s (deadline %.0f s%s)"
          % (worst, bound, TIMEOUT, ", sanitizer build" if sanitizer else ""))
    other = {s: n for s, n in statuses.items() if s not in STATUSES}
    check("statuses", not other, "all in %r; other: %r" % (STATUSES, other))
    check("refused-before-work", statuses[422] > 0, "%d x 422" % statuses[422])
    check("rss-within-budget", budget_mb is not None and peak <= limit,
          "peak %.1f MB, limit (budget %s MB + idle %.1f MB) x 1.1 = %.0f MB"
          % (peak, budget_mb, idle_kb / 1024, limit))
    # Every request here is refused, cut at its deadline or bounded before it encodes; before
    # the default budget and the encode bound one AVIF of them alone took 5 GB.
    check("rss-under-1-gb", peak <= 1024, "peak %.1f MB" % peak)
    alive = imgtest.pid_alive(PID)
    check("same-pid", alive and imgtest.start_time(PID) == born,
          "pid %d %s" % (PID, "alive, same process" if alive else "gone"))
    r = imgtest.http_get(FRONT, "/insecure/rs:fit:100:100/plain/%s" % P, 10, keep_errors=True)
    check("serves-after", r.status == 200, "thumbnail after the run: %s" % (r.error or r.status))
    return tally.finish(os.environ.get("BD_RESULT"), "bounded")


if __name__ == "__main__":
    sys.exit(main())
