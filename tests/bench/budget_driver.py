#!/usr/bin/env python3
"""budget_driver.py: the client side of tests/bench/budget (see that script).

Modes:
  --list-classes   print the workload class names
  --mode calibrate one class, requests one at a time; reads the estimate and
                   the measured peak of each from imgfcgi's debug log
  --mode idle      the thumbnail stream alone
  --mode load      heavy clients + the thumbnail stream, RSS sampled
  --mode report    the Markdown report from the JSON files in --dir
"""
import argparse
import glob
import http.client
import json
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402

MB = 1024 * 1024

# name: (options, source, extension)
CLASSES = {
    "png50-thumb": ("rs:fit:300:300", "src50.png", "jpg"),
    "png50-avif": ("rs:fit:2048:2048", "src50.png", "avif"),
    "png50-smart": ("c:6000:4000:sm/rs:fill:600:400", "src50.png", "jpg"),
    "jpeg50-webp": ("rs:fit:2048:2048", "src50.jpg", "webp"),
    "jpeg50-smart": ("c:6000:4000:sm/rs:fill:600:400", "src50.jpg", "jpg"),
    "jpeg50-rot-avif": ("rot:90/rs:fit:1600:1600", "src50.jpg", "avif"),
    "thumb": ("rs:fill:160:160", "thumbsrc.jpg", "jpg"),
    # Turned after scaling: only the scaled image is copied (calibrated, not in the mixed load).
    "png50-rot-avif": ("rot:90/rs:fit:2000:2000", "src50.png", "avif"),
    "png50-rot-webp": ("rot:90/rs:fit:2000:2000", "src50.png", "webp"),
    "png50-rot-jpeg": ("rot:90/rs:fit:2000:2000", "src50.png", "jpg"),
    # Their unrotated twin: the same scaling streamed straight into a streaming saver.
    "png50-fit-jpeg": ("rs:fit:2000:2000", "src50.png", "jpg"),
}
CALIBRATE_ONLY = {"png50-rot-avif", "png50-rot-webp", "png50-rot-jpeg", "png50-fit-jpeg"}
HEAVY = [c for c in CLASSES if c != "thumb" and c not in CALIBRATE_ONLY]
HEAVY_CLIENTS = int(os.environ.get("BENCH_HEAVY", "6"))
THUMB_CLIENTS = 16 - HEAVY_CLIENTS
THUMB_INTERVAL = 0.5  # each thumbnail client: 2 requests a second
CALIBRATE_REQUESTS = 4
CALIBRATE_PAUSE = 2.5  # > jemalloc dirty_decay_ms (1 s) + one release interval (1 s)


def url(origin, cls):
    opts, src, ext = CLASSES[cls]
    return f"/unsafe/{opts}/plain/{origin}/{src}@{ext}"


def get(front, path, conn=None, timeout=120):
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(front.hostname, front.port, timeout=timeout)
    t = time.monotonic()
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        code = r.status
    except (OSError, http.client.HTTPException):
        conn.close()
        code, body = 0, b""
    dt = time.monotonic() - t
    if own:
        conn.close()
    return code, len(body), dt


def metrics(front):
    c = http.client.HTTPConnection(front.hostname, front.port, timeout=10)
    try:
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return {}
    finally:
        c.close()
    out = {}
    for line in text.splitlines():
        if line.startswith(("imgfcgi_memory_", "imgfcgi_cpu_gate_", "imgfcgi_responses_total")):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def calibrate(a, front):
    est_re = re.compile(r"memory: estimate=(\d+) measured=(\d+) rss=(\d+) vips=(\d+) ratio=([\d.]+)")
    parts_re = re.compile(r"memory: (\d+x\d+ \S+ -> \d+x\d+ \S+ .*)$")
    path = url(a.origin, a.cls)
    rows = []
    pos = 0
    for i in range(CALIBRATE_REQUESTS):
        time.sleep(CALIBRATE_PAUSE)
        before = imgtest.rss_bytes(a.pid)
        code, n, dt = get(front, path)
        time.sleep(0.3)
        with open(a.log, errors="replace") as f:
            f.seek(pos)
            text = f.read()
            pos = f.tell()
        m = est_re.findall(text)
        p = parts_re.findall(text)
        row = {"status": code, "bytes": n, "seconds": dt, "rss_before": before}
        if m:
            e, meas, r, v, ratio = m[-1]
            row.update(estimate=int(e), measured=int(meas), rss=int(r), vips=int(v),
                       ratio=float(ratio))
        if p:
            row["parts"] = p[-1]
        rows.append(row)
        print(f"  {a.cls} #{i}: {code} {dt:.2f}s est={row.get('estimate', 0) / MB:.1f}M "
              f"measured={row.get('measured', 0) / MB:.1f}M (rss {row.get('rss', 0) / MB:.1f}M, "
              f"vips {row.get('vips', 0) / MB:.1f}M) ratio={row.get('ratio', float('nan')):.2f}",
              flush=True)
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    res = {"class": a.cls, "url": path, "rows": rows,
           "median_ratio": statistics.median(ratios) if ratios else None}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


def stream(a, front, seconds, heavy_clients):
    """The load: heavy clients looping, thumbnail clients paced; RSS every 20 ms."""
    stop = threading.Event()
    lock = threading.Lock()
    samples = []
    thumbs = []  # (latency, status)
    heavy = {}  # class -> [statuses]
    t0 = time.monotonic()
    end = t0 + seconds

    def sampler():
        while not stop.is_set():
            try:
                samples.append((time.monotonic() - t0, imgtest.rss_bytes(a.pid)))
            except OSError:
                break
            time.sleep(0.02)

    def heavy_client(k):
        conn = http.client.HTTPConnection(front.hostname, front.port, timeout=120)
        i = k
        while time.monotonic() < end:
            cls = HEAVY[i % len(HEAVY)]
            i += 1
            code, n, dt = get(front, url(a.origin, cls), conn)
            if code == 0:
                conn = http.client.HTTPConnection(front.hostname, front.port, timeout=120)
            with lock:
                heavy.setdefault(cls, []).append((code, dt))
        conn.close()

    def thumb_client(k):
        conn = http.client.HTTPConnection(front.hostname, front.port, timeout=120)
        nxt = time.monotonic() + THUMB_INTERVAL * k / THUMB_CLIENTS
        path = url(a.origin, "thumb")
        while True:
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            if time.monotonic() >= end:
                break
            code, n, dt = get(front, path, conn)
            if code == 0:
                conn = http.client.HTTPConnection(front.hostname, front.port, timeout=120)
            with lock:
                thumbs.append((dt, code))
            nxt += THUMB_INTERVAL
        conn.close()

    idle_rss = imgtest.rss_bytes(a.pid)
    threads = [threading.Thread(target=sampler, daemon=True)]
    threads += [threading.Thread(target=heavy_client, args=(k,)) for k in range(heavy_clients)]
    threads += [threading.Thread(target=thumb_client, args=(k,)) for k in range(THUMB_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    load_end = time.monotonic() - t0
    stop.set()
    threads[0].join()
    with open(f"/proc/{a.pid}/status") as f:
        hwm = [int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:")][0]
    lat = [d for d, c in thumbs if c == 200]
    res = {
        "seconds": load_end,
        "idle_rss": idle_rss,
        "peak_rss_sampled": max(r for _, r in samples),
        "vm_hwm": hwm,
        "thumbs": len(thumbs),
        "thumb_statuses": {str(c): sum(1 for _, x in thumbs if x == c) for c in set(x for _, x in thumbs)},
        "thumb_p50": pct(lat, 50),
        "thumb_p99": pct(lat, 99),
        "heavy": {cls: {"n": len(v), "statuses": {str(c): sum(1 for x, _ in v if x == c)
                                                   for c in set(x for x, _ in v)},
                        "median_s": statistics.median([d for _, d in v])}
                  for cls, v in heavy.items()},
        "metrics": metrics(front),
    }
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--list-classes", action="store_true")
    ap.add_argument("--mode")
    ap.add_argument("--front")
    ap.add_argument("--origin")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--class", dest="cls")
    ap.add_argument("--log")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--out")
    ap.add_argument("--dir")
    ap.add_argument("--budget", default="256M")
    a = ap.parse_args()
    if a.list_classes:
        print(" ".join(CLASSES))
        return
    if a.mode == "report":
        report(a)
        return
    front = urllib.parse.urlsplit(a.front)
    if a.mode == "calibrate":
        calibrate(a, front)
        return
    if a.mode == "idle":
        res = stream(a, front, 15, 0)
    else:
        res = stream(a, front, a.seconds, HEAVY_CLIENTS)
    print(f"  idle rss {res['idle_rss'] / MB:.1f}M peak {res['peak_rss_sampled'] / MB:.1f}M "
          f"(VmHWM {res['vm_hwm'] / MB:.1f}M) thumbs {res['thumbs']} "
          f"p50 {res['thumb_p50'] * 1000:.0f}ms p99 {res['thumb_p99'] * 1000:.0f}ms "
          f"{res['thumb_statuses']}", flush=True)
    for cls, h in sorted(res["heavy"].items()):
        print(f"    {cls}: {h['n']} {h['statuses']} median {h['median_s']:.2f}s", flush=True)
    m = res["metrics"]
    for k in ("imgfcgi_memory_budget_admitted_total", "imgfcgi_memory_budget_waited_total",
              "imgfcgi_memory_budget_rejected_total", "imgfcgi_memory_budget_timed_out_total"):
        if k in m:
            print(f"    {k} {m[k]:.0f}", flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


def parse_size(s):
    mul = {"k": 1024, "m": MB, "g": 1024 * MB}.get(s[-1].lower(), 1)
    return int(s[:-1] if mul > 1 else s) * mul


def handler_p99(logfile):
    """p99 of the thumbnails' time inside imgfcgi's handler (its access log line): the
    client's latency minus this is the wait for a processing slot and the web server."""
    tot = []
    try:
        with open(logfile, errors="replace") as f:
            for line in f:
                if "thumbsrc.jpg" in line:
                    m = re.search(r" total=(\d+)ms", line)
                    if m:
                        tot.append(int(m.group(1)) / 1000.0)
    except OSError:
        pass
    return pct(tot, 99)


def report(a):
    d = a.dir
    budget = parse_size(a.budget)
    print("### Calibration: estimate / measured peak, one request at a time\n")
    print("| class | requests | estimate MB | measured MB (RSS / libvips) | median ratio |")
    print("|---|---|---|---|---|")
    ok_cal = True
    for f in sorted(glob.glob(os.path.join(d, "calibrate-*.json"))):
        r = json.load(open(f))
        rows = [x for x in r["rows"] if "ratio" in x]
        if not rows:
            print(f"| {r['class']} | 0 | - | - | - |")
            ok_cal = False
            continue
        est = statistics.median([x["estimate"] for x in rows]) / MB
        meas = statistics.median([x["measured"] for x in rows]) / MB
        rs = statistics.median([x["rss"] for x in rows]) / MB
        vp = statistics.median([x["vips"] for x in rows]) / MB
        mr = r["median_ratio"]
        ok_cal = ok_cal and 1.0 <= mr <= 1.5
        print(f"| {r['class']} | {len(rows)} | {est:.1f} | {meas:.1f} ({rs:.1f} / {vp:.1f}) | "
              f"{mr:.2f} |")
    idle = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "idle-*.json")))]
    load = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(d, "budget-*.json")))]
    nob = os.path.join(d, "nobudget.json")
    nob = json.load(open(nob)) if os.path.exists(nob) else None
    print(f"\n### Mixed load (16 clients: {HEAVY_CLIENTS} heavy, {THUMB_CLIENTS} thumbnail at "
          f"{1 / THUMB_INTERVAL:g} req/s each; {os.environ.get('BENCH_WORKERS', '8')} workers, "
          "jemalloc)\n")
    print("| run | idle RSS MB | peak RSS MB (sampled / VmHWM) | thumb p50 ms | thumb p99 ms "
          "| thumb p99 in handler ms | heavy done | admitted / waited / 422 / 503 |")
    print("|---|---|---|---|---|---|---|---|")

    def line(name, r, log):
        m = r["metrics"]
        adm = "/".join(f"{m.get('imgfcgi_memory_budget_' + k + '_total', 0):.0f}"
                       for k in ("admitted", "waited", "rejected", "timed_out"))
        hd = sum(h["n"] for h in r["heavy"].values())
        print(f"| {name} | {r['idle_rss'] / MB:.1f} | {r['peak_rss_sampled'] / MB:.1f} / "
              f"{r['vm_hwm'] / MB:.1f} | {r['thumb_p50'] * 1000:.0f} | "
              f"{r['thumb_p99'] * 1000:.0f} | {handler_p99(log) * 1000:.0f} | {hd} | {adm} |")

    for i, r in enumerate(idle):
        line(f"idle {i + 1} (thumbnails only)", r, os.path.join(d, f"idle-{i + 1}.log"))
    for i, r in enumerate(load):
        line(f"budget {a.budget} {i + 1}", r, os.path.join(d, f"budget-{i + 1}.log"))
    if nob:
        line("no budget", nob, os.path.join(d, "nobudget.log"))
    print()
    if load and idle:
        idle_p99 = statistics.median([r["thumb_p99"] for r in idle])
        load_p99 = statistics.median([r["thumb_p99"] for r in load])
        peak = statistics.median([r["peak_rss_sampled"] for r in load])
        worst = max(r["peak_rss_sampled"] for r in load)
        idle_rss = statistics.median([r["idle_rss"] for r in load])
        limit = (budget + idle_rss) * 1.10
        print(f"- peak RSS with budget: median {peak / MB:.1f} MB, worst {worst / MB:.1f} MB; "
              f"limit (budget + idle {idle_rss / MB:.1f} MB) x 1.1 = {limit / MB:.1f} MB: "
              f"{'PASS' if worst < limit else 'FAIL'}")
        if nob:
            print(f"- peak RSS without budget: {nob['peak_rss_sampled'] / MB:.1f} MB "
                  f"({nob['peak_rss_sampled'] / limit:.1f}x the limit)")
        print(f"- thumbnail p99: idle median {idle_p99 * 1000:.0f} ms, under load with budget "
              f"median {load_p99 * 1000:.0f} ms = {load_p99 / idle_p99:.2f}x: "
              f"{'PASS' if load_p99 <= 2 * idle_p99 else 'FAIL'} (<= 2x)")
    print(f"- calibration medians within 1.0-1.5: {'PASS' if ok_cal else 'FAIL'}")


if __name__ == "__main__":
    main()
