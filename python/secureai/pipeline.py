"""secureai.pipeline — what a script sees when it runs in the framework mode
of ``secureai run`` (``train: {framework: pytorch, script: ..., args: [...]}``).

The enclave decrypts and decodes the sealed dataset itself and hands the
splits to the script over an inherited socket (never a file)::

    import secureai.pipeline as sp, secureai.torch as st
    train = sp.dataset("train")            # a torch Dataset of (image, label)
    test = sp.dataset("test")
    ...
    sp.report(test_accuracy=acc, test_loss=loss, steps=n)  # into the statement
    st.save(model.state_dict())            # sealed by the enclave under the model key

The interpreter runs under the enclave's sandbox: no file can be opened or
created, no process started, no socket made. ``spec()`` is the measured
spec. Outside a pipeline run :func:`active` is False and the rest raises,
unless :func:`plaintext` was called: then the same script runs as a plain
``python3`` program on plaintext IDX files (a baseline to compare a
framework-mode run with; nothing is sealed, attested or signed).
"""
from __future__ import annotations

import ast
import ctypes
import importlib
import json
import os
import struct
import sys
import traceback
from typing import Any, Dict, Optional, Tuple

__all__ = ["active", "spec", "dataset", "report", "progress", "plaintext", "PipelineDataset"]

# Frame types (src/pipeline/enclave_framework.c).
SETUP, SCRIPT, READY, DATA, PIXELS, LABELS, DATA_END = 1, 2, 3, 4, 5, 6, 7
PROGRESS, MODEL, MODEL_END, METRICS, ERROR, END = 8, 9, 10, 11, 12, 13
_FRAME_MAX = 1 << 20

_sock = None
_spec: Optional[Dict[str, Any]] = None
_splits: Dict[str, Tuple[Dict[str, Any], bytearray, bytearray]] = {}
_model_saved = False
_plain: Optional[Dict[str, Any]] = None   # plaintext mode: {"metrics": {...}}


def active() -> bool:
    """True inside the framework mode of ``secureai run``."""
    return _sock is not None


def _need() -> None:
    if _sock is None and _plain is None:
        raise RuntimeError("secureai.pipeline: not running inside `secureai run` (framework mode)")


def _send(t: int, b: bytes = b"") -> None:
    _need()
    _sock.sendall(struct.pack(">II", t, len(b)) + bytes(b))


def _rx(n: int) -> bytearray:
    b = bytearray(n)
    v = memoryview(b)
    k = 0
    while k < n:
        r = _sock.recv_into(v[k:])
        if r == 0:
            raise SystemExit(3)
        k += r
    return b


def _frame() -> Tuple[int, bytearray]:
    t, n = struct.unpack(">II", _rx(8))
    return t, _rx(n)


def spec() -> Dict[str, Any]:
    """The measured (canonical) spec of this run, as a dict."""
    _need()
    return _spec  # type: ignore[return-value]


def report(**metrics: float) -> None:
    """Metrics for the provenance statement: test_accuracy, test_loss,
    train_loss, train_accuracy, steps (numbers; others are ignored).
    In plaintext mode they are kept in ``plain_metrics()``."""
    m = {k: float(v) for k, v in metrics.items()}
    if _plain is not None:
        _plain["metrics"].update(m)
        return
    _send(METRICS, json.dumps(m).encode())


def progress(**fields: Any) -> None:
    """One progress line (JSON) to the host's log, e.g. epoch and loss
    (to stderr in plaintext mode)."""
    if _plain is not None:
        _plain["progress"].append(fields)
        print(json.dumps(fields), file=sys.stderr, flush=True)
        return
    _send(PROGRESS, json.dumps(fields).encode()[:1000])


def _idx(path: str) -> Tuple[Tuple[int, ...], bytes]:
    import gzip
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        b = f.read()
    if len(b) < 4 or b[0] or b[1] or b[2] != 8:
        raise ValueError("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">%dI" % b[3], b[4:4 + 4 * b[3]])
    return dims, b[4 + 4 * b[3]:]


def plaintext(spec: Dict[str, Any], splits: Dict[str, Tuple[str, str]],
              limits: Optional[Dict[str, int]] = None, threads: int = 2) -> None:
    """Run the calling script outside the enclave, on plaintext IDX files:
    ``splits`` maps ``"train"``/``"test"`` to ``(images, labels)`` paths
    (``.gz`` too), ``limits`` keeps the first N records of a split (as the
    spec's ``hyper.train_limit``/``test_limit``), ``spec`` is what
    :func:`spec` returns. :func:`dataset` then gives the same tensors the
    enclave hands over (uint8 pixels, float in [0, 1] per item), so a seeded
    script computes the same thing in both modes. Not a protection: the
    files are read as they are; for comparisons and development only."""
    global _plain, _spec
    if _sock is not None:
        raise RuntimeError("secureai.pipeline: plaintext() inside a framework-mode run")
    _spec, _plain = spec, {"metrics": {}, "progress": []}
    for split, (images, labels) in splits.items():
        (n, h, w), pix = _idx(images)
        (nl,), lab = _idx(labels)
        if nl != n:
            raise ValueError("%s: %d labels for %d images" % (labels, nl, n))
        k = min(n, (limits or {}).get(split) or n)
        hdr = {"n": k, "c": 1, "h": h, "w": w, "classes": 10, "mean": [0.0], "std": [1.0]}
        _splits[split] = (hdr, bytearray(pix[:k * h * w]), bytearray(lab[:k]))
    import torch
    torch.set_num_threads(max(1, int(threads)))


def plain_metrics() -> Dict[str, float]:
    """What the script reported in plaintext mode."""
    if _plain is None:
        raise RuntimeError("secureai.pipeline: not in plaintext mode")
    return dict(_plain["metrics"])


def _save_bytes(data) -> None:
    """The model's serialized bytes to the enclave, which seals them under
    the model key (secureai.torch.save with no path)."""
    global _model_saved
    if _model_saved:
        raise RuntimeError("secureai.pipeline: the model was already saved")
    view = memoryview(data)
    for off in range(0, len(view), _FRAME_MAX):
        _send(MODEL, view[off:off + _FRAME_MAX])
    _send(MODEL_END)
    _model_saved = True


class PipelineDataset:
    """One split of the run's dataset: ``(image, label)`` with the image a
    float tensor of shape (c, h, w) in [0, 1] (before ``transform``); the
    dataset's normalisation constants are ``mean``/``std``."""

    def __init__(self, split: str, transform=None):
        import torch
        if split not in _splits:
            raise KeyError("split %r is not in this run (stages decide: %s)" % (split, sorted(_splits)))
        hdr, pix, lab = _splits[split]
        self.n, self.shape = hdr["n"], (hdr["c"], hdr["h"], hdr["w"])
        self.classes, self.mean, self.std = hdr["classes"], hdr["mean"][:hdr["c"]], hdr["std"][:hdr["c"]]
        self.images = torch.frombuffer(pix, dtype=torch.uint8).reshape((self.n,) + self.shape) \
            if self.n else torch.zeros((0,) + self.shape, dtype=torch.uint8)
        self.labels = torch.frombuffer(lab, dtype=torch.uint8).long() if self.n else torch.zeros(0, dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        x = self.images[i].float().div_(255.0)
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[i])


def dataset(split: str = "train", transform=None) -> PipelineDataset:
    """The decoded ``train`` or ``test`` split (a torch Dataset)."""
    _need()
    return PipelineDataset(split, transform)


class _Status(ctypes.Structure):
    _fields_ = [("dumpable_off", ctypes.c_bool), ("core_off", ctypes.c_bool),
                ("no_new_privs", ctypes.c_bool), ("seccomp", ctypes.c_bool)]


def _harden() -> Dict[str, bool]:
    """The enclave's sandbox on this process (sai_sandbox_harden: the same
    seccomp allow-list), then the no-network filter on top."""
    from ._lib import SaiError, lib
    lib.sai_sandbox_harden.argtypes = [ctypes.POINTER(_Status), ctypes.POINTER(SaiError)]
    lib.sai_sandbox_no_network.argtypes = [ctypes.POINTER(SaiError)]
    st, err = _Status(), SaiError()
    if lib.sai_sandbox_harden(ctypes.byref(st), ctypes.byref(err)) != 0:
        raise RuntimeError("sandbox: " + err.msg.decode(errors="replace"))
    if lib.sai_sandbox_no_network(ctypes.byref(err)) != 0:
        raise RuntimeError("sandbox: " + err.msg.decode(errors="replace"))
    out = {k: bool(getattr(st, k)) for k, _ in _Status._fields_}
    out["no_network"] = True
    return out


def _script_imports(script: bytes):
    """Top-level module names the script imports (resolved before the
    sandbox closes the file system)."""
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            for a in node.names:
                yield node.module + "." + a.name


def _main(sock, setup: Dict[str, Any], script: bytes) -> None:
    """Run by the enclave's bootstrap: imports, sandbox, data, the script."""
    global _sock, _spec
    _sock = sock
    try:
        _spec = json.loads(setup["spec"])
        import torch
        from . import torch as _st  # noqa: F401  (secureai.torch, before the sandbox)
        for name in _script_imports(script):
            try:
                importlib.import_module(name)
            except Exception:
                pass   # `from m import function` names are not modules
        torch.set_num_threads(max(1, int(setup.get("threads") or 2)))
        torch.zeros(64, 64) @ torch.zeros(64, 64)   # start the thread pool now
        box = _harden()
        _send(READY, json.dumps({"python": sys.version.split()[0], "torch": torch.__version__,
                                 "sandbox": box}).encode())
    except BaseException as e:  # noqa: BLE001 — reported to the enclave, which stops
        _send(ERROR, ("%s: %s" % (type(e).__name__, e)).encode()[:400])
        raise SystemExit(1)
    while True:
        t, b = _frame()
        if t == DATA_END:
            break
        if t != DATA:
            raise SystemExit(4)
        hdr = json.loads(b)
        size = hdr["n"] * hdr["c"] * hdr["h"] * hdr["w"]
        pix = bytearray(size)
        k = 0
        while k < size:
            t, chunk = _frame()
            if t != PIXELS:
                raise SystemExit(4)
            pix[k:k + len(chunk)] = chunk
            k += len(chunk)
        t, lab = _frame()
        if t != LABELS:
            raise SystemExit(4)
        _splits[hdr["split"]] = (hdr, pix, lab)
    sys.argv = [setup["script_name"]] + list(setup.get("args", []))
    g = {"__name__": "__main__", "__file__": setup["script_name"], "__builtins__": __builtins__}
    try:
        exec(compile(script, setup["script_name"], "exec"), g)
    except SystemExit as e:
        if e.code not in (None, 0):
            _send(ERROR, ("exit status %s" % (e.code,)).encode())
            raise
    except BaseException as e:  # noqa: BLE001
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{f.filename}:{f.lineno}" for f in reversed(tb) if f.filename == setup["script_name"]), "")
        _send(ERROR, ("%s: %s: %s" % (where, type(e).__name__, e)).encode()[:400])
        raise SystemExit(1)
    finally:
        for _, pix, lab in _splits.values():
            pix[:] = bytes(len(pix))   # best effort: tensors viewing them see zeros
    _send(END)
