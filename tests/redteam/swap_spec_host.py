#!/usr/bin/python3
"""swap_spec_host.py SOCKET MEASURED_SPEC RUN_SPEC KBS_URL KBS_CA — red-team attack
5: a host of the attacker's own that asks the platform to launch the enclave
with one spec (the one the KBS policy admits) and then sends it another in
HELLO. Prints what the enclave answers; exit 0 when it accepted the other
spec (READY), 1 when it refused (ERROR)."""
import json, socket, struct, sys

sock, measured, other, kbs, ca = sys.argv[1:6]
plat = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
plat.connect(sock)
host, encl = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
# LAUNCH: magic "SVS1", type 3, status 0, then the spec; the channel end as SCM_RIGHTS
socket.send_fds(plat, [struct.pack("<III", 0x53565331, 3, 0) + open(measured, "rb").read()], [encl.fileno()])
rep = plat.recv(4096)
magic, typ, status = struct.unpack("<III", rep[:12])
if status != 0:
    print("platform refused the launch:", rep[12:].decode(errors="replace"))
    sys.exit(2)
encl.close()
hello = {"spec": open(other).read(), "kbs_url": kbs, "kbs_ca": open(ca).read(), "threads": 1}
msg = json.dumps(hello).encode()
host.send(struct.pack(">II", 1, len(msg)) + msg)            # HELLO
pkt = host.recv(1 << 20)
t, n = struct.unpack(">II", pkt[:8])
body = pkt[8:8 + n].decode(errors="replace")
print({2: "READY", 11: "ERROR"}.get(t, t), body)
sys.exit(0 if t == 2 else 1)
