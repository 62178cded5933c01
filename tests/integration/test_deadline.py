#!/usr/bin/env python3
"""test_deadline.py: deadlines, the request queue and process safety; started by run.sh (nginx).

Instances (run.sh):
  IT_DL_FRONT  nginx -> imgfcgi-dl: IMGPROXY_WORKERS=1, IMGPROXY_TIMEOUT=1,
               IMGPROXY_REQUESTS_QUEUE_SIZE=1 (log IT_DL_LOG)
  IT_Q_FRONT   nginx -> imgfcgi-q: IMGPROXY_WORKERS=2, IMGPROXY_REQUESTS_QUEUE_SIZE=2,
               IMGPROXY_TIMEOUT=10 (log IT_Q_LOG)
and, started here for the tests that stop or starve a process, imgfcgi (IT_BIN)
on its own unix socket, spoken to in FastCGI directly.

Sources are generated here into IT_ROOT with vips: nothing from outside the tree.
Prints one line per failure and ends with "deadline: N passed, M failed".
Arguments: substrings of test names to run only those.
"""
import concurrent.futures
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402
from imgtest import check, pid_alive, plain  # noqa: E402

DL_FRONT, DL_LOG, DL_PID = imgtest.instance_env("IT_DL")
Q_FRONT, Q_LOG, Q_PID = imgtest.instance_env("IT_Q")
ROOT = os.environ["IT_ROOT"]
ORIGIN = os.environ["IT_ORIGIN"]
BIN = os.environ["IT_BIN"]
ASAN = os.environ.get("IT_ASAN") == "1"
# Sanitizer builds are slower: wider margins where a margin is not the point.
SLACK = 2.0 if ASAN else 1.0

SUITE = imgtest.Suite()
test = SUITE.test


def get(base, path, timeout=60):
    """GET base+path; returns (status, body, seconds)."""
    r = imgtest.http_get(base, path, timeout)
    return r.status, r.body, r.elapsed


def log_lines(path, start=0):
    with open(path, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace").splitlines()


def log_size(path):
    return os.path.getsize(path)


def wait_log(path, start, needle, seconds):
    """Waits until a log line after offset start contains needle; returns the matching lines."""
    end = time.monotonic() + seconds
    while True:
        hits = [l for l in log_lines(path, start) if needle in l]
        if hits or time.monotonic() > end:
            return hits
        time.sleep(0.05)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().split(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- fixtures


def make_fixtures():
    """12 MP and 40 MP sources that compress to almost nothing (the instances cap
    source files at 3 MB) but cost what their pixels cost to blur or encode; and
    JPEGs padded after their end marker, whose download through the origin's
    1 KB/s /slow/ route takes a known time."""
    big = os.path.join(ROOT, "dl-12mp.jpg")
    if not os.path.exists(big):
        subprocess.run(["vips", "black", big, "4000", "3000", "--bands", "3"], check=True)
    tiny = os.path.join(ROOT, "dl-tiny.jpg")
    if not os.path.exists(tiny):
        subprocess.run(["vips", "black", tiny, "8", "8", "--bands", "3"], check=True)
    with open(tiny, "rb") as f:
        tiny_bytes = f.read()
    for name, size in (("dl-drip2k.jpg", 2048), ("dl-drip8k.jpg", 8192)):
        with open(os.path.join(ROOT, name), "wb") as f:
            f.write(tiny_bytes + b"\0" * max(0, size - len(tiny_bytes)))
    for name in os.listdir(ROOT):
        if name.startswith("dl-"):
            os.chmod(os.path.join(ROOT, name), 0o644)


BLUR_12MP = plain("bl:60", "local:///dl-12mp.jpg", "png")
SMALL = plain("rs:fit:100:100", "local:///photo.jpg")


# ---------------------------------------------------------------- deadline


@test("deadline/processing-503-then-free")
def _():
    # A blur of 12 MP needs many seconds; IMGPROXY_TIMEOUT=1 stops it.
    start = log_size(DL_LOG)
    status, body, secs = get(DL_FRONT, BLUR_12MP)
    check(status == 503, "want 503, got %d %r" % (status, body[:100]))
    check(body == b"Timeout", "want imgproxy's body 'Timeout', got %r" % body[:100])
    check(0.9 <= secs <= 1.5 * SLACK, "503 after %.2f s, want about 1 s (at most %.1f)"
          % (secs, 1.5 * SLACK))
    lines = wait_log(DL_LOG, start, " 503 ", 2)
    check(len(lines) == 1 and "libvips work stopped" in lines[0],
          "want one 503 log line saying the libvips work stopped, got %r" % lines)
    # The one worker is free again at once: a small image comes back quickly.
    status, body, secs = get(DL_FRONT, SMALL)
    check(status == 200 and body[:3] == b"\xff\xd8\xff", "after the 503: %d %r" % (status, body[:40]))
    check(secs < 0.8 * SLACK, "after the 503 a small image took %.2f s" % secs)
    check(pid_alive(DL_PID), "imgfcgi-dl died")


@test("deadline/download-capped-by-request-deadline")
def _():
    # 8 KB at 1 KB/s: IMGPROXY_DOWNLOAD_TIMEOUT (2 s) would give 504 after 2 s;
    # the request deadline (1 s) comes first: 503 after 1 s.
    status, body, secs = get(DL_FRONT, plain("rs:fit:10:10", ORIGIN + "/slow/dl-drip8k.jpg"))
    check(status == 503, "want 503, got %d %r" % (status, body[:100]))
    check(0.9 <= secs <= 1.5 * SLACK, "503 after %.2f s, want about 1 s" % secs)


@test("queue/full-429-and-handoff")
def _():
    # One worker, a queue of one: A holds the worker (until its deadline), B
    # waits, C finds the queue full and gets 429 at once; B is served when A ends.
    start = log_size(DL_LOG)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    try:
        fa = pool.submit(get, DL_FRONT, BLUR_12MP)
        time.sleep(0.4)
        fb = pool.submit(get, DL_FRONT, SMALL)
        time.sleep(0.2)
        status, body, secs = get(DL_FRONT, SMALL)
        check(status == 429, "third request: want 429, got %d %r" % (status, body[:100]))
        check(body == b"Too many requests", "want imgproxy's body, got %r" % body[:100])
        check(secs < 0.3 * SLACK, "429 took %.2f s, want at once" % secs)
        sa, _, _ = fa.result(timeout=30)
        sb, bb, tb = fb.result(timeout=30)
    finally:
        pool.shutdown(wait=True)
    check(sa == 503, "the worker's holder: want 503, got %d" % sa)
    check(sb == 200 and bb[:3] == b"\xff\xd8\xff", "the queued request: want 200, got %d" % sb)
    lines = [l for l in log_lines(DL_LOG, start) if " 429 " in l]
    check(len(lines) == 1, "want one 429 log line, got %r" % lines)
    # /health is not an image request: it needs no slot, even now.
    status, _, _ = get(DL_FRONT, "/health")
    check(status == 200, "/health: %d" % status)


# ---------------------------------------------------------------- client gone


@test("disconnect/mid-stream-kills-libvips-work")
def _():
    # A 40 MP PNG streams for many seconds; the client reads 64 KB and hangs up.
    start = log_size(Q_LOG)
    path = plain("rs:fill:8000:5000:1", "local:///photo.jpg", "png")
    u = urllib.parse.urlsplit(Q_FRONT)
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    t0 = time.monotonic()
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        got = b""
        while len(got) < 65536:
            d = s.recv(65536)
            check(d, "the response ended after %d bytes" % len(got))
            got += d
        check(got.startswith(b"HTTP/1.1 200"), "want a 200 under way, got %r" % got[:40])
    finally:
        # RST rather than FIN: a client that is simply gone.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    lines = wait_log(Q_LOG, start, " 499 ", 10 * SLACK)
    waited = time.monotonic() - t0
    check(len(lines) == 1, "want one 499 log line, got %r" % lines)
    check("libvips work stopped" in lines[0], "the 499 line does not show the kill: %r" % lines[0])
    print("  disconnect: 499 logged %.2f s after the request: %s" % (waited, lines[0][-140:]))
    # Stopped early: the whole image would be far more than what went out.
    total = [w for w in lines[0].split() if w.startswith("total=")]
    check(total and float(total[0][6:-2]) < 8000 * SLACK, "the request ran %s" % total)
    status, body, _ = get(Q_FRONT, SMALL)
    check(status == 200 and body[:3] == b"\xff\xd8\xff", "next request: %d" % status)
    check(pid_alive(Q_PID), "imgfcgi-q died")


# ---------------------------------------------------------------- own instances


def fcgi_get(sock_path, uri, timeout=60):
    """One GET over a fresh FastCGI connection; returns (status, body)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        return imgtest.fcgi_exchange(s, uri)
    finally:
        s.close()


class Instance:
    """imgfcgi on its own unix socket, with a log; stopped on exit."""

    def __init__(self, name, **env):
        self.dir = tempfile.mkdtemp(prefix="imgfcgi-%s-" % name)
        self.sock = os.path.join(self.dir, "s.sock")
        self.log_path = os.path.join(self.dir, "log")
        e = {k: v for k, v in os.environ.items() if not k.startswith(("IMGPROXY_", "IMGFCGI_"))}
        e.update({"IMGFCGI_LISTEN": self.sock, "IMGPROXY_LOCAL_FILESYSTEM_ROOT": ROOT,
                  "IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES": "true"})
        e.update({k: str(v) for k, v in env.items()})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BIN], env=e, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(self.sock):
                break
            check(self.proc.poll() is None, "%s exited at start: %s" % (name, self.text()[-500:]))
            time.sleep(0.05)
        check(os.path.exists(self.sock), "%s: no socket after 10 s" % name)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.dir], check=False)


@test("sigterm/drains-in-flight-request")
def _():
    # A request whose download drips for ~2 s; SIGTERM 0.5 s into it. It completes,
    # and the process exits 0 once it has.
    inst = Instance("drain", IMGPROXY_WORKERS=1, IMGPROXY_TIMEOUT=20, IMGPROXY_DOWNLOAD_TIMEOUT=10,
                    IMGPROXY_GRACEFUL_STOP_TIMEOUT=8)
    try:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        t0 = time.monotonic()
        f = pool.submit(fcgi_get, inst.sock, plain("rs:fit:4:4", ORIGIN + "/slow/dl-drip2k.jpg"))
        time.sleep(0.5)
        inst.proc.send_signal(signal.SIGTERM)
        status, body = f.result(timeout=30)
        pool.shutdown()
        check(status == 200 and body[:3] == b"\xff\xd8\xff", "in-flight request: %d %r"
              % (status, body[:60]))
        rc = inst.proc.wait(timeout=10)
        secs = time.monotonic() - t0
        check(rc == 0, "exit status %d after SIGTERM" % rc)
        check(secs < 8, "took %.1f s to stop" % secs)
        check("stopping on SIGTERM: 1 requests in flight" in inst.text(),
              "no drain log line: %s" % inst.text()[-400:])
        print("  sigterm: in-flight request finished, exit 0 after %.1f s" % secs)
    finally:
        inst.stop()


@test("sigterm/graceful-stop-timeout-bounds-the-drain")
def _():
    # The request would take ~8 s; IMGPROXY_GRACEFUL_STOP_TIMEOUT=1: out 1 s after SIGTERM.
    inst = Instance("drain-bound", IMGPROXY_WORKERS=1, IMGPROXY_TIMEOUT=30,
                    IMGPROXY_DOWNLOAD_TIMEOUT=20, IMGPROXY_GRACEFUL_STOP_TIMEOUT=1)
    try:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        f = pool.submit(fcgi_get, inst.sock, plain("rs:fit:4:4", ORIGIN + "/slow/dl-drip8k.jpg"))
        time.sleep(0.5)
        t0 = time.monotonic()
        inst.proc.send_signal(signal.SIGTERM)
        rc = inst.proc.wait(timeout=10)
        secs = time.monotonic() - t0
        try:
            f.result(timeout=10)
        except Exception:  # noqa: BLE001 - the connection dies with the process: expected
            pass
        pool.shutdown()
        check(rc == 0, "exit status %d" % rc)
        check(0.9 <= secs <= 2.0 * SLACK, "exited %.2f s after SIGTERM, want about 1 s" % secs)
        check("still busy after 1 s" in inst.text(), "no log line: %s" % inst.text()[-400:])
        print("  sigterm: busy request cut off, exit 0 after %.2f s (GRACEFUL_STOP_TIMEOUT=1)"
              % secs)
    finally:
        inst.stop()


@test("emfile/accept-backs-off-and-recovers")
def _():
    # Out of descriptors: every accept() fails with EMFILE at once, again and
    # again. The threads must back off (no spin), log once, keep the
    # connection waiting in the backlog, and serve it once a descriptor is free.
    threads = 3
    inst = Instance("emfile", IMGPROXY_WORKERS=1, IMGFCGI_CONNECTIONS=threads)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pid = inst.proc.pid
        check(fcgi_get(inst.sock, "/health")[0] == 200, "health before")
        time.sleep(0.3)
        used = {int(fd) for fd in os.listdir("/proc/%d/fd" % pid)}
        limit = min(set(range(len(used) + 1)) - used)
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:" % limit],
                       check=True)
        # The threads wait in epoll_wait(), not accept(): no descriptor is
        # reserved, so the next connection finds none.
        waiting = pool.submit(fcgi_get, inst.sock, "/health", timeout=30)
        time.sleep(0.5)
        cpu0 = cpu_seconds(pid)
        time.sleep(2)
        cpu = cpu_seconds(pid) - cpu0
        text = inst.text()
        warns = [l for l in text.splitlines() if "accept failed: Too many open files" in l]
        check(len(warns) == 1, "want one EMFILE line for the burst, got %d: %s"
              % (len(warns), text[-600:]))
        check(cpu < 0.3 * SLACK, "%.2f s of CPU in 2 s of EMFILE: spinning" % cpu)
        check(not waiting.done(), "a request was answered while no descriptor was free")
        check(pid_alive(pid), "died on EMFILE")
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=1024:"], check=True)
        # The connection that waited through the burst is served, then new ones.
        check(waiting.result(timeout=10)[0] == 200, "the request that waited for a descriptor")
        status, _ = fcgi_get(inst.sock, "/health", timeout=10)
        check(status == 200, "health after the burst: %d" % status)
        status, body = fcgi_get(inst.sock, SMALL, timeout=30)
        check(status == 200 and body[:3] == b"\xff\xd8\xff", "an image after the burst: %d" % status)
        print("  emfile: 1 log line, %.3f s CPU over 2 s of failing accepts, the waiting "
              "connection served after, recovered" % cpu)
        inst.proc.send_signal(signal.SIGTERM)
        rc = inst.proc.wait(timeout=30)
        check(rc == 0, "exit status %d after SIGTERM" % rc)
    finally:
        pool.shutdown(wait=False)
        inst.stop()


class LyingOrigin:
    """An origin on 127.0.0.1 that announces a 1 TB body and sends 10 bytes."""

    def __init__(self):
        import threading
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                c.settimeout(5)
                c.recv(65536)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                          b"Content-Length: 1099511627776\r\n\r\n\xff\xd8\xff\xe0012345")
            except OSError:
                pass
            finally:
                c.close()

    def close(self):
        self.srv.close()


@test("alloc/request-sized-allocation-fails-softly")
def _():
    # No IMGPROXY_MAX_SRC_FILE_SIZE: the download buffer is sized from the
    # origin's Content-Length, 1 TB, which no allocator can give. An error
    # status for that request, then normal service: never an abort().
    origin = LyingOrigin()
    # ASan would abort on the huge allocation instead of returning NULL like malloc.
    inst = Instance("alloc", IMGPROXY_WORKERS=1, IMGPROXY_MAX_SRC_FILE_SIZE=0,
                    ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":allocator_may_return_null=1")
    try:
        status, body = fcgi_get(inst.sock, plain("rs:fit:10:10",
                                                 "http://127.0.0.1:%d/x.jpg" % origin.port))
        check(400 <= status < 600, "want an error status, got %d %r" % (status, body[:80]))
        check(inst.proc.poll() is None, "imgfcgi exited: %s" % inst.text()[-400:])
        status, body = fcgi_get(inst.sock, SMALL)
        check(status == 200 and body[:3] == b"\xff\xd8\xff", "next request: %d" % status)
        line = [l for l in inst.text().splitlines() if "/x.jpg" in l]
        print("  alloc: %s" % (line[-1][-160:] if line else "(no log line)"))
        check(len(line) == 1, "want one log line for the request, got %d" % len(line))
        inst.proc.send_signal(signal.SIGTERM)
        check(inst.proc.wait(timeout=30) == 0, "exit status after SIGTERM")
    finally:
        inst.stop()
        origin.close()


# ---------------------------------------------------------------- runner


def main():
    make_fixtures()
    return SUITE.main(sys.argv[1:], os.environ.get("IT_DL_RESULT"), "deadline")


if __name__ == "__main__":
    sys.exit(main())
