#!/usr/bin/env python3
"""drills.py: the fleet drills, started by tests/fleet/run.sh (see there for the set-up).

Drills, in this order (each bounded in time, each prints its figures):
  burst      five 49 MP rotations at once: no host's budget takes two; every client
             gets its image (a 503 that every host gave is retried after Retry-After),
             refused attempts come back within IMGFCGI_ADMISSION_WAIT_MS and go to the
             next host, no host's peak RSS passes (budget + idle) + 10%
  spread     8 clients, mixed workload, 60 s, no faults: each host serves 25..42% of
             the uncached requests; 0 failures
  faults     8 clients, 60 s: kill -9 of one host (serving again within 2 s), then a
             rolling restart of all three (SIGTERM, runsv starts each again), then one
             host stopped (SIGSTOP) for 10 s; 0 failures in each, and during the stop no
             client waits longer than fastcgi_read_timeout plus the spread run's
             longest request
  cache      100 identical requests for an uncached URL reach a host once; a later
             Accept: image/avif request for it gets AVIF, not the cached WebP
  cut        a FastCGI host (played here) that times out mid-body, then one that dies
             mid-body: neither answer is stored; the next request reaches the host
  origin     the origin down for a few seconds: cached images are still served, new
             ones fail fast on one host (no retry storm) and work once it is back
A failure is any non-2xx answer or transport error, except a 503 that every host gave.
In the faults drill, an answer the killed or stopped host was in the middle of writing
(its headers had reached the client: nginx cannot move it) is reported on its own and
allowed once per fault: the hosts buffer each result (IMGFCGI_BUFFER_RESULT), so only a
fault that lands inside the write of a finished answer cuts it; any other failure fails
the drill.
Prints "N passed, N failed" and writes "N N" to FLEET_RESULT.
"""
import http.client
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check  # noqa: E402

TMP = os.environ["FLEET_TMP"]
HOSTS = os.environ["FLEET_HOSTS"].split()
BUDGETS = os.environ["FLEET_BUDGETS"].split()
FRONT = "http://127.0.0.1:8080"
CUT_FRONT = "http://127.0.0.1:8090"
CUT_HOST = ("127.0.0.5", 9000)
ACCESS_LOG = os.path.join(TMP, "front", "imgfcgi-access.log")
CLIENTS = 8
BURST = 5
LOAD_SECONDS = 60
ACCEPTS = ("image/avif,image/webp,*/*", "image/webp,*/*", "*/*")
suite = imgtest.Suite()
figures = {}  # what one drill measured that a later one uses


def conf_seconds(name):
    """A duration directive of the front's nginx.conf (the tested conf/nginx-fleet.conf)."""
    with open(os.path.join(TMP, "front", "nginx.conf")) as f:
        m = re.search(r"^\s*%s (\d+)s;" % re.escape(name), f.read(), re.M)
    return float(m.group(1))


def host_env(name):
    """A setting from the hosts' runsv run script (every host has the same)."""
    with open(os.path.join(TMP, "sv", HOSTS[0], "run")) as f:
        return re.search(r"\b%s=(\S+)" % name, f.read()).group(1)


def budget_bytes(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


# ---------------------------------------------------------------- hosts


def host_pid(h):
    """The pid of host h's imgfcgi, from its runsv (None while it is down)."""
    try:
        with open(os.path.join(TMP, "sv", h, "supervise", "pid")) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text else None


def host_serving(h):
    """Host h answers 200 to a FastCGI GET /health on a fresh connection."""
    try:
        with socket.create_connection((h, 9000), timeout=0.5) as s:
            s.settimeout(1.0)
            status, _ = imgtest.fcgi_exchange(s, "/health")
            return status == 200
    except (OSError, imgtest.Failure):
        return False


def wait_serving(h, limit, old_pid=None):
    """Seconds until host h serves again (from a pid other than old_pid); None after limit."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        pid = host_pid(h)
        if pid and pid != old_pid and host_serving(h):
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def host_log_count(needle):
    """How many request lines of all hosts' logs name needle."""
    n = 0
    for h in HOSTS:
        with open(os.path.join(TMP, "host-%s.log" % h), errors="replace") as f:
            n += sum(1 for line in f if " GET " in line and needle in line)
    return n


# ---------------------------------------------------------------- the front's log


LOG_RE = re.compile(r'"GET (\S+) [^"]*" (\d+) \d+ rt=([\d.]+) ua="([^"]*)" us="([^"]*)" '
                    r'urt="([^"]*)" cache=(\S+)')


def access_entries():
    """path -> list of (status, upstream addresses, upstream statuses, upstream times)."""
    out = {}
    with open(ACCESS_LOG, errors="replace") as f:
        for line in f:
            m = LOG_RE.search(line)
            if m:
                out.setdefault(m.group(1), []).append(
                    (int(m.group(2)), m.group(4).split(", "), m.group(5).split(", "),
                     m.group(6).split(", ")))
    return out


def every_host_refused(entries, path):
    """The front answered path's 503 because every host it tried answered 503."""
    return any(st == 503 and all(u == "503" for u in us) for st, _, us, _ in entries.get(path, []))


# ---------------------------------------------------------------- load


def mixed_path(tag, client, n):
    """The n-th request of a client: mostly uncached (a unique cachebuster), one in five
    a repeat of a few cached URLs; local and origin sources, JPEG/PNG/GIF, resizes."""
    k = (client * 7 + n) % 10
    if k == 0:
        return "/insecure/rs:fit:%d:%d/plain/local:///photo.jpg" % (100 + client, 100 + client)
    if k == 5:
        return "/insecure/rs:fill:120:90/plain/http://127.0.0.1:8081/photo.jpg"
    cb = "cb:%s-%d-%d" % (tag, client, n)
    srcs = ("local:///photo.jpg", "http://127.0.0.1:8081/photo.jpg", "local:///alpha.png",
            "local:///animated.gif", "local:///orientation-6.jpg", "local:///photo.webp")
    src = srcs[(n + client) % len(srcs)]
    w = 80 + (n * 37 + client * 11) % 320
    return "/insecure/rs:fit:%d:%d/%s/plain/%s" % (w, w, cb, src)


class Load:
    """CLIENTS threads sending mixed_path requests through the front on kept
    connections for `seconds`; results are (start, end, status, path, error, accept)."""

    def __init__(self, tag, seconds):
        self.tag, self.seconds = tag, seconds
        self.results = []
        self.lock = threading.Lock()
        self.t0 = self.end = 0.0
        self.threads = []

    def start(self):
        self.t0 = time.monotonic()
        self.end = self.t0 + self.seconds
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join()

    def client(self, i):
        conn, n = None, 0
        while time.monotonic() < self.end:
            path, accept = mixed_path(self.tag, i, n), ACCEPTS[(i + n) % len(ACCEPTS)]
            n += 1
            t0, status, err = time.monotonic(), None, None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=60)
                conn.request("GET", path, headers={"Accept": accept})
                r = conn.getresponse()
                body = r.read()
                status = r.status
                if status == 200 and not body:
                    err = "200 with an empty body"
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                err = "%s: %s" % (type(e).__name__, e)
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.results.append((t0, time.monotonic(), status, path, err, accept))
        if conn is not None:
            conn.close()

    def failures(self, since=None, until=None):
        """The failed requests that started in [since, until) (monotonic times)."""
        entries = access_entries()
        out = []
        for t0, _, status, path, err, _ in self.results:
            if since is not None and (t0 < since or t0 >= until):
                continue
            if err is None and 200 <= status < 300:
                continue
            if err is None and status == 503 and every_host_refused(entries, path):
                continue
            out.append("%s %s" % (status, path + (" (%s)" % err if err else "")))
        return out


# ---------------------------------------------------------------- drills


def rss_kb(pid):
    return imgtest.proc_status_kb(pid, "VmRSS")


@suite.test("burst: 50 MP requests spread over the fleet within each budget")
def burst():
    pids = {h: host_pid(h) for h in HOSTS}
    idle = {h: rss_kb(pids[h]) for h in HOSTS}
    wait_ms = int(host_env("IMGFCGI_ADMISSION_WAIT_MS"))
    results, lock = [], threading.Lock()

    def one(i):
        # Distinct URLs (no cache sharing); a 503 every host gave is retried as a client would.
        path = "/insecure/rot:90/rs:fit:%d:%d/cb:burst-%d/plain/local:///big.png@jpg" % (
            300 + i, 300 + i, i)
        t0, tries = time.monotonic(), 0
        while True:
            tries += 1
            r = imgtest.http_get(FRONT, path, timeout=60, keep_errors=True)
            if r.status == 503 and tries < 4:
                time.sleep(float(r.headers.get("retry-after", "1")))
                continue
            break
        with lock:
            results.append((path, r, tries, time.monotonic() - t0))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = access_entries()
    refused = [float(t) for p, *_ in results for _, _, us, urt in entries.get(p, [])
               for u, t in zip(us, urt) if u == "503" and t not in ("", "-")]
    retried = sum(1 for p, *_ in results for _, _, us, _ in entries.get(p, []) if len(us) > 1)
    again = sum(1 for *_, tries, _ in results if tries > 1)
    print("  burst: %d requests, %d tried a second host, %d retried by the client, max client "
          "time %.2fs; refused attempts answered 503 after %s s (IMGFCGI_ADMISSION_WAIT_MS=%d)"
          % (BURST, retried, again, max(r[3] for r in results),
             ", ".join("%.2f" % t for t in sorted(refused)) or "-", wait_ms), flush=True)
    bad = ["%s: %r" % (p, r) for p, r, _, _ in results if r.status != 200 or not r.complete]
    check(not bad, "burst failures: %s" % bad)
    for p, r, _, _ in results:
        imgtest.expect_image(r, "jpeg", 300 + int(p.split("burst-")[1].split("/")[0]),
                             300 + int(p.split("burst-")[1].split("/")[0]))
    for t in refused:
        check(t <= wait_ms / 1000.0 + 1.0, "a refusal took %.2fs (wait %d ms)" % (t, wait_ms))
    for h, b in zip(HOSTS, BUDGETS):
        check(host_pid(h) == pids[h], "host %s restarted during the burst" % h)
        peak = imgtest.proc_status_kb(pids[h], "VmHWM")
        bound = (budget_bytes(b) // 1024 + idle[h]) * 1.1
        print("  burst: host %s peak RSS %d MB (idle %d MB, budget %s, bound %d MB)"
              % (h, peak // 1024, idle[h] // 1024, b, bound // 1024), flush=True)
        check(peak <= bound, "host %s peak RSS %d kB over %d kB" % (h, peak, bound))


@suite.test("spread: 8 clients, 60 s, each host 25..42% of the uncached requests")
def spread():
    load = Load("spread", LOAD_SECONDS)
    load.start()
    load.join()
    entries = access_entries()
    counts = {h: 0 for h in HOSTS}
    for _, _, status, path, err, _ in load.results:
        if "/cb:" not in path or err or status != 200:
            continue
        for st, ua, _, _ in entries.get(path, []):
            h = ua[-1].split(":")[0]
            if st == 200 and h in counts:
                counts[h] += 1
    total = sum(counts.values())
    lat = sorted(e - s for s, e, *_ in load.results)
    figures["longest"] = lat[-1]
    fails = load.failures()
    print("  spread: %d requests (%.0f/s), %d uncached; %s; p50 %.3fs, p99 %.3fs, max %.3fs; "
          "%d failed" % (len(lat), len(lat) / LOAD_SECONDS, total,
                         ", ".join("%s %.1f%%" % (h, 100.0 * counts[h] / max(total, 1))
                                   for h in HOSTS),
                         lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1], len(fails)),
          flush=True)
    check(not fails, "failures: %s" % fails[:10])
    check(total > 100, "only %d uncached requests" % total)
    for h in HOSTS:
        share = counts[h] / total
        check(0.25 <= share <= 0.42, "host %s served %.1f%%" % (h, 100 * share))


def kill_drill(load, marks):
    """kill -9 of the first host; returns how long until it served again."""
    h = HOSTS[0]
    pid = host_pid(h)
    marks["kill"] = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    back = wait_serving(h, 10, old_pid=pid)
    marks["kill-end"] = time.monotonic() + 2
    return back


def rolling_drill(marks):
    """SIGTERM to each host in turn; runsv starts it again; the next one only once it serves."""
    marks["roll"] = time.monotonic()
    times = []
    for h in HOSTS:
        pid = host_pid(h)
        subprocess.run(["sv", "term", os.path.join(TMP, "sv", h)], check=True,
                       stdout=subprocess.DEVNULL)
        times.append(wait_serving(h, 30, old_pid=pid))
        if times[-1] is None:
            break
    marks["roll-end"] = time.monotonic() + 2
    return times


def stop_drill(marks, seconds):
    """SIGSTOP of the last host for `seconds`, then SIGCONT."""
    pid = host_pid(HOSTS[-1])
    marks["stop"] = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
    marks["stop-end"] = time.monotonic()


@suite.test("faults: kill -9, rolling restart, SIGSTOP under 8 clients for 60 s")
def faults():
    timeout = conf_seconds("fastcgi_read_timeout")
    longest = figures.get("longest", 1.0)
    load = Load("faults", LOAD_SECONDS)
    marks = {}
    load.start()
    time.sleep(5)
    back = kill_drill(load, marks)
    time.sleep(max(0.0, load.t0 + 12 - time.monotonic()))
    rolls = rolling_drill(marks)
    time.sleep(max(0.0, load.t0 + 35 - time.monotonic()))
    stop_drill(marks, 10)
    load.join()
    k = load.failures(marks["kill"], marks["kill-end"])
    r = load.failures(marks["roll"], marks["roll-end"])
    s = load.failures(marks["stop"], marks["stop-end"] + timeout)
    waits = [e - t0 for t0, e, *_ in load.results if e > marks["stop"] and t0 < marks["stop-end"]]
    bound = timeout + longest
    print("  faults: %d requests; kill -9 of %s: serving again after %s s, %d failed; rolling "
          "restart: each host back after %s s, %d failed; SIGSTOP of %s for 10 s: longest "
          "client wait %.2fs (bound %.0f + %.2f s), %d failed; %d failed in all"
          % (len(load.results), HOSTS[0], "%.2f" % back if back is not None else "never", len(k),
             ", ".join("%.2f" % t if t is not None else "never" for t in rolls), len(r),
             HOSTS[-1], max(waits or [0]), timeout, longest, len(s), len(load.failures())),
          flush=True)
    check(back is not None and back <= 2.0, "the killed host was not serving within 2 s")
    check(len(rolls) == len(HOSTS) and None not in rolls, "a host did not come back: %s" % rolls)
    check(not k, "failures around the kill: %s" % k[:10])
    check(not r, "failures during the rolling restart: %s" % r[:10])
    check(not s, "failures during the SIGSTOP: %s" % s[:10])
    check(max(waits or [0]) <= bound, "a client waited %.2fs during the SIGSTOP" % max(waits))
    fails = load.failures()
    cut_by = cut_by_fault(fails, (HOSTS[0], HOSTS[-1]))
    cut = cut_by[HOSTS[0]] + cut_by[HOSTS[-1]]
    print("  faults: %d answer(s) cut short mid-body by the kill or the stop" % len(cut),
          flush=True)
    others = [f for f in fails if f not in cut]
    check(not others, "failures: %s" % others[:10])
    # The hosts run with IMGFCGI_BUFFER_RESULT=true: an answer's headers leave
    # only with its whole body, so a host killed or stopped while encoding has
    # sent nothing and nginx moves the request to the next host. Only the
    # write itself (libfcgi sends 8 KB records, a system call each) can be
    # cut: at most one answer per fault, where a streaming host loses every
    # answer it is encoding.
    for h, fault in ((HOSTS[0], "kill"), (HOSTS[-1], "stop")):
        mine = cut_by[h]
        check(len(mine) <= 1, "%d answers cut mid-body by the %s of %s (the headers had left): "
              "%s" % (len(mine), fault, h, mine))


def cut_by_fault(fails, hosts):
    """For each of hosts (killed or stopped), the failures that are answers it was writing
    when the fault came: truncated bodies (IncompleteRead) that the front's error log
    shows ending "while reading upstream" from that host. nginx cannot move an answer
    whose headers already reached the client, so these are the fault's own cost."""
    with open(os.path.join(TMP, "front", "error.log"), errors="replace") as f:
        mid = [line for line in f if "while reading upstream," in line]
    out = {h: [] for h in hosts}
    for fail in fails:
        if "IncompleteRead" not in fail:
            continue
        path = fail.split(" ", 1)[1].split(" (", 1)[0]
        for h in hosts:
            if any('"GET %s ' % path in line and "fastcgi://%s:" % h in line for line in mid):
                out[h].append(fail)
                break
    return out


@suite.test("cache: 100 identical requests reach one host once; AVIF is not served WebP")
def cache_lock():
    path = "/insecure/rs:fit:300:300/cb:lock-%d/plain/local:///big.png" % os.getpid()
    results, lock = [], threading.Lock()

    def one():
        r = imgtest.http_get(FRONT, path, headers={"Accept": "image/webp,*/*"}, keep_errors=True)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [r for r in results if r.status != 200 or r.ctype() != "image/webp"]
    reached = host_log_count(path + " ")
    avif = imgtest.http_get(FRONT, path, headers={"Accept": "image/avif,image/webp,*/*"})
    again = imgtest.http_get(FRONT, path, headers={"Accept": "image/webp,*/*"})
    print("  cache: 100 identical requests: %d answered 200 WebP, %d reached a host; Accept "
          "avif: %s %s; WebP again: %s" % (100 - len(bad), reached, avif.ctype(),
                                           avif.headers.get("x-cache-status"),
                                           again.headers.get("x-cache-status")), flush=True)
    check(not bad, "bad answers: %s" % bad[:3])
    check(reached == 1, "%d requests reached a host" % reached)
    imgtest.expect_image(results[0], "webp", 300, 300)
    imgtest.expect_image(avif, "avif", 300, 300)
    check(host_log_count(path + " ") == 2, "the AVIF request did not reach a host")
    check(again.headers.get("x-cache-status") == "HIT", "the WebP was not cached")


# ---------------------------------------------------------------- a host that cuts answers short


CUT_BODY = 200000


class CutHost:
    """A FastCGI responder on CUT_HOST: the first request for a URI whose path starts
    with /cut/timeout sends the headers (Content-Length CUT_BODY, cacheable) and half
    the body, then stalls past the front's read timeout; /cut/reset sends the same
    half, then resets the connection. Later requests get the whole answer."""

    def __init__(self, stall):
        self.stall = stall
        self.seen = {}
        self.sock = socket.create_server(CUT_HOST)
        self.sock.settimeout(0.5)
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.connection, args=(conn,), daemon=True).start()

    def read_request(self, f):
        """The REQUEST_URI of the next request on the connection; None at its end."""
        params, uri = b"", None
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", head)
            content = f.read(clen + plen)[:clen]
            if rtype == imgtest.FCGI_PARAMS:
                params += content
            elif rtype == imgtest.FCGI_STDIN and not content:
                m = re.search(rb"REQUEST_URI([^\x00-\x1f]*?/cut/[!-~]*)", params)
                uri = m.group(1).decode() if m else "/"
                return uri

    def connection(self, conn):
        f = conn.makefile("rb")
        try:
            while True:
                uri = self.read_request(f)
                if uri is None:
                    return
                n = self.seen[uri] = self.seen.get(uri, 0) + 1
                head = ("Status: 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        "Cache-Control: max-age=3600\r\nContent-Length: %d\r\n\r\n" % CUT_BODY)
                body = (b"v%d" % n) * (CUT_BODY // 2)
                out = head.encode() + body
                if n == 1:
                    out = out[:len(head) + CUT_BODY // 2]
                for i in range(0, len(out), 32768):
                    conn.sendall(imgtest.fcgi_record(imgtest.FCGI_STDOUT, out[i:i + 32768]))
                if n == 1:
                    if "/cut/timeout" in uri:
                        time.sleep(self.stall)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                conn.sendall(imgtest.fcgi_record(imgtest.FCGI_STDOUT, b"")
                             + imgtest.fcgi_record(imgtest.FCGI_END_REQUEST, bytes(8)))
        except OSError:
            return
        finally:
            f.close()
            conn.close()


@suite.test("cut: an answer cut short mid-body is never cached")
def cut():
    timeout = conf_seconds("fastcgi_read_timeout")
    host = CutHost(timeout + 2)
    try:
        for kind in ("timeout", "reset"):
            path = "/cut/%s/%d" % (kind, os.getpid())
            first = imgtest.http_get(CUT_FRONT, path, timeout=timeout + 10, keep_errors=True)
            second = imgtest.http_get(CUT_FRONT, path, timeout=30, keep_errors=True)
            third = imgtest.http_get(CUT_FRONT, path, timeout=30, keep_errors=True)
            print("  cut (%s mid-body): first %s, %d of %d bytes after %.2fs; then %s %s "
                  "(%d bytes), then %s; the host saw %d requests"
                  % (kind, first.status, len(first.body), CUT_BODY, first.elapsed, second.status,
                     second.headers.get("x-cache-status"), len(second.body),
                     third.headers.get("x-cache-status"), host.seen.get(path, 0)), flush=True)
            check(not first.complete and len(first.body) < CUT_BODY,
                  "the first answer was not cut short: %r" % first)
            check(second.status == 200 and second.complete and second.body == b"v2" * (CUT_BODY // 2),
                  "the second answer is not the host's whole second one: %r" % second)
            check(second.headers.get("x-cache-status") == "MISS",
                  "the second answer came from the cache: %s" % second.headers)
            check(third.headers.get("x-cache-status") == "HIT" and third.body == second.body,
                  "the whole answer was not cached: %r" % third)
            check(host.seen.get(path) == 2, "the host saw %s requests" % host.seen.get(path))
    finally:
        host.close()


# ---------------------------------------------------------------- the origin down


@suite.test("origin: down for 5 s; cached images served, new ones fail fast, then recover")
def origin():
    conf = os.environ["FLEET_ORIGIN_CONF"]
    cached = "/insecure/rs:fit:150:150/plain/http://127.0.0.1:8081/photo.jpg"
    fresh = "/insecure/rs:fit:151:151/cb:origin-%d/plain/http://127.0.0.1:8081/photo.jpg" % os.getpid()
    warm = imgtest.http_get(FRONT, cached)
    check(warm.status == 200, "warm-up: %r" % warm)
    os.kill(int(os.environ["FLEET_ORIGIN_PID"]), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", 8081), timeout=0.2).close()
            time.sleep(0.1)
        except OSError:
            break
    down_at = time.monotonic()
    during_cached = imgtest.http_get(FRONT, cached, keep_errors=True)
    during_fresh = imgtest.http_get(FRONT, fresh, keep_errors=True)
    time.sleep(max(0.0, down_at + 5 - time.monotonic()))
    odir = os.path.dirname(conf)
    proc = subprocess.Popen(["nginx", "-p", odir, "-e", os.path.join(TMP, "origin-error.log"),
                             "-c", conf, "-g", "daemon off;"])
    try:
        up = False
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", 8081), timeout=0.2).close()
                up = True
                break
            except OSError:
                time.sleep(0.1)
        after = imgtest.http_get(FRONT, fresh, keep_errors=True)
        tried = [len(ua) for st, ua, _, _ in access_entries().get(fresh, [])]
        print("  origin: down: cached URL %s %s; new URL %s after %.2fs on %s host(s); back up: "
              "new URL %s %s" % (during_cached.status, during_cached.headers.get("x-cache-status"),
                                 during_fresh.status, during_fresh.elapsed,
                                 tried[0] if tried else "?", after.status,
                                 after.headers.get("x-cache-status")), flush=True)
        check(up, "the origin did not come back")
        check(during_cached.status == 200 and during_cached.headers.get("x-cache-status") == "HIT",
              "the cached image was not served while the origin was down: %r" % during_cached)
        check(during_fresh.status is not None and not 200 <= during_fresh.status < 300
              and during_fresh.status != 503 and during_fresh.elapsed < 3.0,
              "a new image while the origin was down: %r" % during_fresh)
        check(tried and tried[0] == 1, "the origin's failure was tried on %s hosts" % tried)
        check(after.status == 200, "after the origin came back: %r" % after)
        check(imgtest.image_info(after.body).get("width") == "151", "not a 151 px image")
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    sys.exit(suite.main(sys.argv[1:], os.environ.get("FLEET_RESULT")))
