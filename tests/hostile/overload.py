#!/usr/bin/env python3
"""overload.py: 4 x as many clients as workers, for a fixed time, against an
imgfcgi with IMGPROXY_REQUESTS_QUEUE_SIZE set, through its real nginx front.

It passes when only 200 and 429 come back (no 5xx, no other status, no
client timeout or transport error), the process keeps its RSS bounded (start,
peak and end reported), /health answers 200 afterwards and the pid is the same
process (same start time). Each client loops over a mix of image requests on
keep-alive connections; a 429 is answered at once, and the client tries
again 20 ms later.

Environment: OVERLOAD_FRONT (http://127.0.0.1:PORT), OVERLOAD_PID (the imgfcgi
process), OVERLOAD_WORKERS, OVERLOAD_SECONDS (default 60), OVERLOAD_RSS_MAX_MB
(growth allowed over the start, default 256).
Prints the figures and "overload: N passed, M failed" (one per check).
"""
import collections
import http.client
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import start_time  # noqa: E402

FRONT = os.environ["OVERLOAD_FRONT"]
PID = int(os.environ["OVERLOAD_PID"])
WORKERS = int(os.environ.get("OVERLOAD_WORKERS", "2"))
SECONDS = float(os.environ.get("OVERLOAD_SECONDS", "60"))
RSS_MAX_MB = float(os.environ.get("OVERLOAD_RSS_MAX_MB", "256"))
CLIENTS = 4 * WORKERS
CLIENT_TIMEOUT = 30
# A client told 429 tries again after this long (seconds): eager, but not a busy loop.
RETRY_PAUSE = 0.02

L = "local:///photo.jpg"
PATHS = [
    "/insecure/rs:fit:300:300/plain/%s" % L,
    "/insecure/rs:fill:200:200/plain/%s@png" % L,
    "/insecure/w:400/plain/%s@webp" % L,
    "/insecure/rs:fit:640:640/bl:2/plain/%s" % L,
    "/insecure/rs:fit:100:100/plain/local:///alpha.png",
    "/insecure/rs:fill:150:150/plain/%s@avif" % L,
]


def rss_kb(pid):
    return imgtest.proc_status_kb(pid, "VmRSS")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.status = collections.Counter()
        self.errors = collections.Counter()
        self.examples = []
        self.latency = collections.defaultdict(list)

    def add(self, status, secs):
        with self.lock:
            self.status[status] += 1
            self.latency[status].append(secs)

    def example(self, what):
        with self.lock:
            if len(self.examples) < 5:
                self.examples.append(what)

    def error(self, what):
        with self.lock:
            self.errors[what.split(":")[0]] += 1
        self.example(what)


def client(n, stop, stats):
    u = urllib.parse.urlsplit(FRONT)
    conn = None
    i = n
    while not stop.is_set():
        path = PATHS[i % len(PATHS)]
        i += 1
        t0 = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=CLIENT_TIMEOUT)
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            stats.add(r.status, time.monotonic() - t0)
            if r.status == 200 and len(body) == 0:
                stats.error("empty 200 body: %s" % path)
            if r.status not in (200, 429):
                stats.example("status %d: %s %r" % (r.status, path, body[:80]))
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
            if r.status == 429:
                time.sleep(RETRY_PAUSE)
        except Exception as e:  # noqa: BLE001 - every transport error counts against the run
            stats.error("%s: %s %s" % (type(e).__name__, path, e))
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    tally = imgtest.Tally(verbose=True)

    def check(name, cond, detail):
        tally.record("overload/" + name, None if cond else detail, detail)

    stats = Stats()
    stop = threading.Event()
    born = start_time(PID)
    rss = [rss_kb(PID)]
    threads = [threading.Thread(target=client, args=(n, stop, stats)) for n in range(CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while time.monotonic() - t0 < SECONDS:
        time.sleep(0.5)
        try:
            rss.append(rss_kb(PID))
        except OSError:
            break
    stop.set()
    for t in threads:
        t.join(CLIENT_TIMEOUT + 5)
    elapsed = time.monotonic() - t0
    hung = sum(t.is_alive() for t in threads)
    time.sleep(1)
    alive = os.path.exists("/proc/%d" % PID)
    end_rss = rss_kb(PID) if alive else 0

    total = sum(stats.status.values())
    print("overload: %d clients x %.0f s against %d workers: %d responses (%.0f/s): %s"
          % (CLIENTS, elapsed, WORKERS, total, total / elapsed,
             ", ".join("%d x %d" % (c, s) for s, c in sorted(stats.status.items()))))
    for s in sorted(stats.latency):
        print("overload: status %d latency p50 %.0f ms, p99 %.0f ms, max %.0f ms"
              % (s, 1000 * pct(stats.latency[s], 0.5), 1000 * pct(stats.latency[s], 0.99),
                 1000 * max(stats.latency[s])))
    print("overload: RSS start %.1f MB, peak %.1f MB, end %.1f MB"
          % (rss[0] / 1024, max(rss) / 1024, end_rss / 1024))
    for e in stats.examples:
        print("overload:   %s" % e)

    other = {s: c for s, c in stats.status.items() if s not in (200, 429)}
    check("only-200-and-429", not other, "other statuses: %r" % other if other else "none")
    check("no-client-errors", not stats.errors and not hung,
          "transport errors %r, %d clients hung" % (dict(stats.errors), hung))
    check("served", stats.status[200] > 0, "%d x 200" % stats.status[200])
    check("queue-full-answered-429", stats.status[429] > 0,
          "%d x 429 (the queue was full at times)" % stats.status[429])
    grown = (max(rss) - rss[0]) / 1024
    check("rss-bounded", alive and grown <= RSS_MAX_MB,
          "peak %.1f MB over the start (limit %.0f MB)" % (grown, RSS_MAX_MB))
    # Not still growing at the end: the last third stays under the middle third's peak + 20%.
    third = max(1, len(rss) // 3)
    mid, last = rss[third:2 * third] or rss, rss[2 * third:] or rss
    check("rss-flat", max(last) <= max(mid) * 1.2 + 16 * 1024,
          "middle third peak %.1f MB, last third peak %.1f MB"
          % (max(mid) / 1024, max(last) / 1024))
    r = imgtest.http_get(FRONT, "/health", 10, keep_errors=True)
    check("health-after", r.status == 200, "/health: %s" % (r.error or r.status))
    check("same-pid", alive and start_time(PID) == born, "pid %d %s" % (
        PID, "still the same process" if alive and start_time(PID) == born else "gone or replaced"))

    return tally.finish(os.environ.get("OVERLOAD_RESULT"), "overload")


if __name__ == "__main__":
    sys.exit(main())
