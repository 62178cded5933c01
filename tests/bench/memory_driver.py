#!/usr/bin/env python3
"""memory_driver.py: one mode of the memory benchmark; started by tests/bench/memory.

Sends a mixed load of corpus images through the front nginx (a fixed number
of requests, or a fixed duration for the steady runs), then idles, sampling
the imgfcgi process's RSS from /proc/PID/statm every 250 ms the whole time.
Writes one JSON file: the samples, the load's marks, the figures of the
table and the final /metrics text.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402

# Options that make a typical mixed load: thumbnails and crops, several output formats.
VARIANTS = [
    ("rs:fit:300:300", "jpg"),
    ("rs:fill:200:200/g:sm", "webp"),
    ("rs:fit:800:600", "jpg"),
    ("rs:fit:150:150", "png"),
]


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--front", required=True)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--files", required=True, help="comma-separated corpus file names")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=0, help="seconds of load instead of a count")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--interval", type=float, default=2, help="IMGPROXY_FREE_MEMORY_INTERVAL")
    ap.add_argument("--idle", type=float, default=0, help="seconds idle after the load")
    ap.add_argument("--metrics", default="/metrics")
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def summary(a, samples, pool_samples, load_end, total):
    """The figures of the table from the RSS samples (seconds, bytes, requests done)."""

    def rss_at_requests(k):
        for t, r, d in samples:
            if d >= k:
                return r
        return samples[-1][1]

    def rss_at_time(tt):
        best = samples[-1]
        for s in samples:
            if s[0] >= tt:
                best = s
                break
        return best[1]

    during = [r for t, r, d in samples if t <= load_end]
    end_of_load = rss_at_time(load_end)
    mid = rss_at_requests(total // 2)
    return {
        "load_seconds": load_end,
        "warm": rss_at_requests(max(1, total // 10)),
        "peak": max(r for _, r, _ in samples),
        "peak_load": max(during) if during else 0,
        "mid": mid,
        "end_of_load": end_of_load,
        "after_idle": rss_at_time(load_end + 3 * a.interval),
        "final": samples[-1][1],
        "growth_second_half": (end_of_load - mid) / mid if mid else 0,
        "samples": samples,
        "pool_samples": pool_samples,
        # Largest idle buffer seen above the calibrated max (0 = never).
        "pool_oversize_seen": sum(
            1 for _, largest, mx, over in pool_samples if over > 0 or (mx > 0 and largest > mx)
        ),
        "pool_largest_seen": max((p[1] for p in pool_samples), default=0),
    }


def main():
    a = parse_args()
    files = a.files.split(",")
    urls = []
    for i in range(len(files) * len(VARIANTS)):
        f = files[i % len(files)]
        opts, ext = VARIANTS[(i // len(files)) % len(VARIANTS)]
        urls.append(f"/unsafe/{opts}/plain/{a.origin}/{f}@{ext}")
    front = urllib.parse.urlsplit(a.front)

    samples = []  # (seconds since start, rss bytes, requests done)
    done = [0]
    statuses = {}
    lock = threading.Lock()
    stop = threading.Event()
    t0 = time.monotonic()

    def sampler():
        while not stop.is_set():
            try:
                samples.append((time.monotonic() - t0, imgtest.rss_bytes(a.pid), done[0]))
            except OSError:
                break
            stop.wait(0.25)

    def metrics_text():
        """imgfcgi's /metrics text, or None when it did not answer."""
        r = imgtest.http_get(a.front, a.metrics, 10, keep_errors=True)
        return None if r.error else r.body.decode()

    # The pool under load: every 2 s, its largest idle buffer against its max size.
    pool_samples = []  # (seconds, largest idle buffer, max size, oversize idle buffers)

    def pool_sampler():
        def val(text, name):
            return int(imgtest.metric_value(text, name) or 0)

        while not stop.wait(2.0):
            text = metrics_text()
            if text is None:
                continue
            pool_samples.append((
                time.monotonic() - t0,
                val(text, "imgfcgi_buffer_pool_largest_buffer_bytes"),
                val(text, "imgfcgi_buffer_pool_max_size_bytes"),
                val(text, "imgfcgi_buffer_pool_oversize_buffers"),
            ))

    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    pt = threading.Thread(target=pool_sampler, daemon=True)
    pt.start()

    deadline = t0 + a.duration if a.duration > 0 else None
    counter = iter(range(10**9))

    def worker():
        conn = http.client.HTTPConnection(front.hostname, front.port, timeout=120)
        while True:
            with lock:
                n = next(counter)
            if deadline is None and n >= a.requests:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            path = urls[n % len(urls)]
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                code = r.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(front.hostname, front.port, timeout=120)
                code = 0
            with lock:
                done[0] += 1
                statuses[code] = statuses.get(code, 0) + 1
        conn.close()

    with concurrent.futures.ThreadPoolExecutor(a.concurrency) as ex:
        for fut in [ex.submit(worker) for _ in range(a.concurrency)]:
            fut.result()
    load_end = time.monotonic() - t0
    total = done[0]
    time.sleep(a.idle)
    stop.set()
    st.join()
    pt.join()

    metrics = metrics_text() or ""

    res = {"requests": total, "statuses": statuses}
    res.update(summary(a, samples, pool_samples, load_end, total))
    res["metrics"] = metrics
    with open(a.out, "w") as f:
        json.dump(res, f)
    mb = 1024 * 1024
    print(
        f"requests={total} statuses={statuses} load={load_end:.0f}s warm={res['warm']/mb:.0f}MB "
        f"peak={res['peak']/mb:.0f}MB end={res['end_of_load']/mb:.0f}MB idle3={res['after_idle']/mb:.0f}MB "
        f"growth2nd={100*res['growth_second_half']:+.1f}%"
    )


if __name__ == "__main__":
    main()
