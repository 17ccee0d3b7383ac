#!/usr/bin/env python3
"""trustee_client.py — a Trustee-shaped KBS client, written from Trustee's
protocol document (kbs/docs/kbs_attestation_protocol.md, protocol 0.4.0 as
kbs_protocol speaks it) with the standard library and python3-cryptography
only, to check that `secureai kbs serve` speaks that protocol and not just
SecureAI's own client's dialect of it. Nothing here is shared with the C code.

  trustee_client.py get URL PIN RESOURCE KEY AUTH OUT   (KEY p256|p521|rsa, AUTH cookie|bearer)
  trustee_client.py negative URL PIN RESOURCE DENIED     (refusals; DENIED: a resource whose
                                                         policy does not allow simulated TEEs)

Evidence: Trustee's "sample" TEE carries the sim platform's signed evidence
here, made by `secureai attest --tee sim --report-data HEX` ($SAI_CLI).
"""
import base64
import hashlib
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

ERR_PREFIX = "https://github.com/confidential-containers/kbs/errors/"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jcs(v):
    # RFC 8785 for what the runtime data holds (strings and objects of
    # ASCII-named members): sorted members, no white space, UTF-8.
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Kbs:
    def __init__(self, url, pin):
        assert url.startswith("https://")
        host, port = url[len("https://"):].rstrip("/").split(":")
        self.host, self.port, self.pin = host, int(port), pin.replace(":", "").lower()
        self.cookie = None
        self.conn = None

    def _connect(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE      # the certificate is pinned below, before any request
        self.conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=10)
        self.conn.connect()
        der = self.conn.sock.getpeercert(binary_form=True)
        if hashlib.sha256(der).hexdigest() != self.pin:
            raise SystemExit("the KBS certificate is not the pinned one")

    def request(self, method, path, body=None, headers=None, cookie=True):
        if self.conn is None:
            self._connect()
        h = {"Accept": "application/json"}
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body).encode()
        if cookie and self.cookie:
            h["Cookie"] = "kbs-session-id=" + self.cookie
        h.update(headers or {})
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        for name, value in r.getheaders():
            if name.lower() == "set-cookie" and value.startswith("kbs-session-id="):
                self.cookie = value.split(";")[0].split("=", 1)[1]
        try:
            return r.status, json.loads(data) if data else None
        except ValueError:
            return r.status, data


class TeeKey:
    """The TEE key pair kbs_protocol makes: EC P-256 (its default) or P-521
    with ECDH-ES+A256KW, or RSA with RSA-OAEP-256."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "rsa":
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pn = self.priv.public_key().public_numbers()
            n = pn.n.to_bytes((pn.n.bit_length() + 7) // 8, "big")
            e = pn.e.to_bytes((pn.e.bit_length() + 7) // 8, "big")
            self.jwk = {"kty": "RSA", "alg": "RSA-OAEP-256", "n": b64u(n), "e": b64u(e)}
        else:
            curve, self.crv, self.size = (ec.SECP256R1(), "P-256", 32) if kind == "p256" else (ec.SECP521R1(), "P-521", 66)
            self.priv = ec.generate_private_key(curve)
            pn = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": self.crv, "alg": "ECDH-ES+A256KW",
                        "x": b64u(pn.x.to_bytes(self.size, "big")), "y": b64u(pn.y.to_bytes(self.size, "big"))}

    def decrypt(self, jwe):
        """RFC 7516 flattened JSON serialisation, enc A256GCM."""
        protected = jwe["protected"]
        header = json.loads(unb64u(protected))
        assert header["enc"] == "A256GCM", header
        ek = unb64u(jwe["encrypted_key"])
        if header["alg"] == "RSA-OAEP-256":
            assert self.kind == "rsa"
            cek = self.priv.decrypt(ek, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                      algorithm=hashes.SHA256(), label=None))
        elif header["alg"] == "ECDH-ES+A256KW":
            epk = header["epk"]
            assert epk["kty"] == "EC" and epk["crv"] == self.crv, epk
            curve = self.priv.curve
            peer = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64u(epk["x"]), "big"),
                                                 int.from_bytes(unb64u(epk["y"]), "big"), curve).public_key()
            z = self.priv.exchange(ec.ECDH(), peer)
            # RFC 7518 4.6.2: AlgorithmID = alg, empty PartyUInfo/PartyVInfo, 256 bits
            alg = b"ECDH-ES+A256KW"
            other = len(alg).to_bytes(4, "big") + alg + (0).to_bytes(4, "big") * 2 + (256).to_bytes(4, "big")
            kek = ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=other).derive(z)
            cek = aes_key_unwrap(kek, ek)
        else:
            raise SystemExit("unexpected JWE alg " + header["alg"])
        aad = protected.encode() + ((b"." + jwe["aad"].encode()) if "aad" in jwe else b"")
        return AESGCM(cek).decrypt(unb64u(jwe["iv"]), unb64u(jwe["ciphertext"]) + unb64u(jwe["tag"]), aad)


def evidence(report_data):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ev.json")
        subprocess.run([os.environ["SAI_CLI"], "attest", "--tee", "sim", "--report-data",
                        report_data.hex(), "--out", out], check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def report_data(nonce, jwk, algorithm="sha384"):
    # kbs_protocol 0.4.0: the primary attester's runtime data, canonical JSON,
    # hashed with the negotiated algorithm (sha384 unless the KBS selects another).
    rt = {"tee-pubkey": jwk, "nonce": nonce, "additional-evidence": ""}
    d = hashlib.new(algorithm, jcs(rt)).digest()
    return d + bytes(64 - len(d))


def auth(kbs, version="0.4.0"):
    st, ch = kbs.request("POST", "/kbs/v0/auth", {
        "version": version, "tee": "sample",
        "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512"]}})
    return st, ch


def attest(kbs, key, ch, tamper=None):
    xp = ch.get("extra-params")
    alg = xp.get("selected-hash-algorithm", "sha384") if isinstance(xp, dict) else "sha384"
    nonce = ch["nonce"]
    bound_jwk = dict(key.jwk)
    if tamper == "hash":
        # evidence over runtime data that is not what is sent
        bound_jwk["x" if key.kind != "rsa" else "e"] = b64u(b"\x01" * (key.size if key.kind != "rsa" else 3))
    ev = evidence(report_data(nonce, bound_jwk, alg))
    body = {"runtime-data": {"nonce": nonce, "tee-pubkey": key.jwk},
            "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}}
    return kbs.request("POST", "/kbs/v0/attest", body, cookie=(tamper != "nocookie"))


def trustee_error(st, body, code, words):
    if st != code or not isinstance(body, dict) or not str(body.get("type", "")).startswith(ERR_PREFIX) \
            or words not in str(body.get("detail", "")):
        raise SystemExit(f"expected {code} ErrorInformation mentioning {words!r}, got {st} {body!r}")


def get(url, pin, resource, kind, how, out):
    kbs, key = Kbs(url, pin), TeeKey(kind)
    st, ch = auth(kbs)
    if st != 200 or kbs.cookie is None:
        raise SystemExit(f"auth: {st} {ch!r} cookie={kbs.cookie}")
    st, tok = attest(kbs, key, ch)
    if st != 200 or "token" not in tok:
        raise SystemExit(f"attest: {st} {tok!r}")
    hdr = {"Authorization": "Bearer " + tok["token"]} if how == "bearer" else None
    st, jwe = kbs.request("GET", "/kbs/v0/resource/" + resource, headers=hdr, cookie=(how == "cookie"))
    if st != 200:
        raise SystemExit(f"resource: {st} {jwe!r}")
    with open(out, "wb") as f:
        f.write(key.decrypt(jwe))


def negative(url, pin, resource, denied):
    # a version this KBS does not speak: 401 with Trustee's ErrorInformation
    kbs = Kbs(url, pin)
    st, body = auth(kbs, version="0.3.0")
    trustee_error(st, body, 401, "not supported")
    # an attestation without the session cookie
    kbs, key = Kbs(url, pin), TeeKey("p256")
    st, ch = auth(kbs)
    assert st == 200, (st, ch)
    st, body = attest(kbs, key, ch, tamper="nocookie")
    trustee_error(st, body, 401, "cookie")
    # evidence bound to other runtime data than the one sent: refused, and
    # the cookie gets nothing
    for kind in ("p256", "rsa"):
        kbs, key = Kbs(url, pin), TeeKey(kind)
        st, ch = auth(kbs)
        assert st == 200, (st, ch)
        st, body = attest(kbs, key, ch, tamper="hash")
        trustee_error(st, body, 401, "report data")
        st, body = kbs.request("GET", "/kbs/v0/resource/" + resource)
        trustee_error(st, body, 401, "cookie")
    # no credential at all
    st, body = Kbs(url, pin).request("GET", "/kbs/v0/resource/" + resource)
    trustee_error(st, body, 401, "token")
    # sample (sim) evidence under a release policy that does not allow
    # simulated TEEs: 403, nothing released
    kbs, key = Kbs(url, pin), TeeKey("p256")
    st, ch = auth(kbs)
    st, tok = attest(kbs, key, ch)
    assert st == 200, (st, tok)
    st, body = kbs.request("GET", "/kbs/v0/resource/" + denied)
    trustee_error(st, body, 403, "simulated")
    # a Trustee TEE this KBS cannot appraise
    st, body = Kbs(url, pin).request("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "az-snp-vtpm",
                                                             "extra-params": ""})
    trustee_error(st, body, 401, "not supported")
    print("negative: all refused as expected")


if __name__ == "__main__":
    if sys.argv[1] == "get":
        get(*sys.argv[2:8])
    elif sys.argv[1] == "negative":
        negative(*sys.argv[2:6])
    else:
        raise SystemExit(__doc__)
