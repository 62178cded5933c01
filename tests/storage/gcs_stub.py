#!/usr/bin/env python3
"""gcs_stub.py PORT DIR PUBKEY [TOKEN_LIFETIME]: a Google Cloud Storage stand-in on 127.0.0.1.

No GCS emulator runs offline, so the gs:// tests talk to this one. It serves
the objects under DIR (DIR/BUCKET/OBJECT) with the three routes imgfcgi uses:

  POST /token                    the JWT bearer grant: the RS256 assertion is
                                 verified against PUBKEY (a PEM public key, with
                                 `openssl dgst`), its claims checked (aud is this
                                 route, scope, iat/exp); issues a random token
                                 valid TOKEN_LIFETIME s (default 3600)
  GET /storage/v1/b/B/o/O[?generation=N]
                                 the JSON API's object resource (etag, updated,
                                 size, contentType, generation = the file's
                                 mtime in ns); O is one path segment (%2F for /)
  GET /B/O[?generation=N]        the object's bytes (XML API media route)

Both object routes want "Authorization: Bearer <token>": a missing, unknown or
expired token gets 401, a missing object 404. Test helpers: GET /_stats (JSON
counters: token_requests, token_refusals, meta_requests, media_requests,
media_bytes: bytes of each object written before the client stopped reading)
and POST /_expire (every token issued so far becomes unknown).
"""
import base64
import hashlib
import http.server
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PORT = int(sys.argv[1])
DIR = sys.argv[2]
PUBKEY = sys.argv[3]
LIFETIME = int(sys.argv[4]) if len(sys.argv) > 4 else 3600
TOKEN_URI = "http://127.0.0.1:%d/token" % PORT
SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"

lock = threading.Lock()
tokens = {}  # token -> expiry (time.time())
stats = {"token_requests": 0, "token_refusals": 0, "meta_requests": 0, "media_requests": 0,
         "media_bytes": {}, "unauthorized": 0}


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_jwt(jwt):
    """None when jwt is a valid assertion for this stub, else why not."""
    parts = jwt.split(".")
    if len(parts) != 3:
        return "not three parts"
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except ValueError as e:
        return "undecodable: %s" % e
    if header.get("alg") != "RS256" or header.get("typ") != "JWT":
        return "header %r" % header
    now = time.time()
    if claims.get("aud") != TOKEN_URI:
        return "aud %r" % claims.get("aud")
    if claims.get("scope") != SCOPE:
        return "scope %r" % claims.get("scope")
    if not claims.get("iss"):
        return "no iss"
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or iat > now + 60 or exp < now \
            or exp - iat > 3600:
        return "iat/exp %r/%r" % (iat, exp)
    with tempfile.NamedTemporaryFile() as f:
        f.write(sig)
        f.flush()
        p = subprocess.run(["openssl", "dgst", "-sha256", "-verify", PUBKEY, "-signature", f.name],
                           input=(parts[0] + "." + parts[1]).encode(), capture_output=True,
                           timeout=10)
    if p.returncode != 0:
        return "bad signature"
    return None


def object_path(bucket, name):
    """The file of bucket/name under DIR, or None when it would leave DIR."""
    if not bucket or not name or "/" in bucket or bucket in (".", ".."):
        return None
    path = os.path.realpath(os.path.join(DIR, bucket, name))
    if not path.startswith(os.path.realpath(DIR) + os.sep):
        return None
    return path


def metadata(bucket, name, path):
    st = os.stat(path)
    with open(path, "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    updated = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(st.st_mtime)) + ".000Z"
    return {"kind": "storage#object", "bucket": bucket, "name": name, "size": str(st.st_size),
            "etag": "CJ" + md5[:22], "updated": updated, "contentType": "application/octet-stream",
            "generation": str(st.st_mtime_ns)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("gcs_stub: %s\n" % (fmt % args))

    def reply(self, status, body, ctype="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        tok = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        with lock:
            ok = tok is not None and tokens.get(tok, 0) > time.time()
            if not ok:
                stats["unauthorized"] += 1
        if not ok:
            self.reply(401, {"error": {"code": 401, "message": "Invalid Credentials"}})
        return ok

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("ascii", "replace")
        if self.path == "/_expire":
            with lock:
                tokens.clear()
            return self.reply(200, {"ok": True})
        if self.path != "/token":
            return self.reply(404, {"error": "no such route"})
        form = urllib.parse.parse_qs(body)
        with lock:
            stats["token_requests"] += 1
        why = None
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            why = "grant_type %r" % form.get("grant_type")
        elif len(form.get("assertion", [])) != 1:
            why = "no assertion"
        else:
            why = verify_jwt(form["assertion"][0])
        if why is not None:
            with lock:
                stats["token_refusals"] += 1
            return self.reply(400, {"error": "invalid_grant", "error_description": why})
        tok = "ya29.stub-" + secrets.token_urlsafe(24)
        with lock:
            tokens[tok] = time.time() + LIFETIME
        self.reply(200, {"access_token": tok, "expires_in": LIFETIME, "token_type": "Bearer"})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_stats":
            with lock:
                return self.reply(200, stats)
        if url.path.startswith("/storage/v1/b/"):
            parts = url.path[len("/storage/v1/b/"):].split("/")
            if len(parts) != 3 or parts[1] != "o":
                return self.reply(404, {"error": "no such route"})
            with lock:
                stats["meta_requests"] += 1
            if not self.authorized():
                return
            bucket, name = urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[2])
            path = object_path(bucket, name)
            q = urllib.parse.parse_qs(url.query)
            if path is None or not os.path.isfile(path) or (
                    "generation" in q and q["generation"] != [metadata(bucket, name, path)["generation"]]):
                return self.reply(404, {"error": {"code": 404, "message": "No such object"}})
            return self.reply(200, metadata(bucket, name, path))
        bucket, _, name = url.path.lstrip("/").partition("/")
        bucket, name = urllib.parse.unquote(bucket), urllib.parse.unquote(name)
        with lock:
            stats["media_requests"] += 1
        if not self.authorized():
            return
        path = object_path(bucket, name)
        q = urllib.parse.parse_qs(url.query)
        if path is None or not os.path.isfile(path) or (
                "generation" in q and q["generation"] != [metadata(bucket, name, path)["generation"]]):
            return self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        sent = 0
        key = bucket + "/" + name
        try:
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        with lock:
            stats["media_bytes"][key] = sent


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


if __name__ == "__main__":
    Server(("127.0.0.1", PORT), Handler).serve_forever()
