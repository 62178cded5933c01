#!/usr/bin/env python3
"""report.py: medians, ratios and acceptance checks of a tests/bench/throughput run.

Usage: report.py DIR   (DIR holds machine.txt, results.tsv, pairs.tsv, streaming.tsv)
Prints Markdown on stdout.
"""
import collections
import os
import statistics
import sys

CONFIGS = ["imgfcgi", "thumbnail", "local-c4", "http-c4", "local-c2", "ifilter"]
# The workloads whose output is JPEG, WebP or PNG: the 0.90 / 0.85 acceptance set.
RATIO_CHECKED = ["jpeg3-fill-jpeg", "jpeg12-fill-jpeg", "jpeg3-fit-jpeg", "jpeg3-fit-webp",
                 "png-fit-png"]
# A change that should not move throughput: after / before at least this.
AB_MIN = 0.97
IFILTER_MIN = {"jpeg3-fill-jpeg": 2.0, "jpeg12-fill-jpeg": 2.5}
# Where imgfcgi (local -c4) should be at least as fast as the IPX peer.
IPX_CHECKED = ["jpeg3-fill-jpeg", "jpeg12-fill-jpeg", "jpeg3-fit-jpeg", "jpeg3-fit-webp",
               "jpeg3-fit-avif"]


def med(values):
    return statistics.median(values) if values else None


def fmt(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def acceptance(m, order):
    """(passed: True, False or None for information only, text) of each acceptance check;
    m(workload, config, field) is the median of a measured field."""
    checks = []
    for n in RATIO_CHECKED:
        lim = m(n, "imgfcgi", 0)
        if lim is None:
            continue
        for c, need in (("local-c4", 0.90), ("http-c4", 0.85)):
            v = m(n, c, 0)
            if v is not None:
                checks.append((v / lim >= need, f"{n}: {c} / limit = {v / lim:.2f} (>= {need})"))
    for n, need in IFILTER_MIN.items():
        v, i = m(n, "local-c4", 0), m(n, "ifilter", 0)
        if v is not None and i:
            checks.append((v / i >= need, f"{n}: local-c4 / image_filter = {v / i:.2f} (>= {need})"))
    for n in order:
        p50, p99 = m(n, "local-c2", 1), m(n, "local-c2", 2)
        lp50, lp99 = m(n, "imgfcgi", 1), m(n, "imgfcgi", 2)
        if not p50:
            continue
        text = f"{n}: -c2 p99 / p50 = {p99 / p50:.2f} (<= 2)"
        if lp50:
            text += f"; the limit's own p99 / p50 = {lp99 / lp50:.2f}"
        if n.startswith("mixed"):
            # 5 ms SVG icons next to 250 ms HEIC photos: the spread is the mix's own.
            checks.append((None, text + " (a mix of 5 ms and 250 ms images: not checked)"))
        else:
            checks.append((p99 <= 2 * p50, text))
    return checks


def ab_rows(m, paired, names, checks, field, label, configs=("local-c4", "http-c4")):
    """One A/B table's rows for measured field FIELD (0 req/s, 4 CPU ms per request, where
    less is better and the ratios are turned over) of the two CONFIGS (local, http);
    appends its checks to CHECKS."""
    lo, hi = (c.replace("-c4", " -c4").replace("together-", "") for c in configs)
    head = f"| workload | {lo} | baseline | ratio | paired | {hi} | baseline | ratio | paired |"
    out = [head, "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    digits = 1 if field == 0 else 2
    for n in names:
        cells = []
        for c in configs:
            v, b, p = m(n, c, field), m(n, "base-" + c, field), paired(n, c, field)
            cells += [fmt(v, digits), fmt(b, digits)]
            r = (v / b if field == 0 else b / v) if v and b else None
            if p and field != 0:
                p = 1 / p
            cells += [fmt(r, 2), fmt(p, 2)]
            if p:
                checks.append((p >= AB_MIN, f"{n}: {c} {label} = {p:.2f} paired, "
                               f"{r:.2f} of medians (>= {AB_MIN})"))
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return out


def ab_table(m, paired, names, checks):
    """The A/B tables of a BENCH_BASELINE run; appends their checks to CHECKS.
    paired(workload, config, i) is the median over repeats of imgfcgi's field / the
    baseline's of the same repeat: the two points of a repeat run side by side, so a
    machine that drifts over the run moves both."""
    out = []
    apart = [n for n in names if m(n, "base-local-c4", 0)]
    if apart:
        out += ["imgfcgi against the baseline binary (BENCH_BASELINE), the same repeats, "
                "the two measured side by side; req/s medians, their ratio, and the "
                "paired ratio (the median of each repeat's imgfcgi / baseline, which the "
                "check uses):\n"]
        out += ab_rows(m, paired, apart, checks, 0, "/ baseline")
        out += ["", "The same points as CPU milliseconds of the server process per request "
                "(medians; ratio = baseline / imgfcgi, so below 1 is more CPU per request; "
                "paired as above). "
                "On a busy machine other processes lower req/s far more than they raise "
                "this figure:\n"]
        out += ab_rows(m, paired, apart, checks, 4, "baseline CPU / imgfcgi CPU per request")
    together = [n for n in names if m(n, "base-together-local", 0)]
    if together:
        tc = ("together-local", "together-http")
        out += ["", "Both servers loaded at the same time (BENCH_AB_TOGETHER), wrk -c2 each, so "
                "both see the same machine at every instant; req/s, then CPU ms per request:\n"]
        out += ab_rows(m, paired, together, checks, 0, "/ baseline (together)", tc)
        out += [""]
        out += ab_rows(m, paired, together, checks, 4,
                       "baseline CPU / imgfcgi CPU per request (together)", tc)
    out.append("")
    return out


def read_bytes(d):
    """Mean output bytes of each (workload, config) from bytes.tsv, {} without it."""
    got = collections.defaultdict(list)
    path = os.path.join(d, "bytes.tsv")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, config, size = line.rstrip("\n").split("\t")
                got[(name, config)].append(int(size))
    return {k: statistics.mean(v) for k, v in got.items()}


def peers_table(m, names, size, checks):
    """req/s and mean output bytes of imgfcgi, its other PNG levels, IPX and image_filter."""
    levels = sorted({c for n in names for c in size_configs(size, n) if c.startswith("z")})
    configs = ["local-c4"] + levels + ["ipx", "ifilter"]
    out = ["imgfcgi beside its peers, -c4, req/s medians and mean output bytes (`zN` = imgfcgi "
           "with IMGFCGI_PNG_COMPRESSION=N, the default being 6, `zNF` also with IMGFCGI_PNG_FILTER=F; "
           "`ipx` = IPX on sharp):\n",
           "| workload | " + " | ".join(f"{c} | bytes" for c in configs) + " | imgfcgi/ipx |",
           "|---|" + "--:|--:|" * len(configs) + "--:|"]
    for n in names:
        cells = []
        for c in configs:
            b = size.get((n, c))
            cells += [fmt(m(n, c, 0)), "–" if b is None else f"{b / 1024:.0f} KB"]
        v, i = m(n, "local-c4", 0), m(n, "ipx", 0)
        out.append(f"| {n} | " + " | ".join(cells) + f" | {fmt(v / i if v and i else None, 2)} |")
        if v and i and n in IPX_CHECKED:
            checks.append((v >= i, f"{n}: local-c4 / ipx = {v / i:.2f} (>= 1)"))
        if n.startswith("png-"):
            for c in levels:
                z = m(n, c, 0)
                for peer in ("ifilter", "ipx"):
                    p = m(n, peer, 0)
                    if z and p:
                        checks.append((z >= p, f"{n}: {c} / {peer} = {z / p:.2f} (>= 1), "
                                       f"{size.get((n, c), 0) / 1024:.0f} KB"))
    out.append("")
    return out


def size_configs(size, name):
    return [c for (n, c) in size if n == name]


def orientation_pairs(d):
    """(rotated, unrotated twin, least req/s ratio) from the run's pairs.tsv."""
    try:
        with open(os.path.join(d, "pairs.tsv")) as f:
            return [(t, w, float(need)) for t, w, need in
                    (line.rstrip("\n").split("\t") for line in f if line.strip())]
    except FileNotFoundError:
        return []


def orientation_table(pairs, m, by_rep, checks):
    """Each orientation workload against its unrotated twin, local -c4. Checked: the
    median of the ratios of adjacent points (the harness's pair points: turned, twin,
    twin, turned in each repeat), or where those were not run, of the ratios within
    each repeat of the workloads' own points (minutes apart). Shown beside: those
    within-repeat ratios, the ratio of the medians and of the server's CPU time per
    request."""
    def per_rep(a, b, config, i, invert=False, twin_config=None):
        got = []
        for (n, c, rep), r in by_rep.items():
            t = by_rep.get((b, twin_config or config, rep))
            if n == a and c == config and t and r[i] and t[i]:
                got.append(t[i] / r[i] if invert else r[i] / t[i])
        return got

    if not pairs:
        return []
    out = ["Orientation: each rotated workload / its unrotated twin, local -c4. adjacent: "
           "median of the ratios of points run next to each other (turned, twin, twin, "
           "turned in each repeat), req/s and CPU (twin's CPU time per request / the "
           "rotated one's); repeat: median of the ratios of the workloads' own points within "
           "each repeat; medians: ratio of the medians; limit: the in-process driver:\n",
           "| workload | twin | req/s adjacent | CPU adjacent | req/s repeat | req/s medians "
           "| CPU repeat | limit | baseline |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for rot, twin, need in pairs:
        adj, adj_cpu = [], []
        for k in (1, 2):
            adj += per_rep(rot, twin, f"pair{k}", 0, twin_config=f"pair{k}:{rot}")
            adj_cpu += per_rep(rot, twin, f"pair{k}", 4, True, twin_config=f"pair{k}:{rot}")
        rep = med(per_rep(rot, twin, "local-c4", 0))
        a, b = m(rot, "local-c4", 0), m(twin, "local-c4", 0)
        cpu = med(per_rep(rot, twin, "local-c4", 4, invert=True))
        lim = m(rot, "imgfcgi", 0), m(twin, "imgfcgi", 0)
        base = m(rot, "base-local-c4", 0), m(twin, "base-local-c4", 0)
        checked = med(adj) if adj else rep
        if checked is None:
            continue
        how = f"adjacent points, {len(adj)} pairs" if adj else "within repeats"
        checks.append((checked >= need, f"{rot}: req/s / {twin} = {checked:.2f} (>= {need}; "
                       f"{how}; ratio of medians {fmt(a / b if a and b else None, 2)})"))
        out.append(f"| {rot} | {twin} | {fmt(med(adj), 2)} | {fmt(med(adj_cpu), 2)} | "
                   f"{fmt(rep, 2)} | {fmt(a / b if a and b else None, 2)} | {fmt(cpu, 2)} | "
                   f"{fmt(lim[0] / lim[1] if all(lim) else None, 2)} | "
                   f"{fmt(base[0] / base[1] if all(base) else None, 2)} |")
    out.append("")
    return out


def main(d):
    rows = collections.defaultdict(lambda: collections.defaultdict(list))
    by_rep = {}
    order = []
    with open(os.path.join(d, "results.tsv")) as f:
        for line in f:
            # The CPU ms per request column is absent from the in-process
            # driver's rows and from older runs.
            rep, name, config, rps, p50, p99, rss, *cpu = line.rstrip("\n").split("\t")
            if name not in order:
                order.append(name)
            rows[name][config].append((float(rps), float(p50), float(p99), int(rss),
                                       float(cpu[0]) if cpu else None))
            by_rep[(name, config, rep)] = rows[name][config][-1]

    def m(name, config, i):
        # "imgfcgi" (the limit) also counts its second measurement of each repeat.
        got = rows[name].get(config, []) + (rows[name].get("limit-after", [])
                                            if config == "imgfcgi" else [])
        return med([r[i] for r in got if r[i] is not None])

    def paired(name, config, i):
        got = []
        for (n, c, rep), r in by_rep.items():
            b = by_rep.get((n, "base-" + c, rep))
            if n == name and c == config and b and r[i] and b[i]:
                got.append(r[i] / b[i])
        return med(got)

    out = []
    with open(os.path.join(d, "machine.txt")) as f:
        out.append("```\n" + f.read().rstrip() + "\n```\n")
    reps = max((len(v) for n in rows.values() for v in n.values()), default=0)
    out.append(f"Medians of {reps} runs. req/s; `limit` = imgfcgi's pipeline in process "
               "(tests/bench/limit, 2 threads; measured before and after imgfcgi's points "
               "in each run, the median of both); `thumbnail` = vips_thumbnail_buffer, same "
               "size and saver; `local`/`http` = wrk through nginx to imgfcgi "
               "(IMGPROXY_WORKERS=2) with a local:// or loopback-origin source, -cN = "
               "connections; `image_filter` = nginx + libgd, 2 workers, -c4.\n")
    out.append("| workload | limit | thumbnail | local -c4 | http -c4 | local -c2 | image_filter "
               "| local/limit | http/limit | local/image_filter |")
    out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for n in order:
        r = {c: m(n, c, 0) for c in CONFIGS}
        lim, loc, htp, ifl = r["imgfcgi"], r["local-c4"], r["http-c4"], r["ifilter"]
        out.append(f"| {n} | {fmt(lim)} | {fmt(r['thumbnail'])} | {fmt(loc)} | {fmt(htp)} | "
                   f"{fmt(r['local-c2'])} | {fmt(ifl)} | "
                   f"{fmt(loc / lim if lim and loc else None, 2)} | "
                   f"{fmt(htp / lim if lim and htp else None, 2)} | "
                   f"{fmt(loc / ifl if ifl and loc else None, 2)} |")
    out.append("")
    out.append("Latency p50 / p99 (ms) and peak RSS (MB: the limit driver's process, "
               "imgfcgi's process, or the sum of the image_filter nginx workers), medians:\n")
    out.append("| workload | limit | local -c4 | http -c4 | local -c2 (p99/p50) | image_filter "
               "| RSS limit | RSS imgfcgi -c4 | RSS image_filter |")
    out.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for n in order:
        def lat(c):
            p50, p99 = m(n, c, 1), m(n, c, 2)
            return "–" if p50 is None else f"{p50:.0f} / {p99:.0f}"

        c2p50, c2p99 = m(n, "local-c2", 1), m(n, "local-c2", 2)
        c2 = lat("local-c2") + (f" ({c2p99 / c2p50:.2f})" if c2p50 else "")

        def rss(c):
            v = m(n, c, 3)
            return "–" if v is None else f"{v / 1024:.0f}"

        out.append(f"| {n} | {lat('imgfcgi')} | {lat('local-c4')} | {lat('http-c4')} | {c2} | "
                   f"{lat('ifilter')} | {rss('imgfcgi')} | {rss('local-c4')} | {rss('ifilter')} |")
    out.append("")

    checks = []
    ab = [n for n in order if rows[n].get("base-local-c4") or rows[n].get("base-together-local")]
    if ab:
        out += ab_table(m, paired, ab, checks)
    out += orientation_table(orientation_pairs(d), m, by_rep, checks)
    peers = [n for n in order if any(c == "ipx" or c.startswith("z") for c in rows[n])]
    if peers:
        out += peers_table(m, peers, read_bytes(d), checks)
    checks += acceptance(m, order)
    out.append("Acceptance checks:\n")
    out.append("```")
    for ok, text in checks:
        out.append({True: "PASS ", False: "FAIL ", None: "INFO "}[ok] + text)
    out.append("```\n")

    op = os.path.join(d, "outputs.tsv")
    if os.path.exists(op):
        out.append("What each server returned (checked before timing):\n")
        out.append("| request | type | bytes | image |")
        out.append("|---|---|--:|---|")
        with open(op) as f:
            for line in f:
                p, ctype, size, info = line.rstrip("\n").split("\t")
                if "http://" in p or "/rs:fill:300:200/plain/" in p:  # one row per workload
                    continue
                out.append(f"| `{p}` | {ctype} | {size} | {info.split(' ')[0]} |")
        out.append("")

    sp = os.path.join(d, "streaming.tsv")
    if os.path.exists(sp) and os.path.getsize(sp) > 0:
        st = collections.defaultdict(list)
        with open(sp) as f:
            for line in f:
                buffering, p, ttfb, total, size = line.rstrip("\n").split("\t")
                st[(p, buffering)].append((float(ttfb), float(total), int(float(size))))
        out.append("Streaming: time to first body byte vs total (curl through nginx, "
                   "`fastcgi_buffering` off or on as in conf/nginx.conf), 12 MP progressive JPEG "
                   "source and the 3 MP baseline one, "
                   "medians of 5 requests, ms:\n")
        out.append("| request | buffering | first byte | total | first/total | bytes |")
        out.append("|---|---|--:|--:|--:|--:|")
        for (p, buffering), v in st.items():
            t, tot = med([x[0] for x in v]) * 1000, med([x[1] for x in v]) * 1000
            out.append(f"| `{p}` | {buffering} | {t:.0f} | {tot:.0f} | {t / tot:.2f} | "
                       f"{v[0][2]} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
