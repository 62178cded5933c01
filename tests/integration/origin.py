#!/usr/bin/env python3
"""origin.py: a loopback origin whose validators and statuses the URL's query chooses.

Started by run.sh next to the nginx origin, for the HTTP-semantics tests:
  python3 origin.py PORT ROOT LOG [BIND]
BIND is the address to listen on (default 127.0.0.1).

GET /<dir>/<file>?... serves ROOT/<file> (any first path element, so cookie
scopes can be tested by path). Query parameters:
  etag=V      send ETag: "V"; a matching If-None-Match gives 304
  lm=1        send Last-Modified (a fixed 2015 date); If-Modified-Since at or
              after it gives 304
  cc=V        send Cache-Control: V
  exp=N       send Expires: now + N seconds (RFC 1123, GMT)
  range=K     answer 206 with Content-Range: whole ("bytes 0-(n-1)/n"),
              star ("bytes 0-(n-1)/*"), part ("bytes 0-99/n", 100 bytes),
              mid ("bytes 10-(n-1)/n"), bad ("bytes=0-")
  status=304  answer 304 whatever the request says
  redirect=U  answer 302 (or code=N) with Location: U, whatever the path
  bomb=K      a header claiming 65535 x 65535 (K = png, jpeg, gif, webp)
              followed by zeros: 1 MB with a Content-Length, or with
              endless=1 no length and zeros until the client goes away (at
              most 30 s / 4 GB)
  tail=endless  the file, then zeros without a length until the client goes
              away (at most 30 s / 4 GB)
  slow=K      the file with its Content-Length at K KiB/s, logging the bytes sent
  cl=N        claim Content-Length: N, send 1 KB of the file, then hold the
              connection for hold=S seconds (default 5) and close it
Every request is appended to LOG as one JSON line: path, If-None-Match,
If-Modified-Since, Cookie. Bodies that stop early (bomb, cl) add a second
line {"path": ..., "sent": bytes written, "seconds": time spent}.

Hostile origins for tests/hostile (GET /hostile/...; not logged to LOG). Each
is bounded: a stream stops when the client goes away or after ?secs=N
(default 20, at most 60) seconds.
  /hostile/cl-long/<file>   Content-Length 4096 more than the file, the file,
                            then the connection closes (a truncated transfer)
  /hostile/cl-short/<file>  Content-Length half the file, then the whole file
                            (the rest is garbage after the response)
  /hostile/loop             302 to itself; /hostile/loop-a and -b: 302 to each other
  /hostile/to?url=U         302 to U (a redirect anywhere, blocked addresses too)
  /hostile/endless?rate=K   200 with no Content-Length: a JPEG start, then zero
                            bytes at K KiB/s (default 4096) that never end
  /hostile/huge?rate=K      200 with Content-Length 10 GiB, then zero bytes at
                            K KiB/s (default 4096)
  /hostile/canary/<token>   404, counting the hit; /hostile/hits/<token> answers
                            the count as text: did anything fetch the canary?
"""
import email.utils
import http.server
import json
import os
import struct
import sys
import threading
import time
import urllib.parse

PORT = int(sys.argv[1])
ROOT = sys.argv[2]
LOG = sys.argv[3]
BIND = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
log_lock = threading.Lock()
canary_hits = {}
HUGE_LENGTH = 10 * 1024 * 1024 * 1024


def bomb_header(kind):
    """The first bytes of a 65535 x 65535 image of the given kind (no pixel data)."""
    if kind == "png":
        return b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sIIBBBBB", 13, b"IHDR", 65535, 65535, 8, 2, 0, 0, 0) + b"\0\0\0\0"
    if kind == "jpeg":
        return b"\xff\xd8\xff\xc0" + struct.pack(">HBHHB", 17, 8, 65535, 65535, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    if kind == "gif":
        return b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0xf7, 0, 0)
    if kind == "webp":
        vp8x = struct.pack("<I", 0) + (65534).to_bytes(3, "little") + (65534).to_bytes(3, "little")
        return b"RIFF" + struct.pack("<I", 0x7fffffff) + b"WEBPVP8X" + struct.pack("<I", 10) + vp8x
    raise ValueError(kind)


def log_line(obj):
    with log_lock, open(LOG, "a") as f:
        f.write(json.dumps(obj) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # noqa: D102 - quiet: the JSON log is enough
        pass

    def finish_with(self, status, headers, body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304 and self.command != "HEAD":
            self.wfile.write(body)

    def root_file(self, path):
        """The bytes of the file of ROOT that path's last part names; None (after a 404
        answer) when there is none."""
        try:
            with open(os.path.join(ROOT, os.path.basename(path)), "rb") as f:
                return f.read()
        except OSError:
            self.finish_with(404, [("Content-Type", "text/plain")], b"not found\n")
            return None

    def begin(self, ctype, length=None, close=True):
        """Sends status 200 and the headers of a body written after them: Content-Length
        when length is given, Connection: close when close."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()

    def stream_zeros(self, q, first=b""):
        """Writes first, then zero bytes at ?rate KiB/s until the client goes or ?secs pass."""
        rate = max(1, min(int(q.get("rate", "4096")), 65536)) * 1024
        deadline = time.monotonic() + max(1, min(int(q.get("secs", "20")), 60))
        tick = 0.01
        chunk = bytes(max(1, int(rate * tick)))
        self.close_connection = True
        try:
            if first:
                self.wfile.write(first)
            while time.monotonic() < deadline:
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(tick)
        except OSError:
            pass  # the client went away: that is the point

    def hostile(self, u, q):
        parts = u.path.split("/")[2:]
        kind = parts[0] if parts else ""
        if kind in ("cl-long", "cl-short") and len(parts) == 2:
            body = self.root_file(parts[1])
            if body is None:
                return
            n = len(body) + 4096 if kind == "cl-long" else len(body) // 2
            self.close_connection = True
            self.begin("application/octet-stream", n)
            try:
                self.wfile.write(body)
                self.wfile.flush()
            except OSError:
                pass
        elif kind in ("loop", "loop-a", "loop-b", "to"):
            target = {"loop": "/hostile/loop", "loop-a": "/hostile/loop-b",
                      "loop-b": "/hostile/loop-a"}.get(kind) or q.get("url", "/")
            self.finish_with(302, [("Location", target), ("Content-Type", "text/plain")],
                             b"moved\n")
        elif kind == "endless":
            self.begin("image/jpeg")
            self.stream_zeros(q, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        elif kind == "huge":
            self.begin("image/jpeg", HUGE_LENGTH)
            self.stream_zeros(q, b"\xff\xd8\xff")
        elif kind in ("canary", "hits") and len(parts) == 2:
            with log_lock:
                if kind == "canary":
                    canary_hits[parts[1]] = canary_hits.get(parts[1], 0) + 1
                n = canary_hits.get(parts[1], 0)
            if kind == "canary":
                self.finish_with(404, [("Content-Type", "text/plain")], b"canary\n")
            else:
                self.finish_with(200, [("Content-Type", "text/plain")], b"%d\n" % n)
        else:
            self.finish_with(404, [("Content-Type", "text/plain")], b"no such hostile origin\n")

    def stream(self, first, total, hold):
        """Writes first, then zeros up to total bytes (None: no end), logging what went out."""
        t0 = time.monotonic()
        sent = 0
        chunk = b"\0" * 65536
        try:
            self.wfile.write(first)
            sent += len(first)
            while total is None or sent < total:
                if time.monotonic() - t0 > 30 or sent > 4 << 30:
                    break
                if hold:
                    time.sleep(0.05)
                    if time.monotonic() - t0 > hold:
                        break
                    continue
                n = len(chunk) if total is None else min(len(chunk), total - sent)
                self.wfile.write(chunk[:n])
                sent += n
        except OSError:
            pass
        self.close_connection = True
        log_line({"path": self.path, "sent": sent, "seconds": round(time.monotonic() - t0, 3)})

    def trickle(self, body, q):
        """Writes body at ?slow KiB/s in 10 ms steps until it is out or the client goes,
        logging the bytes written."""
        rate = max(1, min(int(q["slow"]), 65536)) * 1024
        step = max(1, rate // 100)
        t0 = time.monotonic()
        sent = 0
        self.close_connection = True
        try:
            while sent < len(body) and time.monotonic() - t0 < 30:
                n = min(step, len(body) - sent)
                self.wfile.write(body[sent:sent + n])
                self.wfile.flush()
                sent += n
                time.sleep(0.01)
        except OSError:
            pass
        log_line({"path": self.path, "sent": sent, "seconds": round(time.monotonic() - t0, 3)})

    def do_GET(self):  # noqa: N802 - http.server's naming
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path.startswith("/hostile/"):
            self.hostile(u, q)
            return
        log_line({
            "path": self.path,
            "inm": self.headers.get("If-None-Match"),
            "ims": self.headers.get("If-Modified-Since"),
            "cookie": self.headers.get("Cookie"),
        })
        if "redirect" in q:
            self.finish_with(int(q.get("code", "302")), [("Location", q["redirect"])])
            return
        if "bomb" in q:
            head = bomb_header(q["bomb"])
            endless = bool(q.get("endless"))
            length = None if endless else len(head) + (1 << 20)
            self.begin("application/octet-stream", length, close=endless)
            self.stream(head, length, 0)
            return
        body = self.root_file(u.path)
        if body is None:
            return
        if q.get("tail") == "endless":
            self.begin("application/octet-stream")
            self.stream(body, None, 0)
            return
        if "slow" in q:
            self.begin("application/octet-stream", len(body))
            self.trickle(body, q)
            return
        if "cl" in q:
            self.begin("application/octet-stream", q["cl"], close=False)
            self.stream(body[:1024], int(q["cl"]), float(q.get("hold", "5")))
            return
        headers = [("Content-Type", "application/octet-stream")]
        if "etag" in q:
            headers.append(("ETag", '"%s"' % q["etag"]))
        if q.get("lm"):
            headers.append(("Last-Modified", LAST_MODIFIED))
        if "cc" in q:
            headers.append(("Cache-Control", q["cc"]))
        if "exp" in q:
            headers.append(("Expires", email.utils.formatdate(time.time() + int(q["exp"]), usegmt=True)))
        if q.get("status") == "304":
            self.finish_with(304, headers)
            return
        inm = self.headers.get("If-None-Match")
        if "etag" in q and inm is not None and inm == '"%s"' % q["etag"]:
            self.finish_with(304, headers)
            return
        ims = self.headers.get("If-Modified-Since")
        if q.get("lm") and ims and inm is None:
            t = email.utils.parsedate_to_datetime(ims)
            if t >= email.utils.parsedate_to_datetime(LAST_MODIFIED):
                self.finish_with(304, headers)
                return
        kind = q.get("range")
        if kind:
            n = len(body)
            cr = {
                "whole": "bytes 0-%d/%d" % (n - 1, n),
                "star": "bytes 0-%d/*" % (n - 1),
                "part": "bytes 0-99/%d" % n,
                "mid": "bytes 10-%d/%d" % (n - 1, n),
                "bad": "bytes=0-",
            }[kind]
            if kind == "part":
                body = body[:100]
            elif kind == "mid":
                body = body[10:]
            self.finish_with(206, headers + [("Content-Range", cr)], body)
            return
        self.finish_with(200, headers, body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    Server((BIND, PORT), Handler).serve_forever()
