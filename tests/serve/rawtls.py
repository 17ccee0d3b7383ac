#!/usr/bin/python3
"""rawtls.py PORT CASE — a hostile client of `secureai serve` (the server
must answer 4xx or close, and keep serving). It skips certificate checks on
purpose: it plays the attacker, not a user. Prints the status it got, or
"closed". Cases: oversized (Content-Length beyond the limit), malformed
(not HTTP), slow (half a head, then silence past the head deadline),
notype (a body of the wrong media type)."""
import socket, ssl, sys, time

port, case = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20))
if case == "oversized":
    s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-secureai-u8\r\n"
              b"Content-Length: 999999999\r\n\r\n")
elif case == "malformed":
    s.sendall(b"GARBAGE\x01\r\n\r\n")
elif case == "slow":
    s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n")
    time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 2.0)
elif case == "notype":
    s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nabcd")
try:
    data = s.recv(4096)
except (ssl.SSLError, OSError):
    data = b""
if data.startswith(b"HTTP/1.1 "):
    print(data[9:12].decode())
else:
    print("closed")
