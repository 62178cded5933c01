#!/usr/bin/env python3
"""memory_report.py: the table and the plot from tests/bench/memory's JSON files.

Usage: memory_report.py --out DIR [--interval S] MODE...
Prints a Markdown table (also written to DIR/table.md) and writes DIR/memory.png
(matplotlib if installed, else gnuplot, else no plot).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import imgtest  # noqa: E402

MB = 1024 * 1024


def window(samples, t_end, width):
    """RSS samples in (t_end - width, t_end]."""
    return [r for t, r, _ in samples if t_end - width < t <= t_end]


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0


def growth(r):
    """Growth over the second half of the load, two ways.

    RSS under load swings with the images being processed at the instant of
    a sample, so single samples are noise. Compared here: the median and the
    maximum of the RSS over the last 10% of the load against the same over
    the 10% of the load that ends at its middle.
    """
    T = r["load_seconds"]
    w = max(T * 0.1, 1.0)
    mid = window(r["samples"], T / 2, w)
    end = window(r["samples"], T, w)
    if not mid or not end:
        return 0.0, 0.0
    return median(end) / median(mid) - 1, max(end) / max(mid) - 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=2)
    ap.add_argument("modes", nargs="+")
    a = ap.parse_args()

    runs = {}
    for mode in a.modes:
        path = os.path.join(a.out, mode + ".json")
        if os.path.exists(path):
            with open(path) as f:
                runs[mode] = json.load(f)

    lines = [
        "| mode | requests | warm RSS | peak RSS | end of load | after 3 intervals | "
        "after vs warm | growth 2nd half (median / max) | pool hit rate | releases | allocator |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for mode, r in runs.items():
        m = r.get("metrics", "")
        hits = imgtest.metric_value(m, "imgfcgi_buffer_pool_calibrated_hits_total") or 0
        misses = imgtest.metric_value(m, "imgfcgi_buffer_pool_calibrated_misses_total") or 0
        rate = f"{100 * hits / (hits + misses):.1f}%" if hits + misses else "-"
        rel = imgtest.metric_value(m, "imgfcgi_memory_releases_total")
        alloc = re.search(r'imgfcgi_allocator_info\{allocator="([^"]+)"', m)
        g_med, g_max = growth(r)
        lines.append(
            f"| {mode} | {r['requests']} | {r['warm'] / MB:.0f} MB | {r['peak'] / MB:.0f} MB | "
            f"{r['end_of_load'] / MB:.0f} MB | {r['after_idle'] / MB:.0f} MB | "
            f"{100 * (r['after_idle'] / r['warm'] - 1):+.0f}% | "
            f"{100 * g_med:+.1f}% / {100 * g_max:+.1f}% | {rate} | "
            f"{int(rel) if rel is not None else '-'} | {alloc.group(1) if alloc else '-'} |"
        )
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n")

    png = os.path.join(a.out, "memory.png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(11, 6))
        for mode, r in runs.items():
            t = [s[0] for s in r["samples"]]
            v = [s[1] / MB for s in r["samples"]]
            ax.plot(t, v, label=mode, linewidth=1.2, linestyle="-" if mode.endswith("-on") else "--")
        ax.set_xlabel("seconds since the load started")
        ax.set_ylabel("imgfcgi RSS (MB)")
        ax.set_title("imgfcgi RSS, mixed corpus through nginx, 2 workers (dashed: release off)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        print(f"plot: {png}")
        return
    except ImportError:
        pass
    if shutil.which("gnuplot"):
        dat = []
        for mode, r in runs.items():
            p = os.path.join(a.out, mode + ".dat")
            with open(p, "w") as f:
                for s in r["samples"]:
                    f.write(f"{s[0]} {s[1] / MB}\n")
            dat.append(f"'{p}' with lines title '{mode}'")
        script = (
            f"set terminal png size 1100,600; set output '{png}'; "
            "set xlabel 'seconds'; set ylabel 'RSS (MB)'; plot " + ", ".join(dat)
        )
        subprocess.run(["gnuplot", "-e", script], check=True)
        print(f"plot: {png}")
    else:
        print("no matplotlib or gnuplot: no plot")


if __name__ == "__main__":
    main()
