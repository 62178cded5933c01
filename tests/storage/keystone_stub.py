#!/usr/bin/env python3
"""keystone_stub.py PORT SWIFT_PORT LOG: a Keystone v3 (and v2.0) token endpoint for the storage tests.

No Keystone runs here, so this stub stands in for one in front of the test
Swift (tests/storage/swift.sh): POST /v3/auth/tokens (password method,
optional project scope) and POST /v2.0/tokens (passwordCredentials,
tenantName) check the JSON body (user test:tester, password testing, v3
user domain and project domain "Default", project/tenant "test" when
given), fetch a real tempauth token from the Swift proxy on SWIFT_PORT and
answer it in Keystone's shape: the token (v3 X-Subject-Token header, v2
access.token.id), an expiry an hour ahead, and a catalog whose object-store
endpoint is the proxy's storage URL. Wrong credentials get 401. Every
request is appended to LOG as one JSON line.
"""
import datetime
import http.server
import json
import sys
import urllib.request

PORT, SWIFT_PORT, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
USER, PASSWORD, PROJECT = "test:tester", "testing", "test"


def swift_token():
    """A tempauth token and the storage URL from the Swift proxy (v1 auth)."""
    req = urllib.request.Request("http://127.0.0.1:%d/auth/v1.0" % SWIFT_PORT,
                                 headers={"X-Auth-User": USER, "X-Auth-Key": PASSWORD})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.headers["X-Auth-Token"], r.headers["X-Storage-Url"]


def expiry():
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def v3_ok(body):
    auth = body.get("auth", {})
    ident = auth.get("identity", {})
    user = ident.get("password", {}).get("user", {})
    if ident.get("methods") != ["password"] or user.get("name") != USER:
        return False
    if user.get("password") != PASSWORD or user.get("domain", {}).get("name") != "Default":
        return False
    scope = auth.get("scope")
    if scope is not None:
        project = scope.get("project", {})
        return project.get("name") == PROJECT and project.get("domain", {}).get("name") == "Default"
    return True


def v2_ok(body):
    auth = body.get("auth", {})
    creds = auth.get("passwordCredentials", {})
    return (creds.get("username") == USER and creds.get("password") == PASSWORD
            and auth.get("tenantName", PROJECT) == PROJECT)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def answer(self, status, doc, headers=None):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            body = {}
        with open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        if self.path.rstrip("/") == "/v3/auth/tokens":
            if not v3_ok(body):
                return self.answer(401, {"error": {"code": 401, "title": "Unauthorized"}})
            token, url = swift_token()
            catalog = [{"type": "identity", "endpoints": [
                {"interface": "public", "url": "http://127.0.0.1:%d/v3" % PORT}]},
                {"type": "object-store", "endpoints": [
                    {"interface": "internal", "url": "http://127.0.0.1:1/nowhere"},
                    {"interface": "public", "url": url}]}]
            return self.answer(201, {"token": {"expires_at": expiry(), "catalog": catalog}},
                               {"X-Subject-Token": token})
        if self.path.rstrip("/") == "/v2.0/tokens":
            if not v2_ok(body):
                return self.answer(401, {"error": {"code": 401, "title": "Unauthorized"}})
            token, url = swift_token()
            return self.answer(200, {"access": {
                "token": {"id": token, "expires": expiry()},
                "serviceCatalog": [{"type": "object-store", "endpoints": [{"publicURL": url}]}]}})
        self.answer(404, {"error": {"code": 404}})

    def do_GET(self):
        self.answer(200, {"version": {"id": "v3.14"}})


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
