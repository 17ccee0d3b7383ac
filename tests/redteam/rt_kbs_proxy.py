#!/usr/bin/python3
"""rt_kbs_proxy.py — the network attacker of test_rt_4_kbs_downgrade.sh.

  rt_kbs_proxy.py PORTFILE CAPTURE GENUINE_URL [EVIL_URL]

Listens on plain HTTP on loopback (the URL the malicious host hands the
enclave), writes its port to PORTFILE and every request line and body to
CAPTURE (a passive observer). Requests are forwarded to the genuine KBS
(https, certificate not checked: the attacker is not the one being
protected). With EVIL_URL the proxy is active: the first attestation flow
(the dataset key) goes to the genuine KBS so the run gets going, every
later one (the model key) to the attacker's own KBS, which holds the
attacker's model key under the same resource name.
"""
import http.client, http.server, ssl, sys, threading, urllib.parse

portfile, capture, genuine = sys.argv[1], sys.argv[2], sys.argv[3]
evil = sys.argv[4] if len(sys.argv) > 4 else None
lock = threading.Lock()
state = {"auths": 0}


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        with lock:
            if self.path == "/kbs/v0/auth":
                state["auths"] += 1
            target = evil if (evil and state["auths"] > 1) else genuine
            with open(capture, "ab") as f:
                f.write(b"%s %s\n" % (self.command.encode(), self.path.encode()))
                if body:
                    f.write(body + b"\n")
        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type", "accept")}
        c = conn_for(target)
        try:
            c.request(self.command, self.path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            status = r.status
        except Exception as e:  # the KBS refused or vanished: tell the enclave
            data, status = (b'{"error":"proxy: %s"}' % str(e).encode()), 502
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = relay


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
