#!/usr/bin/env python3
"""kube_api_stub.py LOG [CERT KEY] — a Kubernetes API server stub (stdlib only)
serving GET /api/v1/nodes with the API's chunking rules, for the extender's
node lister (test_extender_kube.sh).

* Bearer token: every request must carry "Authorization: Bearer <token>",
  else 401 with a v1 Status, as the API server answers an expired token.
* Pagination: ?limit=N, and the stub's page_size caps a page further (the
  API server may return fewer items than the limit). metadata.continue is
  an opaque token ("<generation>:<offset>", base64) until the last page.
* 410 Gone: while expire_continue > 0, a request carrying a continue token
  is answered 410 with reason Expired (the message etcd compaction gives),
  and expire_continue decrements.
* State: POST /_stub/state with a JSON object merged into the state
  (token, nodes, page_size, expire_continue); the generation bumps.
With CERT KEY it serves TLS. Prints the bound port on stdout, then one line
per request to LOG: "METHOD PATH STATUS".
"""
import base64, json, ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

log_path = sys.argv[1]
lock = threading.Lock()
state = {"token": "", "nodes": [], "page_size": 500, "expire_continue": 0, "generation": 1}
logf = open(log_path, "a", buffering=1)


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        logf.write("%s %s %d\n" % (self.command, self.path, code))

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        upd = json.loads(self.rfile.read(n) or b"{}")
        with lock:
            state.update(upd)
            state["generation"] += 1
        self.send(200, {"ok": True})

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        with lock:
            st = dict(state)     # POST replaces values, never mutates them
            if u.path == "/api/v1/nodes" and "continue" in q and st["expire_continue"] > 0:
                state["expire_continue"] -= 1
                expire = True
            else:
                expire = False
        if self.headers.get("Authorization") != "Bearer " + st["token"]:
            return self.send(401, status(401, "Unauthorized", "Unauthorized"))
        if u.path != "/api/v1/nodes":
            return self.send(404, status(404, "NotFound", "the server could not find the requested resource"))
        if expire:
            return self.send(410, status(410, "Expired", "The provided continue parameter is too old to "
                                         "display a consistent list result. You can start a new list "
                                         "without the continue parameter."))
        limit = int(q.get("limit", ["0"])[0]) or len(st["nodes"]) or 1
        size = min(limit, st["page_size"])
        off = 0
        if "continue" in q:
            off = int(base64.b64decode(q["continue"][0])[3:].split(b":")[1])
        items = st["nodes"][off:off + size]
        md = {"resourceVersion": str(st["generation"])}
        if off + size < len(st["nodes"]):
            # opaque, starting "++++" (parse_qs reads a raw "+" as a space): the client must URL-encode it
            raw = b"\xfb\xef\xbe%d:%d" % (st["generation"], off + size)
            md["continue"] = base64.b64encode(raw).decode()
            md["remainingItemCount"] = len(st["nodes"]) - off - size
        self.send(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": md, "items": items})


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
