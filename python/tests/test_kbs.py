"""secureai.kbs.get_resource against a real `secureai kbs serve` on loopback,
with the simulated TEE of a platform made here (`secureai platform init` in
SECUREAI_PLATFORM_DIR; no root needed). Run by tests/python/test_python_kbs.sh.

The KBS's attestation policy accepts only sim evidence signed by this
platform's ARK; release policies decide per resource."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SAI_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "python"))
CLI = os.environ["SAI_CLI"]

import secureai  # noqa: E402
import secureai.kbs as kbs  # noqa: E402

SIM_OK = '{"tee":["sim"],"allow_simulated":true}'


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def cli(*args, **kw):
    return subprocess.run([CLI, *args], check=True, capture_output=True, text=True, **kw)


class KbsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = tempfile.mkdtemp(prefix="sai-pykbs.")
        os.environ["SECUREAI_PLATFORM_DIR"] = os.path.join(cls.d, "platform")
        cli("platform", "init")
        fp = re.search(r"^sim_ark_sha256\s+(\S+)", cli("platform", "info").stdout, re.M).group(1)
        att = os.path.join(cls.d, "att.yaml")
        with open(att, "w") as f:
            f.write("allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n" % fp)
        port = os.path.join(cls.d, "port")
        cls.log = open(os.path.join(cls.d, "kbs.log"), "w")
        cls.srv = subprocess.Popen([CLI, "kbs", "serve", "--data-dir", os.path.join(cls.d, "kbsd"),
                                    "--port", "0", "--port-file", port, "--attestation-policy", att,
                                    "--quiet"], stdout=cls.log, stderr=subprocess.STDOUT)
        cert = os.path.join(cls.d, "kbsd", "tls.crt")
        for _ in range(200):
            if os.path.exists(port) and os.path.getsize(port) and os.path.exists(cert):
                break
            time.sleep(0.05)
        cls.url = "https://127.0.0.1:%s" % read(port, "r").strip()
        cls.ca = cert
        cls.pin = re.search(r"^kbs: certificate sha256 (\S+)",
                            read(os.path.join(cls.d, "kbs.log"), "r"), re.M)
        cls.tok = os.path.join(cls.d, "kbsd", "admin.token")
        # a 32-byte data key and a dataset sealed under it; a 33-byte secret
        cli("keygen", "--out", os.path.join(cls.d, "data.key"))
        plain = os.path.join(cls.d, "plain")
        os.mkdir(plain)
        with open(os.path.join(plain, "blob.bin"), "wb") as f:
            f.write(os.urandom(1000))
        cli("seal", "--key", os.path.join(cls.d, "data.key"), plain, os.path.join(cls.d, "sealed"))
        with open(os.path.join(cls.d, "token.bin"), "wb") as f:
            f.write(b"not-a-data-key-but-a-token-33-by")
            f.write(b"!")
        cls.put("py/dataset/key", "data.key", SIM_OK)
        cls.put("py/token/t", "token.bin", SIM_OK)
        # released only to one measurement, which this process does not have
        cls.put("py/dataset/other", "data.key",
                '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}' % ("ab" * 48))

    @classmethod
    def put(cls, res, secret_file, policy):
        cli("kbs", "put-resource", "--kbs", cls.url, "--ca", cls.ca, "--admin-token-file", cls.tok,
            "--resource", res, "--secret-file", os.path.join(cls.d, secret_file), "--policy", policy)

    @classmethod
    def tearDownClass(cls):
        cls.srv.terminate()
        cls.srv.wait()
        cls.log.close()
        shutil.rmtree(cls.d, ignore_errors=True)

    def test_release_data_key_opens_sealed_dataset(self):
        key = kbs.get_resource(self.url, "py/dataset/key", tee="sim", ca=self.ca)
        self.assertIsInstance(key, secureai.Key)
        self.assertEqual(len(key), 32)
        self.assertEqual(key.reveal(), read(os.path.join(self.d, "data.key")))
        # the released key itself (no bytes in Python) opens what `secureai seal` wrote
        ds = secureai.SealedDataset(os.path.join(self.d, "sealed"), key)
        self.assertEqual([s["name"] for s in ds.shards], ["blob.bin"])
        ds.close()
        key.close()
        with self.assertRaises(ValueError):
            key.reveal()

    def test_pin_and_ca_pem(self):
        pem = read(self.ca)
        k1 = kbs.get_resource(self.url, "py/token/t", tee="sim", ca_pem=pem)
        self.assertEqual(k1.reveal(), read(os.path.join(self.d, "token.bin")))
        self.assertEqual(len(k1), 33)
        with self.assertRaisesRegex(ValueError, "not a 32-byte data key"):
            k1.ptr
        self.assertIsNotNone(self.pin, "kbs serve printed no certificate fingerprint")
        k2 = kbs.get_resource(self.url, "py/token/t", tee="sim", pin=self.pin.group(1))
        self.assertEqual(k2.reveal(), k1.reveal())
        # a pin of another certificate: the TLS handshake fails, nothing released
        with self.assertRaises(secureai.AuthenticationError) as cm:
            kbs.get_resource(self.url, "py/token/t", tee="sim", pin="00" * 32, retries=1)
        self.assertRegex(str(cm.exception), "(?i)pin|certificate|fingerprint")

    def test_release_policy_and_unknown_resource_refused(self):
        with self.assertRaises(secureai.SecureAIError) as cm:
            kbs.get_resource(self.url, "py/dataset/other", tee="sim", ca=self.ca, retries=1)
        self.assertEqual(cm.exception.code, -9, str(cm.exception))  # SAI_EPOLICY
        self.assertIn("not in the release policy", str(cm.exception))
        with self.assertRaises(secureai.NotFoundError) as cm:
            kbs.get_resource(self.url, "py/dataset/none", tee="sim", ca=self.ca, retries=1)
        self.assertIn("404", str(cm.exception))

    def test_another_platform_is_not_trusted(self):
        # evidence signed by a different sim platform's ARK: the KBS's
        # attestation policy pins this test's ARK, so nothing is released
        other = os.path.join(self.d, "platform2")
        env = dict(os.environ, SECUREAI_PLATFORM_DIR=other)
        subprocess.run([CLI, "platform", "init"], check=True, capture_output=True, env=env)
        old = os.environ["SECUREAI_PLATFORM_DIR"]
        os.environ["SECUREAI_PLATFORM_DIR"] = other
        try:
            with self.assertRaises(secureai.SecureAIError) as cm:
                kbs.get_resource(self.url, "py/dataset/key", tee="sim", ca=self.ca, retries=1)
        finally:
            os.environ["SECUREAI_PLATFORM_DIR"] = old
        self.assertRegex(str(cm.exception), "403.*ARK")
        print("  (another platform: %s)" % cm.exception, file=sys.stderr)

    def test_argument_checks(self):
        with self.assertRaises(ValueError):
            kbs.get_resource(self.url, "py/dataset/key", tee="sim")            # no CA, no pin
        with self.assertRaises(ValueError):
            kbs.get_resource(self.url, "py/dataset/key", tee="sim", ca=self.ca, pin="00" * 32)
        with self.assertRaises(ValueError):
            kbs.get_resource(self.url, "py/dataset/key", tee="nitro", ca=self.ca)
        with self.assertRaises(secureai.SecureAIError) as cm:   # http:// needs allow_insecure_http
            kbs.get_resource(self.url.replace("https", "http"), "py/dataset/key", tee="sim",
                             ca=self.ca, retries=1)
        self.assertEqual(cm.exception.code, -9, str(cm.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
