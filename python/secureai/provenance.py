"""secureai.provenance — check a run's provenance statement with the C
verifier (``secureai verify``'s, sai_provenance_verify_files).

    import secureai.provenance as prov
    v = prov.verify("out/model.sealed", "out/provenance.json", "verify.json")
    v.metrics["test_accuracy"], v.tee, v.simulated

Every check of ``secureai verify`` is made (docs/pipeline.md, "Provenance"):
the envelope's signature by the statement's key, the TEE evidence's chain
and signature against the policy's attestation policy, the key bound in the
evidence's report data, the measurement (the exact measured spec), the TEE
kind, the dataset identity, the sealed model's hash, freshness. Anything
that fails raises :class:`secureai.SecureAIError` with the C verifier's
sentence naming the first failed check; nothing is returned unverified.

Statements are made by the enclave, never by Python code: in the framework
mode of ``secureai run`` the script's ``secureai.pipeline.report(...)``
metrics travel over the enclave's socket into the statement the enclave
signs (its ``metrics``), bound to the TEE evidence over the statement key.
A script cannot sign anything itself (it holds no key).
"""
from __future__ import annotations

import ctypes
import json
import os
from ctypes import POINTER, Structure, c_bool, c_char, c_char_p, c_int, c_int64, c_size_t, c_uint, c_uint8
from typing import Any, Dict, Optional, Union

from . import _check, _err
from ._lib import SaiError, lib

__all__ = ["verify", "Verified"]


class _Policy(Structure):  # sai_verify_policy_t (include/secureai/pipeline.h)
    _fields_ = [("measurement", c_uint8 * 48), ("dataset_identity", c_uint8 * 32),
                ("spec_sha256", c_uint8 * 32), ("has_spec_sha256", c_bool),
                ("allow_simulated", c_bool), ("allow_insecure_dev", c_bool),
                ("max_age", c_int64), ("attestation_policy", c_char * 4096)]


class _Result(Structure):  # sai_provenance_result_t
    _fields_ = [("tee", c_char * 32), ("time", c_char * 40), ("subject_name", c_char * 128),
                ("metrics", c_char * 1024), ("evidence_format", c_char * 64),
                ("kbs_channel", c_char * 32), ("simulated", c_bool), ("emulated", c_bool),
                ("insecure_dev", c_bool), ("protection", c_char_p), ("dist_workers", c_uint)]


lib.sai_verify_policy_load.restype = c_int
lib.sai_verify_policy_load.argtypes = [POINTER(_Policy), c_char_p, POINTER(SaiError)]
lib.sai_provenance_verify_files.restype = c_int
lib.sai_provenance_verify_files.argtypes = [c_char_p, ctypes.c_void_p, c_size_t, POINTER(_Policy),
                                            c_int64, c_int64, POINTER(_Result), POINTER(SaiError)]

PathLike = Union[str, "os.PathLike[str]"]


class Verified:
    """What verification established (only ever built from a statement that
    passed every check)."""

    def __init__(self, r: _Result):
        d = lambda b: b.decode("utf-8", "replace")  # noqa: E731
        self.tee: str = d(r.tee)
        self.time: str = d(r.time)
        self.subject: str = d(r.subject_name)
        self.evidence_format: str = d(r.evidence_format)
        self.kbs_channel: str = d(r.kbs_channel)
        self.simulated: bool = bool(r.simulated)
        self.emulated: bool = bool(r.emulated)
        self.insecure_dev: bool = bool(r.insecure_dev)
        self.protection: str = d(r.protection) if r.protection else ""
        self.dist_workers: int = int(r.dist_workers)
        raw = d(r.metrics)
        try:
            self.metrics: Dict[str, Any] = json.loads(raw) if raw else {}
        except ValueError:  # longer than the C result's 1024 bytes
            self.metrics = {"_truncated": raw}

    def __repr__(self) -> str:
        return "Verified(tee=%r, subject=%r, time=%r, simulated=%r, metrics=%r)" % (
            self.tee, self.subject, self.time, self.simulated, self.metrics)


def verify(model: PathLike, statement: Union[PathLike, bytes], policy: PathLike, *,
           max_age: int = 0, at: int = 0) -> Verified:
    """Verify ``statement`` (a path or the envelope's bytes) for the sealed
    ``model`` file against the verify policy file ``policy`` (JSON:
    measurement, dataset_identity, allow_simulated, attestation_policy, ...;
    docs/pipeline.md). ``max_age`` > 0 (seconds) overrides the policy's;
    ``at`` is the verification time (Unix seconds, 0 = now)."""
    if isinstance(statement, (bytes, bytearray)):
        body = bytes(statement)
    else:
        with open(statement, "rb") as f:
            body = f.read()
    pol = _Policy()
    err = _err()
    _check(lib.sai_verify_policy_load(ctypes.byref(pol), os.fsencode(policy), ctypes.byref(err)), err)
    res = _Result()
    err = _err()
    _check(lib.sai_provenance_verify_files(os.fsencode(model), body, len(body), ctypes.byref(pol),
                                           int(max_age), int(at), ctypes.byref(res),
                                           ctypes.byref(err)), err)
    return Verified(res)
