"""Tests of the secureai Python package (run by tests/python/test_python.sh
through ctest). Data: synthetic Fashion-MNIST-shaped IDX files made here and
the real TFRecord files of tests/data/tfrecord/, sealed with the real
`secureai` program, so the package is checked against the C tool's format."""
import ctypes
import gzip
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("SAI_SOURCE_DIR", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "python"))
sys.path.insert(0, os.path.join(SRC, "scripts"))
CLI = os.environ["SAI_CLI"]
DATA = os.path.join(os.environ.get("SAI_TEST_DATA_DIR", os.path.join(SRC, "tests", "data")),
                    "tfrecord")

import torch  # noqa: E402

import secureai  # noqa: E402
import secureai.torch as st  # noqa: E402

N = 96


def run(*args):
    subprocess.run([CLI, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def idx(magic_type, dims, payload):
    return struct.pack(">BBBB", 0, 0, magic_type, len(dims)) + b"".join(
        struct.pack(">I", d) for d in dims) + payload


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sai-py-")
        cls.key = os.path.join(cls.tmp, "data.key")
        run("keygen", "--out", cls.key)
        rng = random.Random(7)
        cls.pixels = bytes(rng.randrange(256) for _ in range(N * 784))
        cls.labels = bytes(rng.randrange(10) for _ in range(N))
        plain = os.path.join(cls.tmp, "plain")
        os.mkdir(plain)
        with open(os.path.join(plain, "train-images-idx3-ubyte"), "wb") as f:
            f.write(idx(8, [N, 28, 28], cls.pixels))
        with open(os.path.join(plain, "train-labels-idx1-ubyte"), "wb") as f:
            f.write(idx(8, [N], cls.labels))
        for name in ("tfx_mnist.tfrecord", "tfx_cifar10_test.tfrecord"):
            shutil.copy(os.path.join(DATA, name), plain)
        cls.plain = plain
        cls.sealed = os.path.join(cls.tmp, "ds.sealed")
        run("seal", "--key", cls.key, plain, cls.sealed)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)


def frames(path):
    with open(path, "rb") as f:
        b = f.read()
    out, off = [], 0
    while off < len(b):
        (n,) = struct.unpack_from("<Q", b, off)
        out.append(b[off + 12:off + 12 + n])
        off += n + 16
    return out


class TestSealedDataset(Base):
    def test_records_match_plaintext(self):
        with secureai.SealedDataset(self.sealed, self.key, shard="tfx_mnist.tfrecord") as ds:
            want = frames(os.path.join(self.plain, "tfx_mnist.tfrecord"))
            self.assertEqual(len(ds), 1000)
            for i in (999, 0, 517, 3):
                self.assertEqual(ds[i], want[i])
            self.assertEqual(ds[-1], want[-1])
            ex = ds.example(0)
            self.assertEqual(len(ex["image_floats"]), 784)
            self.assertIn(ex["image_class"][0], range(10))
            with self.assertRaises(IndexError):
                ds[1000]
        with secureai.SealedDataset(self.sealed, self.key) as ds:
            # every addressable shard, in name order: 128 + 1000 tfrecord, N + N idx
            names = [s["name"] for s in ds.shards]
            self.assertEqual(len(ds), 128 + 1000 + 2 * N)
            self.assertEqual(len(ds.id), 64)
            self.assertIn("tfx_cifar10_test.tfrecord", names)
            self.assertEqual(ds[0], frames(os.path.join(self.plain, "tfx_cifar10_test.tfrecord"))[0])

    def test_key_as_bytes_and_expect_id(self):
        with open(self.key, "rb") as f:
            raw = f.read()
        with secureai.SealedDataset(self.sealed, raw, shard="train-labels-idx1-ubyte") as ds:
            self.assertEqual(b"".join(ds[i] for i in range(N)), self.labels)
            ident = ds.id
        with self.assertRaises(secureai.AuthenticationError):
            secureai.SealedDataset(self.sealed, raw, expect_id="00" * 32)
        secureai.SealedDataset(self.sealed, raw, expect_id=ident).close()

    def test_errors_carry_c_text(self):
        other = os.path.join(self.tmp, "other.key")
        if not os.path.exists(other):
            run("keygen", "--out", other)
        with self.assertRaises(secureai.AuthenticationError) as cm:
            secureai.SealedDataset(self.sealed, other)
        self.assertIn("manifest MAC does not verify", str(cm.exception))
        self.assertEqual(cm.exception.code, -4)
        with self.assertRaises(secureai.NotFoundError):
            secureai.SealedDataset(self.sealed, self.key, shard="nope")
        # one flipped byte of a sealed shard: refused, naming file and record
        bad = os.path.join(self.tmp, "flipped")
        shutil.copytree(self.sealed, bad)
        p = os.path.join(bad, "tfx_mnist.tfrecord.sealed")
        with open(p, "r+b") as f:
            f.seek(56 + len("default") + 5 * (65536 + 16) + 10)
            c = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([c[0] ^ 1]))
        ds = secureai.SealedDataset(bad, self.key, shard="tfx_mnist.tfrecord")
        with self.assertRaises(secureai.AuthenticationError) as cm:
            ds[0]
        self.assertIn("tfx_mnist.tfrecord: records 102..122 of 1000 are damaged (chunk 5",
                      str(cm.exception))
        ds.close()


class TestTorch(Base):
    def test_idx_pairs_and_fork_workers(self):
        ds = st.SealedDataset(self.sealed, self.key, images="train-images-idx3-ubyte",
                              labels="train-labels-idx1-ubyte")
        self.assertEqual(len(ds), N)
        x, y = ds[5]
        self.assertEqual(tuple(x.shape), (1, 28, 28))
        self.assertEqual(y, self.labels[5])
        want = torch.tensor(list(self.pixels[5 * 784:6 * 784]), dtype=torch.float32) / 255
        self.assertTrue(torch.equal(x.reshape(-1), want))
        ds[0]  # the parent has open readers before the fork
        dl = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2,
                                         multiprocessing_context="fork")
        xs, ys = zip(*dl)
        self.assertEqual(bytes(torch.cat(ys).tolist()), self.labels)
        allx = (torch.cat(xs).reshape(N, -1) * 255).round().to(torch.uint8)
        self.assertEqual(bytes(allx.reshape(-1).tolist()), self.pixels)

    def test_pipeline_plaintext_mode(self):
        # secureai.pipeline.plaintext: the framework-mode API outside the
        # enclave on plaintext IDX files (the baseline of
        # bench/fw_resnet8_fmnist.sh): the same pixels, labels and limit
        import secureai.pipeline as sp
        self.assertFalse(sp.active())
        with self.assertRaises(RuntimeError):
            sp.dataset("train")
        img = os.path.join(self.plain, "train-images-idx3-ubyte")
        lab = os.path.join(self.plain, "train-labels-idx1-ubyte")
        with open(lab, "rb") as f, gzip.open(os.path.join(self.tmp, "l.gz"), "wb") as g:
            g.write(f.read())
        sp.plaintext({"hyper": {"seed": 3}}, {"train": (img, os.path.join(self.tmp, "l.gz")),
                                              "test": (img, lab)}, limits={"test": 10}, threads=1)
        try:
            self.assertFalse(sp.active())
            self.assertEqual(sp.spec()["hyper"]["seed"], 3)
            tr, te = sp.dataset("train"), sp.dataset("test")
            self.assertEqual((len(tr), len(te), tr.shape), (N, 10, (1, 28, 28)))
            x, y = tr[5]
            want = torch.tensor(list(self.pixels[5 * 784:6 * 784]), dtype=torch.float32) / 255
            self.assertTrue(torch.equal(x.reshape(-1), want))
            self.assertEqual(y, self.labels[5])
            self.assertEqual(te[9][1], self.labels[9])
            sp.report(test_accuracy=0.5, steps=2)
            self.assertEqual(sp.plain_metrics(), {"test_accuracy": 0.5, "steps": 2.0})
            with self.assertRaises(ValueError):   # labels of another length
                sp.plaintext({}, {"train": (img, os.path.join(self.plain, "tfx_mnist.tfrecord"))})
        finally:
            sp._plain, sp._spec = None, None
            sp._splits.clear()

    def test_tfrecord_features(self):
        ds = st.SealedDataset(self.sealed, self.key, shard="tfx_mnist.tfrecord",
                              features={"image": "image_floats", "label": "image_class"},
                              image_offset=0.5)
        counts = [0] * 10
        for i in range(len(ds)):
            x, y = ds[i]
            counts[y] += 1
            self.assertTrue(float(x.min()) >= 0.0 and float(x.max()) <= 1.0)
        self.assertEqual(counts, [87, 137, 87, 90, 118, 79, 78, 107, 120, 97])

    def test_save_load(self):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        d = os.path.join(self.tmp, "ckpt")
        os.mkdir(d)
        path = os.path.join(d, "model.sealed")
        st.save(model.state_dict(), path, self.key)
        self.assertEqual(os.listdir(d), ["model.sealed"])          # no temp or plaintext file
        with open(path, "rb") as f:
            blob = f.read()
        self.assertTrue(blob.startswith(b"SAI-SEAL"))
        self.assertNotIn(b"data.pkl", blob)                        # the zip's names are encrypted
        sd = st.load(path, self.key)
        for k, v in model.state_dict().items():
            self.assertTrue(torch.equal(sd[k], v))
        with self.assertRaises(secureai.SecureAIError):            # refuses to overwrite
            st.save(model.state_dict(), path, self.key)
        # the C tool opens what save wrote, and load opens what the C tool sealed
        out = os.path.join(d, "plain.pt")
        run("unseal", "--key", self.key, path, out)
        sd2 = torch.load(out)
        self.assertTrue(all(torch.equal(sd2[k], v) for k, v in sd.items()))
        resealed = os.path.join(d, "cli.sealed")
        run("seal", "--key", self.key, out, resealed)
        sd3 = st.load(resealed, self.key)
        self.assertTrue(all(torch.equal(sd3[k], v) for k, v in sd.items()))
        # tampered: refused with the chunk named
        b = bytearray(blob)
        b[70] ^= 1
        with open(os.path.join(d, "bad.sealed"), "wb") as f:
            f.write(b)
        with self.assertRaises(secureai.AuthenticationError) as cm:
            st.load(os.path.join(d, "bad.sealed"), self.key)
        self.assertIn("chunk", str(cm.exception))

    def test_tiny_training_same_loss_sealed_and_plain(self):
        """A few ResNet-8 steps with the same seed on the sealed and on the
        plaintext IDX data give bit-identical losses."""
        import torch_resnet

        class Plain(torch.utils.data.Dataset):
            def __init__(s, pixels, labels):
                s.p, s.l = pixels, labels

            def __len__(s):
                return N

            def __getitem__(s, i):
                x = torch.frombuffer(bytearray(s.p[i * 784:(i + 1) * 784]), dtype=torch.uint8)
                return x.float().div_(255.0).reshape(1, 28, 28), s.l[i]

        def losses(ds):
            torch.manual_seed(1)
            m = torch_resnet.resnet8(cin=1, classes=10)
            opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
            g = torch.Generator().manual_seed(2)
            dl = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True, generator=g)
            out = []
            for x, y in dl:
                loss = torch.nn.functional.cross_entropy(m(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                out.append(loss.item())
            return out

        torch.set_num_threads(1)
        sealed = losses(st.SealedDataset(self.sealed, self.key, images="train-images-idx3-ubyte",
                                         labels="train-labels-idx1-ubyte"))
        plain = losses(Plain(self.pixels, self.labels))
        self.assertEqual(len(sealed), N // 16)
        self.assertEqual(sealed, plain)


if __name__ == "__main__":
    unittest.main(verbosity=2)
