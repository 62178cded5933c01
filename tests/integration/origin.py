#!/usr/bin/env python3
"""origin.py: a loopback origin whose validators and statuses the URL's query chooses.

Started by run.sh next to the nginx origin, for the HTTP-semantics tests:
  python3 origin.py PORT ROOT LOG

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
Every request is appended to LOG as one JSON line: path, If-None-Match,
If-Modified-Since, Cookie.
"""
import email.utils
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

PORT = int(sys.argv[1])
ROOT = sys.argv[2]
LOG = sys.argv[3]
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
log_lock = threading.Lock()


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

    def do_GET(self):  # noqa: N802 - http.server's naming
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with log_lock, open(LOG, "a") as f:
            f.write(json.dumps({
                "path": self.path,
                "inm": self.headers.get("If-None-Match"),
                "ims": self.headers.get("If-Modified-Since"),
                "cookie": self.headers.get("Cookie"),
            }) + "\n")
        name = os.path.basename(u.path)
        try:
            with open(os.path.join(ROOT, name), "rb") as f:
                body = f.read()
        except OSError:
            self.finish_with(404, [("Content-Type", "text/plain")], b"not found\n")
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
    Server(("127.0.0.1", PORT), Handler).serve_forever()
