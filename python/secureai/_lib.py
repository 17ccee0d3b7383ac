"""_lib — the ctypes binding to libsecureai.so (private to the package).

Only the library's public API (include/secureai/*.h) is bound. The structs
mirrored here (sai_error_t, sai_manifest_t, sai_dataset_shard_t, sai_tffeature_t,
sai_tfbytes_t, sai_seal_params_t, sai_seal_open_opts_t, sai_secret_t;
secureai.kbs and secureai.provenance mirror their own) must match the headers;
tests/ exercise every one of them.

The library is found, in order, at $SECUREAI_LIB, next to this package's
checkout (../../build/libsecureai.so), then by the dynamic loader.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (POINTER, Structure, c_bool, c_char, c_char_p, c_float, c_int, c_int64,
                    c_size_t, c_uint8, c_uint32, c_uint64, c_void_p)
from typing import Optional

SAI_ERROR_MAX = 512
SAI_SEAL_KEY_LEN = 32
SAI_SEAL_KEY_ID_MAX = 64

EINVAL, ENOMEM, EIO, EAUTH, ECRYPTO, EFORMAT, ENOTFOUND, EEXIST = -1, -2, -3, -4, -5, -6, -7, -8
EPOLICY, EUNSUPP, ENET, ELIMIT, ESTATE = -9, -10, -11, -12, -13

REC_RAW, REC_CIFAR10_BIN, REC_IDX, REC_IDX_GZ, REC_TFRECORD = 0, 1, 2, 3, 4
FEAT_NONE, FEAT_BYTES, FEAT_FLOAT, FEAT_INT64 = 0, 1, 2, 3


class SaiError(Structure):
    _fields_ = [("code", c_int), ("msg", c_char * SAI_ERROR_MAX)]


class Shard(Structure):
    _fields_ = [("name", c_char_p), ("size", c_uint64), ("sha256", c_uint8 * 32),
                ("format", c_int), ("records", c_uint64)]


class Manifest(Structure):
    _fields_ = [("key_id", c_char * (SAI_SEAL_KEY_ID_MAX + 1)), ("chunk_size", c_uint32),
                ("n_shards", c_size_t), ("shards", POINTER(Shard))]


class TfBytes(Structure):
    _fields_ = [("len", c_size_t), ("data", POINTER(c_uint8))]


class TfFeature(Structure):
    _fields_ = [("key", c_char_p), ("kind", c_int), ("n", c_size_t),
                ("floats", POINTER(c_float)), ("int64s", POINTER(c_int64)),
                ("bytes", POINTER(TfBytes))]


class Secret(Structure):  # sai_secret_t (include/secureai/crypto.h)
    _fields_ = [("data", POINTER(c_uint8)), ("len", c_size_t), ("map_len", c_size_t),
                ("locked", c_bool)]


class SealParams(Structure):
    _fields_ = [("key_id", c_char_p), ("chunk_size", c_uint32), ("excl", c_bool),
                ("mode", ctypes.c_uint), ("hash_output", c_bool)]


class OpenOpts(Structure):
    _fields_ = [("expect_key_id", c_char_p), ("map", c_bool)]


def _find() -> str:
    env = os.environ.get("SECUREAI_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "..", "..", "build", "libsecureai.so"),
                 os.path.join(here, "libsecureai.so")):
        if os.path.exists(cand):
            return os.path.normpath(cand)
    found = ctypes.util.find_library("secureai")
    if not found:
        raise OSError("libsecureai.so not found: build it (cmake --build build --target "
                      "secureai_shared) or set SECUREAI_LIB")
    return found


lib = ctypes.CDLL(_find())
_vp, _e = c_void_p, POINTER(SaiError)


def _sig(name: str, res, *args) -> None:
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)


_sig("sai_seal_key_load", c_int, POINTER(c_void_p), c_char_p, _e)
_sig("sai_secret_free", None, c_void_p)
_sig("sai_dataset_open", c_int, POINTER(_vp), c_char_p, c_void_p, _e)
_sig("sai_dataset_close", None, _vp)
_sig("sai_dataset_manifest", POINTER(Manifest), _vp)
_sig("sai_dataset_id", POINTER(c_uint8), _vp)
_sig("sai_dataset_find", ctypes.c_long, _vp, c_char_p)
_sig("sai_dataset_records_open", c_int, POINTER(_vp), _vp, c_size_t, _e)
_sig("sai_dataset_records_count", c_uint64, _vp)
_sig("sai_dataset_records_get", c_int, _vp, c_uint64, POINTER(POINTER(c_uint8)),
     POINTER(c_size_t), _e)
_sig("sai_dataset_records_close", None, _vp)
_sig("sai_seal_writer_new", c_int, POINTER(_vp), c_char_p, c_void_p, POINTER(SealParams),
     c_uint64, _e)
_sig("sai_seal_writer_write", c_int, _vp, c_void_p, c_size_t, _e)
_sig("sai_seal_writer_finish", c_int, _vp, c_void_p, _e)
_sig("sai_seal_writer_free", None, _vp)
_sig("sai_seal_open", c_int, POINTER(_vp), c_char_p, c_void_p, POINTER(OpenOpts), _e)
_sig("sai_seal_size", c_uint64, _vp)
_sig("sai_seal_read_at", c_int, _vp, c_uint64, c_void_p, c_size_t, _e)
_sig("sai_seal_close", None, _vp)
_sig("sai_tfexample_parse", c_int, POINTER(_vp), c_void_p, c_size_t, _e)
_sig("sai_tfexample_free", None, _vp)
_sig("sai_tfexample_count", c_size_t, _vp)
_sig("sai_tfexample_at", c_int, _vp, c_size_t, POINTER(TfFeature))
_sig("sai_tfexample_get", c_int, _vp, c_char_p, POINTER(TfFeature))
_sig("sai_wipe", None, c_void_p, c_size_t)


def wipe(buf, n: Optional[int] = None) -> None:
    """Overwrite a writable buffer (bytearray, ctypes array) with zeros the
    compiler cannot elide (sai_wipe)."""
    if isinstance(buf, bytearray):
        if len(buf):
            lib.sai_wipe((c_char * len(buf)).from_buffer(buf), len(buf))
        return
    lib.sai_wipe(buf, ctypes.sizeof(buf) if n is None else n)
