"""secureai.serve — the attesting client of ``secureai serve`` (docs/serving.md).

    import secureai.serve
    preds = secureai.serve.infer("https://10.0.0.5:8443", "policy.json", [scan1, scan2], top=3)
    # [{"image": 0, "top": [{"class": 7, "name": "...", "p": 0.93}, ...]}, ...]

The verification is the C library's own (sai_serve_client_connect, the code
of ``secureai infer``): the server's RA-TLS evidence is checked against the
policy inside the TLS 1.3 handshake, and on any mismatch the handshake is
aborted, so not one byte of an image is sent. A refusal raises
:class:`secureai.SecureAIError` (``PolicyError`` for a policy mismatch)
naming the failed check.

images: uint8 CHW images of the model's input (``bytes``, ``bytearray``,
``memoryview`` or anything with ``tobytes()``, e.g. a numpy array).
"""
from __future__ import annotations

import ctypes
import json
from ctypes import POINTER, Structure, byref, c_bool, c_char, c_char_p, c_int, c_size_t, c_uint8, c_void_p
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import SecureAIError, _check, _err, _lib
from ._lib import lib

__all__ = ["Client", "infer", "PolicyError"]


class PolicyError(SecureAIError):
    """SAI_EPOLICY: the server's evidence does not satisfy the policy."""


class _Policy(Structure):   # sai_serve_policy_t (include/secureai/serve.h)
    _fields_ = [("attestation_policy", c_char * 4096), ("allow_simulated", c_bool),
                ("measurement", c_uint8 * 48), ("model_sha256", c_uint8 * 32),
                ("has_spec_sha256", c_bool), ("spec_sha256", c_uint8 * 32)]


class _Verified(Structure):  # sai_serve_verified_t
    _fields_ = [("tee", c_char * 16), ("simulated", c_bool), ("measurement", c_uint8 * 48),
                ("model_sha256", c_uint8 * 32), ("spec_sha256", c_uint8 * 32)]


_e = POINTER(_lib.SaiError)
_lib._sig("sai_serve_policy_load", c_int, POINTER(_Policy), c_char_p, _e)
_lib._sig("sai_serve_client_connect", c_int, POINTER(c_void_p), c_char_p, POINTER(_Policy),
          POINTER(_Verified), _e)
_lib._sig("sai_serve_client_request", c_int, c_void_p, c_char_p, c_char_p, c_char_p, c_char_p,
          c_void_p, c_size_t, POINTER(c_int), POINTER(c_void_p), POINTER(c_size_t), _e)
_lib._sig("sai_serve_client_free", None, c_void_p)
_libc = ctypes.CDLL(None)      # the response is malloc'ed by libsecureai: the process's free()
_libc.free.argtypes = [c_void_p]
_libc.free.restype = None


def _raise(rc: int, err: _lib.SaiError) -> None:
    if rc == _lib.EPOLICY:
        raise PolicyError(rc, err.msg.decode("utf-8", "replace"))
    _check(rc, err)


def _bytes(img: Any) -> bytes:
    if isinstance(img, (bytes, bytearray, memoryview)):
        return bytes(img)
    if hasattr(img, "tobytes"):
        return img.tobytes()
    raise TypeError("an image is bytes or has tobytes() (uint8 CHW)")


class Client:
    """One verified keep-alive connection. ``verified`` says what the
    handshake established: tee, simulated, measurement, model_sha256,
    spec_sha256 (hex)."""

    def __init__(self, endpoint: str, policy: str):
        self._c = c_void_p()
        pol, ver, err = _Policy(), _Verified(), _err()
        _raise(lib.sai_serve_policy_load(byref(pol), str(policy).encode(), byref(err)), err)
        _raise(lib.sai_serve_client_connect(byref(self._c), endpoint.encode(), byref(pol), byref(ver),
                                            byref(err)), err)
        self.verified = {"tee": ver.tee.decode(), "simulated": bool(ver.simulated),
                         "measurement": bytes(ver.measurement).hex(),
                         "model_sha256": bytes(ver.model_sha256).hex(),
                         "spec_sha256": bytes(ver.spec_sha256).hex()}
        self._input: Optional[Tuple[int, int, int]] = None

    def request(self, method: str, path: str, body: bytes = b"", ctype: Optional[str] = None,
                shape: Optional[str] = None) -> Tuple[int, bytes]:
        """One request; (status, response body)."""
        if not self._c:
            raise SecureAIError(_lib.ESTATE, "the client is closed")
        status, resp, rlen, err = c_int(), c_void_p(), c_size_t(), _err()
        buf = ctypes.create_string_buffer(body, len(body)) if body else None
        rc = lib.sai_serve_client_request(self._c, method.encode(), path.encode(),
                                          ctype.encode() if ctype else None,
                                          shape.encode() if shape else None, buf, len(body),
                                          byref(status), byref(resp), byref(rlen), byref(err))
        try:
            _raise(rc, err)
            return status.value, ctypes.string_at(resp, rlen.value) if resp else b""
        finally:
            if buf is not None:
                _lib.wipe(buf, len(body))
            _libc.free(resp)

    def model(self) -> Dict[str, Any]:
        """GET /v1/model: hashes, evidence, provenance."""
        st, b = self.request("GET", "/v1/model")
        if st != 200:
            raise SecureAIError(_lib.EFORMAT, "GET /v1/model answered %d" % st)
        return json.loads(b)

    def predict(self, images: Sequence[Any], top: int = 5) -> List[Dict[str, Any]]:
        """POST /v1/predict: one prediction per image, the top classes first."""
        if self._input is None:
            self._input = tuple(self.model()["input"])
        c, h, w = self._input
        data = [_bytes(i) for i in images]
        if not data or any(len(d) != c * h * w for d in data):
            raise ValueError("images must be uint8 CHW of %dx%dx%d" % (c, h, w))
        st, b = self.request("POST", "/v1/predict?top=%d" % top, b"".join(data),
                             "application/x-secureai-u8", "%d,%d,%d,%d" % (len(data), c, h, w))
        if st != 200:
            raise SecureAIError(_lib.EINVAL, "the server answered %d: %s" % (st, b[:300].decode("utf-8", "replace")))
        return json.loads(b)["predictions"]

    def close(self) -> None:
        if self._c:
            lib.sai_serve_client_free(self._c)
            self._c = c_void_p()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def infer(endpoint: str, policy: str, images: Sequence[Any], top: int = 5) -> List[Dict[str, Any]]:
    """Verify the server at endpoint against policy (a serving policy file,
    docs/serving.md), then send it images; their predictions."""
    with Client(endpoint, policy) as c:
        return c.predict(images, top)
