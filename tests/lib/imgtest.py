"""imgtest.py: the helpers every python test of imgfcgi shares.

tests/integration, tests/hostile and tests/bench put this folder on sys.path
(one line at the top of each script) and import it. It reads no environment
variable but those its callers name, so each suite keeps its own settings.

- the runner: Suite (a registration decorator, a filter on test names, an
  optional thread pool), Tally (pass/fail counts, the "FAIL name: why" lines,
  the result file run.sh adds up and the "NAME: N passed, N failed" line);
- checks: Failure, check(), expect_image(), expect_error(), image_info();
- HTTP: http_get() on a fresh connection, Response;
- URL builders: plain(), b64(), b64path(), sign();
- generated sources and decoded results: write_image(), read_pnm(), pdf_doc();
- FastCGI spoken directly: fcgi_exchange();
- the process under test: instance_env(), pid_alive(), proc_status_kb(), rss_bytes(),
  start_time(), closed_port(), metric_value() of its /metrics text, storage_counter(),
  log_line() of one request in its log, expect_alive().
"""
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import os
import re
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse

# ---------------------------------------------------------------- checks


class Failure(Exception):
    """A test's assertion failed; the message says what was wanted and what came."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def outcome(fn, *args):
    """Runs fn(*args); returns None when it passed, else the text of its failure. A crash
    (any exception) is a failure of that test only, named by its type."""
    try:
        fn(*args)
    except Failure as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - a crash in one test must not stop the rest
        return "%s: %s" % (type(e).__name__, e)
    return None


# ---------------------------------------------------------------- runner


class Tally:
    """Counts results and prints them as every suite does: "FAIL name: why" per failure
    (and "ok   name" when verbose), then the summary line."""

    def __init__(self, verbose=None):
        self.passed = self.failed = 0
        self.verbose = bool(os.environ.get("IT_VERBOSE")) if verbose is None else verbose

    def record(self, name, err, note=None):
        """err: None for a pass, else why it failed. note: said after an ok line."""
        if err is None:
            self.passed += 1
            if self.verbose:
                print("ok   %s%s" % (name, ": " + note if note else ""), flush=True)
        else:
            self.failed += 1
            print("FAIL %s: %s" % (name, err), flush=True)

    def finish(self, result_path=None, label=None):
        """Writes "PASSED FAILED" to result_path (run.sh adds these files up into its
        integration-HOST line) and prints the summary; returns the exit status. A labelled
        line is indented: it is a part of run.sh's total, not a total of its own."""
        if result_path:
            with open(result_path, "w") as f:
                f.write("%d %d\n" % (self.passed, self.failed))
        if label:
            print("  %s: %d passed, %d failed" % (label, self.passed, self.failed))
        else:
            print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


class Suite:
    """Tests registered by name with @suite.test(name), run in that order."""

    def __init__(self):
        self.tests = []

    def test(self, name):
        def register(fn):
            self.tests.append((name, fn))
            return fn

        return register

    def main(self, only, result_path=None, label=None, workers=1):
        """Runs the tests whose name contains one of the strings in only (all when it is
        empty), workers at a time (results are still reported in order)."""
        todo = [(n, fn) for n, fn in self.tests if not only or any(o in n for o in only)]
        tally = Tally()
        if workers > 1:
            with concurrent.futures.ThreadPoolExecutor(workers) as ex:
                errs = ex.map(lambda t: outcome(t[1]), todo)
                for (name, _), err in zip(todo, errs):
                    tally.record(name, err)
        else:
            for name, fn in todo:
                tally.record(name, outcome(fn))
        return tally.finish(result_path, label)


# ---------------------------------------------------------------- HTTP


class Response:
    def __init__(self, status, headers, body, elapsed=0.0, complete=True, error=None):
        self.status = status
        self.headers = headers  # names in lower case
        self.body = body
        self.elapsed = elapsed
        self.complete = complete
        self.error = error

    def ctype(self):
        return self.headers.get("content-type", "")

    def text(self):
        return self.body.decode(errors="replace").strip()

    def __repr__(self):
        if self.error:
            return "no answer after %.2fs: %s" % (self.elapsed, self.error)
        return "%s %s %r (%.2fs)" % (self.status, self.ctype(), self.body[:120], self.elapsed)


def http_get(base, path, timeout=60, method="GET", headers=None, keep_errors=False):
    """One request for the raw target path (no re-escaping) on a fresh connection to base
    (http://HOST:PORT), the body read to its end. A transport error raises, or with
    keep_errors comes back as a Response with status None and error set; an answer cut
    short (Content-Length not reached, no last chunk) then has complete=False."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        got = {k.lower(): v for k, v in r.getheaders()}
        try:
            body, complete = r.read(), True
        except http.client.IncompleteRead as e:
            if not keep_errors:
                raise
            body, complete = e.partial, False
        return Response(r.status, got, body, time.monotonic() - t0, complete)
    except (OSError, http.client.HTTPException) as e:
        if not keep_errors:
            raise
        return Response(None, {}, b"", time.monotonic() - t0, False, "%s: %s" % (type(e).__name__, e))
    finally:
        conn.close()


# ---------------------------------------------------------------- URLs


def plain(opts, src, ext=None, sig="insecure", safe=None):
    """/SIG[/OPTS]/plain/SRC[@EXT]. With safe, SRC is %-escaped but for those
    characters (the web server would cut the request's own query at a bare "?")."""
    if safe is not None:
        src = urllib.parse.quote(src, safe=safe)
    return "/%s%s/plain/%s%s" % (sig, "/" + opts if opts else "", src, "@" + ext if ext else "")


def b64(s):
    """base64url without padding, of a str or of bytes."""
    return base64.urlsafe_b64encode(s.encode() if isinstance(s, str) else s).rstrip(b"=").decode()


def b64path(opts, src, ext=None, sig="insecure", split=None):
    """/SIG[/OPTS]/BASE64(SRC)[.EXT]; split cuts the encoded source into parts of that
    many characters joined by "/"."""
    enc = b64(src)
    if split:
        enc = "/".join(enc[i:i + split] for i in range(0, len(enc), split))
    return "/%s%s/%s%s" % (sig, "/" + opts if opts else "", enc, "." + ext if ext else "")


def sign(path, key, salt):
    """imgproxy's signature: base64url(HMAC-SHA256(key, salt + path)), no padding."""
    return b64(hmac.new(key, salt + path.encode(), hashlib.sha256).digest())


# ---------------------------------------------------------------- images

MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "heic": "image/heif",
    "jxl": "image/jxl",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
}
LOADER = {
    "jpeg": "jpegload",
    "png": "pngload",
    "webp": "webpload",
    "avif": "heifload",
    "heic": "heifload",
    "jxl": "jxlload",
    "gif": "gifload",
    "tiff": "tiffload",
    "pdf": "pdfload",
}


def run_on_body(body, cmd, *args, load_options=""):
    """Runs CMD FILE[LOAD_OPTIONS] ARGS (cmd a list, e.g. ["vips", "getpoint"]) with body
    in a temporary file; returns its standard output as text, or fails the test."""
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(body)
        f.flush()
        p = subprocess.run([*cmd, f.name + load_options, *map(str, args)], capture_output=True, timeout=60)
    check(p.returncode == 0, "%s cannot read the body: %s" % (" ".join(cmd), p.stderr.decode(errors="replace")[:200]))
    return p.stdout.decode(errors="replace")


def image_info(body, load_options=""):
    """Decodes body with vipsheader -a (load_options: e.g. "[n=-1]" for every frame);
    returns its fields as a dict of strings."""
    info = {}
    for line in run_on_body(body, ["vipsheader", "-a"], load_options=load_options).splitlines()[1:]:
        k, sep, v = line.partition(": ")
        if sep:
            info[k.strip()] = v.strip()
    return info


def expect_image(r, fmt, w, h, bands=None, pages=None, load_options=""):
    """r is a 200 image of format fmt and w x h pixels (with pages: h is one frame's
    height and there are that many frames), with that many bands if given. Returns the
    vipsheader fields (load_options as for image_info)."""
    check(r.status == 200, "want 200 %s %dx%d, got %r" % (fmt, w, h, r))
    check(r.ctype() == MIME[fmt], "want Content-Type %s, got %r" % (MIME[fmt], r.ctype()))
    info = image_info(r.body, load_options)
    check(info.get("vips-loader") == LOADER[fmt],
          "want a %s body, vipsheader says %s" % (fmt, info.get("vips-loader")))
    if fmt in ("avif", "heic"):
        want = "av1" if fmt == "avif" else "hevc"
        check(info.get("heif-compression") == want,
              "want %s compression, got %s" % (want, info.get("heif-compression")))
    height = info["height"] if pages is None else info.get("page-height", info["height"])
    got = (int(info["width"]), int(height))
    check(got == (w, h), "want %dx%d, got %dx%d" % (w, h, got[0], got[1]))
    if bands is not None:
        check(int(info["bands"]) == bands, "want %d bands, got %s" % (bands, info["bands"]))
    if pages is not None:
        n = int(info.get("n-pages", "1"))
        check(n == pages, "want %d frames, got %d" % (pages, n))
    return info


def expect_error(r, status, body=None):
    """r is a text/plain error of that status; body: its exact public message, or a
    tuple of the messages allowed."""
    check(r.status == status, "want %d, got %r" % (status, r))
    check(r.ctype().startswith("text/plain"), "want a text/plain error, got %r" % r.ctype())
    if body is not None:
        want = body if isinstance(body, tuple) else (body,)
        check(r.text() in want, "want the public message %s, got %r" % (" or ".join(map(repr, want)), r.text()))


# ---------------------------------------------------------------- generated images


def write_image(path, w, h, pixel, bands=3):
    """A w x h image whose pixel(x, y) is a tuple of `bands` bytes (1 grey, 3 RGB, 4 RGBA),
    written as a binary PAM and converted by `vips copy` to the format path's suffix names
    (save options in brackets allowed)."""
    rows = bytearray()
    for y in range(h):
        for x in range(w):
            rows.extend(pixel(x, y))
    tupl = {1: "GRAYSCALE", 3: "RGB", 4: "RGB_ALPHA"}[bands]
    head = "P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\nMAXVAL 255\nTUPLTYPE %s\nENDHDR\n" % (w, h, bands, tupl)
    with tempfile.NamedTemporaryFile(suffix=".pam", delete=False) as f:
        f.write(head.encode() + bytes(rows))
        tmp = f.name
    try:
        subprocess.run(["vips", "copy", tmp, path], check=True, capture_output=True, timeout=60)
    finally:
        os.unlink(tmp)


def read_pnm(data):
    """(magic, width, height, pixel bytes) of a binary PNM (P5/P6) such as `vips copy`
    writes: the header's magic, width, height and maxval, comments skipped, then one
    whitespace byte."""
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":  # a comment runs to the end of its line
            pos = data.index(b"\n", pos)
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    return fields[0], int(fields[1]), int(fields[2]), data[pos + 1:]


def pdf_doc(pages, extra_objs=None, count=None, catalog_extra=b"", xref_ok=True):
    """A PDF of pages [(MediaBox bytes, content stream bytes)], written byte by byte (pages
    with the same content share one stream); count: the /Count it claims; extra_objs:
    {number: body}; catalog_extra: more of the catalog's dictionary; xref_ok False writes
    every offset wrong."""
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>"}
    objs.update(extra_objs or {})
    first = max(max(objs), 2) + 1  # 2 is the page tree, written last
    kids = []
    shared = {}
    for box, content in pages:
        if content not in shared:
            shared[content] = first + len(shared)
    base = first + len(shared)
    for content, cid in shared.items():
        objs[cid] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)
    for i, (box, content) in enumerate(pages):
        pid = base + i
        kids.append(pid)
        objs[pid] = b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] /Contents %d 0 R >>" % (
            box, shared[content])
    objs[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids) if count is None else count)
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for k in sorted(objs):
        offsets[k] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (k, objs[k])
    xref, size = len(out), max(objs) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for k in range(1, size):
        out += b"%010d 00000 n \n" % (offsets.get(k, 0) if xref_ok else 7 + 13 * k)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, xref if xref_ok else 3)
    return bytes(out)


# ---------------------------------------------------------------- FastCGI

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6


def fcgi_record(rtype, content, rid=1):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def fcgi_params(params):
    out = b""
    for k, v in params.items():
        k, v = k.encode(), v.encode()
        for n in (len(k), len(v)):
            out += bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
        out += k + v
    return out


def fcgi_exchange(sock, uri, keep_conn=False, params=None):
    """One GET of uri as a FastCGI responder request on the connected socket sock (with
    FCGI_KEEP_CONN when keep_conn, as nginx's fastcgi_keep_conn sends it; params are
    added to the request's). Reads records up to FCGI_END_REQUEST; returns (status,
    body). The socket stays open."""
    p = {"REQUEST_METHOD": "GET", "REQUEST_URI": uri, "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1"}
    p.update(params or {})
    sock.sendall(fcgi_record(FCGI_BEGIN_REQUEST, struct.pack(">HB5x", 1, 1 if keep_conn else 0))
                 + fcgi_record(FCGI_PARAMS, fcgi_params(p)) + fcgi_record(FCGI_PARAMS, b"")
                 + fcgi_record(FCGI_STDIN, b""))
    out = buf = b""

    def more():
        d = sock.recv(65536)
        check(d, "imgfcgi closed the connection before the end of the request")
        return d

    while True:
        while len(buf) < 8:
            buf += more()
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
        while len(buf) < 8 + clen + plen:
            buf += more()
        content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
        if rtype == FCGI_STDOUT:
            out += content
        elif rtype == FCGI_END_REQUEST:
            break
    head, _, body = out.partition(b"\r\n\r\n")
    status = 200
    for line in head.decode(errors="replace").split("\r\n"):
        if line.lower().startswith("status:"):
            status = int(line.split()[1])
    return status, body


# ---------------------------------------------------------------- processes


def instance_env(prefix):
    """(front, log, pid) of an imgfcgi instance that run.sh describes in PREFIX_FRONT
    (http://HOST:PORT), PREFIX_LOG and PREFIX_PID; pid is None when not given."""
    pid = os.environ.get(prefix + "_PID")
    return os.environ[prefix + "_FRONT"], os.environ[prefix + "_LOG"], int(pid) if pid else None


def pid_alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def proc_status_kb(pid, field):
    """A kB figure of /proc/PID/status (VmRSS, VmHWM, VmSize); 0 when it has none."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_bytes(pid):
    """The process's resident set size in bytes."""
    return proc_status_kb(pid, "VmRSS") * 1024


def start_time(pid):
    """The process's start time in clock ticks since boot: a pid reused by another
    process has another."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rpartition(")")[2].split()[19])


def closed_port():
    """A loopback port nobody listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metric_value(text, name):
    """The value of the first sample of metric name (whatever its labels) in Prometheus
    text; None when there is none."""
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else None


def storage_counter(front, name, storage, timeout=60):
    """imgfcgi_storage_NAME_total{storage="STORAGE"} of the instance behind front (its
    /metrics), as an int; a failure when /metrics does not answer or has no such sample."""
    r = http_get(front, "/metrics", timeout)
    check(r.status == 200, "/metrics: %r" % r)
    m = re.search(r'^imgfcgi_storage_%s_total\{storage="%s"\} ([0-9]+)$' % (name, storage),
                  r.body.decode(), re.M)
    check(m is not None, "no imgfcgi_storage_%s_total for %s in /metrics" % (name, storage))
    return int(m.group(1))


def log_line(path, rid, wait=5.0):
    """The imgfcgi log line of request rid in the log file path ("" when none came within
    wait seconds: the line is written after the answer, so it is polled for briefly)."""
    deadline = time.monotonic() + wait
    while True:
        with open(path, errors="replace") as f:
            for line in f:
                if "id=%s " % rid in line or line.rstrip().endswith("id=" + rid):
                    return line
        if time.monotonic() > deadline:
            return ""
        time.sleep(0.05)


def expect_alive(front, pid, timeout=60, what="the instance"):
    """The instance behind front answers /health with 200 and its process pid is alive."""
    r = http_get(front, "/health", timeout)
    check(r.status == 200, "%s health: %r" % (front, r))
    check(pid_alive(pid), "%s is gone" % what)
