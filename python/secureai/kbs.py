"""secureai.kbs — attested key release from inside a TEE (the RCAR flow of
``secureai kbs get-resource``, docs/kbs.md), over libsecureai's C client.

    import secureai, secureai.kbs
    key = secureai.kbs.get_resource("https://kbs:8443", "fw/dataset/fmnist",
                                    tee="sev-snp", ca="kbs-ca.pem")
    ds = secureai.SealedDataset("fm.sealed", key)       # the key never left C memory

The C library does everything: TLS 1.3 to the KBS (a CA or a pinned
certificate; plain HTTP only with ``allow_insecure_http`` and then only to
loopback), ``/auth`` for a nonce, a fresh P-384 key, the TEE's evidence over
SHA-512(nonce || public key), ``/attest``, the resource wrapped to that key,
unwrapped into a locked, non-dumpable buffer (``sai_secret_t``). Python gets
a :class:`secureai.Key` that points at that buffer; the secret becomes a
Python object only if :meth:`secureai.Key.reveal` is called.

Where this runs: in a process inside the TEE's boundary, i.e. a confidential
VM (``tee="sev-snp"`` or ``"tdx"``, the whole guest is trusted) or, for
tests and demos, the simulated TEE (``tee="sim"``: the evidence is signed by
the local sim platform of ``SECUREAI_PLATFORM_DIR``, which a KBS accepts only
with ``allow_simulated``). In the framework mode of ``secureai run`` the
script does not call it: the enclave fetches the keys itself before the
script runs, and the script's sandbox has no network.
"""
from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, Structure, c_bool, c_char_p, c_double, c_int, c_size_t, c_void_p
from typing import Optional, Union

from . import Key, _check, _err
from ._lib import SaiError, lib

__all__ = ["get_resource"]


class _ClientOpts(Structure):  # sai_kbs_client_opts_t (include/secureai/kbs.h)
    _fields_ = [("url", c_char_p), ("ca_file", c_char_p), ("pin_sha256", c_char_p),
                ("timeout_s", c_double), ("retries", c_int), ("ca_pem", c_char_p),
                ("ca_pem_len", c_size_t), ("allow_insecure_http", c_bool)]


class _Attester(Structure):  # sai_kbs_attester_t
    _fields_ = [("ctx", c_void_p), ("tee", c_char_p), ("borrowed", c_bool), ("evidence", c_void_p)]


lib.sai_kbs_attester_open.restype = c_int
lib.sai_kbs_attester_open.argtypes = [POINTER(_Attester), c_char_p, POINTER(SaiError)]
lib.sai_kbs_attester_close.restype = None
lib.sai_kbs_attester_close.argtypes = [POINTER(_Attester)]
lib.sai_kbs_get_resource.restype = c_int
lib.sai_kbs_get_resource.argtypes = [POINTER(_ClientOpts), POINTER(_Attester), c_char_p,
                                     POINTER(c_void_p), POINTER(SaiError)]

_TEES = ("sim", "sev-snp", "tdx", "sgx")
PathLike = Union[str, "os.PathLike[str]"]


def get_resource(kbs: str, resource: str, *, tee: str, ca: Optional[PathLike] = None,
                 pin: Optional[str] = None, ca_pem: Optional[bytes] = None,
                 timeout: float = 5.0, retries: int = 4,
                 allow_insecure_http: bool = False) -> Key:
    """Attest this TEE to the key broker at ``kbs`` and return the secret
    released for ``resource`` (``repo/type/tag``) as a :class:`secureai.Key`.

    Exactly one way to authenticate the KBS: ``ca`` (a CA/certificate file),
    ``ca_pem`` (the same as bytes) or ``pin`` (hex SHA-256 of the KBS's DER
    certificate). ``tee`` is ``sim``, ``sev-snp``, ``tdx`` or ``sgx``.

    Raises :class:`secureai.SecureAIError` (``AuthenticationError`` for a
    refused attestation or a wrong certificate, ``NotFoundError`` for an
    unknown resource; a release policy that does not match this TEE is a
    ``SecureAIError`` with ``code == -9``) whose text is the C client's.
    """
    if tee not in _TEES:
        raise ValueError("tee is one of %s" % ", ".join(_TEES))
    if sum(x is not None for x in (ca, pin, ca_pem)) != 1:
        raise ValueError("give exactly one of ca, ca_pem and pin")
    opts = _ClientOpts(url=kbs.encode(), timeout_s=float(timeout), retries=int(retries),
                       allow_insecure_http=bool(allow_insecure_http))
    if ca is not None:
        opts.ca_file = os.fsencode(ca)
    if pin is not None:
        opts.pin_sha256 = pin.encode()
    if ca_pem is not None:
        opts.ca_pem = bytes(ca_pem)
        opts.ca_pem_len = len(ca_pem)
    att = _Attester()
    err = _err()
    _check(lib.sai_kbs_attester_open(ctypes.byref(att), tee.encode(), ctypes.byref(err)), err,
           "TEE %s" % tee)
    secret = c_void_p()
    try:
        err = _err()
        _check(lib.sai_kbs_get_resource(ctypes.byref(opts), ctypes.byref(att), resource.encode(),
                                        ctypes.byref(secret), ctypes.byref(err)), err)
    finally:
        lib.sai_kbs_attester_close(ctypes.byref(att))
    return Key._adopt(secret)
