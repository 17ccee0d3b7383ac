"""secureai — Python access to SecureAI's sealed data (a thin ctypes binding
over libsecureai.so; no code of its own touches ciphertext or keys).

    import secureai
    ds = secureai.SealedDataset("mnist.sealed", "data.key")
    len(ds), ds[17]                      # record 17: decrypts only its chunks
    ds.example(17)                       # a TFRecord record as {feature: values}

``secureai.torch`` adds a ``torch.utils.data.Dataset`` and sealed
``save``/``load``. Errors are :class:`SecureAIError` subclasses carrying the
C library's sentence (which names the file, chunk and record).

Keys: pass the path of a key file (``secureai keygen``; it is loaded by the
C library into locked memory and never becomes a Python object) or 32 raw
bytes (then a copy lives in Python memory, which cannot be wiped: prefer the
file, or the KBS inside a TEE).
"""
from __future__ import annotations

import ctypes
import os
from typing import Dict, Iterator, List, Optional, Union

from . import _lib
from ._lib import lib

__all__ = ["SecureAIError", "AuthenticationError", "FormatError", "NotFoundError",
           "UnsupportedError", "Key", "SealedDataset", "KeyLike"]

__version__ = "0.1.0"


class SecureAIError(Exception):
    """A libsecureai call failed; ``str(e)`` is the library's message and
    ``e.code`` its negative SAI_E* code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class AuthenticationError(SecureAIError):
    """SAI_EAUTH: a tag, MAC or hash did not verify (tampering or wrong key)."""


class FormatError(SecureAIError):
    """SAI_EFORMAT: well-formed bytes of the wrong layout."""


class NotFoundError(SecureAIError, FileNotFoundError):
    """SAI_ENOTFOUND: a named file, shard or feature does not exist."""


class UnsupportedError(SecureAIError):
    """SAI_EUNSUPP: not available for this input (e.g. records of a raw shard)."""


_BY_CODE = {_lib.EAUTH: AuthenticationError, _lib.EFORMAT: FormatError,
            _lib.ENOTFOUND: NotFoundError, _lib.EUNSUPP: UnsupportedError}


def _err() -> _lib.SaiError:
    return _lib.SaiError()


def _check(rc: int, err: _lib.SaiError, what: str = "") -> None:
    if rc != 0:
        msg = err.msg.decode("utf-8", "replace") or what or "libsecureai error %d" % rc
        raise _BY_CODE.get(rc, SecureAIError)(rc, msg)


KeyLike = Union[str, "os.PathLike[str]", bytes, bytearray, "Key"]


class Key:
    """A 32-byte data key held by the C library (a locked, wiped-on-free
    sai_secret_t when loaded from a file)."""

    def __init__(self, key: KeyLike):
        self._secret = ctypes.c_void_p()
        self._raw: Optional[ctypes.Array] = None
        if isinstance(key, Key):
            raise TypeError("already a Key")
        if isinstance(key, (bytes, bytearray)):
            if len(key) != _lib.SAI_SEAL_KEY_LEN:
                raise ValueError("a data key is exactly 32 bytes")
            self._raw = (ctypes.c_uint8 * 32).from_buffer_copy(bytes(key))
        else:
            err = _err()
            _check(lib.sai_seal_key_load(ctypes.byref(self._secret), os.fsencode(key),
                                         ctypes.byref(err)), err)

    @classmethod
    def _adopt(cls, secret: ctypes.c_void_p) -> "Key":
        """A Key owning a sai_secret_t the C library returned (secureai.kbs)."""
        k = cls.__new__(cls)
        k._secret, k._raw = secret, None
        return k

    def __len__(self) -> int:
        if self._raw is not None:
            return len(self._raw)
        if not self._secret:
            raise ValueError("key was closed")
        return ctypes.cast(self._secret, ctypes.POINTER(_lib.Secret)).contents.len

    @property
    def ptr(self) -> ctypes.c_void_p:
        """Pointer to the 32 key bytes, for the C calls."""
        if self._raw is not None:
            return ctypes.cast(self._raw, ctypes.c_void_p)
        if not self._secret:
            raise ValueError("key was closed")
        if len(self) != _lib.SAI_SEAL_KEY_LEN:
            raise ValueError("this secret is %d bytes, not a 32-byte data key" % len(self))
        return ctypes.cast(self._secret, ctypes.POINTER(ctypes.c_void_p))[0]

    def reveal(self) -> bytes:
        """The secret's bytes as a Python object: a copy the process cannot
        wipe (for a secret that is not a data key, e.g. a token). A data key
        needs no reveal: pass the Key itself."""
        if self._raw is not None:
            return bytes(self._raw)
        if not self._secret:
            raise ValueError("key was closed")
        s = ctypes.cast(self._secret, ctypes.POINTER(_lib.Secret)).contents
        return ctypes.string_at(s.data, s.len)

    def close(self) -> None:
        """Wipe and free the key now (also done on garbage collection)."""
        if self._raw is not None:
            _lib.wipe(self._raw)
            self._raw = None
        if self._secret:
            lib.sai_secret_free(self._secret)
            self._secret = ctypes.c_void_p()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def as_key(key: KeyLike) -> Key:
    return key if isinstance(key, Key) else Key(key)


_ADDRESSABLE = {_lib.REC_TFRECORD: "tfrecord", _lib.REC_CIFAR10_BIN: "cifar10-bin",
                _lib.REC_IDX: "idx"}
_FORMATS = ["raw", "cifar10-bin", "idx", "idx.gz", "tfrecord"]


class SealedDataset:
    """Random access to the records of a sealed dataset directory
    (``secureai seal DIR OUT``): idx, cifar10-bin and TFRecord shards.

    ``ds[i]`` returns record ``i`` as bytes, decrypting only the 64 KiB
    chunks it spans, after the manifest MAC and (once per process) each
    shard's ciphertext hash were checked. With ``shard=None`` the records of
    every addressable shard follow each other in manifest (name) order.

    Fork-safe: each process opens its own shard readers on first use (own
    file descriptors and chunk caches), so ``DataLoader(num_workers>0)``
    workers never share C state.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], key: KeyLike,
                 shard: Optional[str] = None, expect_id: Optional[str] = None):
        self.path = os.fspath(path)
        self._pid = -1
        self._readers: List[ctypes.c_void_p] = []
        self._key = as_key(key)
        self._d = ctypes.c_void_p()
        err = _err()
        _check(lib.sai_dataset_open(ctypes.byref(self._d), os.fsencode(self.path), self._key.ptr,
                                    ctypes.byref(err)), err)
        self.id: str = bytes(ctypes.string_at(lib.sai_dataset_id(self._d), 32)).hex()
        if expect_id is not None and expect_id.lower() != self.id:
            self.close()
            raise AuthenticationError(_lib.EAUTH, "%s: dataset identity %s is not the expected %s"
                                      % (self.path, self.id, expect_id))
        m = lib.sai_dataset_manifest(self._d).contents
        self.key_id: str = m.key_id.decode()
        self.shards: List[Dict[str, object]] = []
        for i in range(m.n_shards):
            s = m.shards[i]
            self.shards.append({"index": i, "name": s.name.decode(), "size": s.size,
                                "format": _FORMATS[s.format] if s.format < 5 else "?",
                                "records": s.records})
        if shard is not None:
            i = lib.sai_dataset_find(self._d, shard.encode())
            if i < 0:
                self.close()
                raise NotFoundError(_lib.ENOTFOUND, "%s: no shard named %s" % (self.path, shard))
            self._sel = [self.shards[i]]
            if self._sel[0]["format"] not in _ADDRESSABLE.values():
                self.close()
                raise UnsupportedError(_lib.EUNSUPP, "%s: a %s shard has no addressable records"
                                       % (shard, self._sel[0]["format"]))
        else:
            self._sel = [s for s in self.shards if s["format"] in _ADDRESSABLE.values()]
        self._starts: List[int] = []
        total = 0
        for s in self._sel:
            self._starts.append(total)
            total += int(s["records"])  # type: ignore[arg-type]
        self._len = total

    # -- per-process readers ---------------------------------------------------
    def _reader(self, j: int) -> ctypes.c_void_p:
        if self._pid != os.getpid():
            # a forked child: the parent's readers are its own; open new ones
            # (the inherited C objects are left alone, freed with the parent)
            self._readers = [ctypes.c_void_p() for _ in self._sel]
            self._pid = os.getpid()
        r = self._readers[j]
        if not r:
            err = _err()
            _check(lib.sai_dataset_records_open(ctypes.byref(r), self._d,
                                                int(self._sel[j]["index"]),  # type: ignore
                                                ctypes.byref(err)), err)
        return r

    def __len__(self) -> int:
        return self._len

    def _locate(self, i: int):
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("record %d of %d" % (i, self._len))
        lo, hi = 0, len(self._starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._starts[mid] <= i:
                lo = mid
            else:
                hi = mid - 1
        return lo, i - self._starts[lo]

    def record(self, i: int) -> bytes:
        """Record ``i`` (a TFRecord record's data, a CIFAR-10 3073-byte
        record, an IDX item)."""
        j, k = self._locate(i)
        r = self._reader(j)
        data = ctypes.POINTER(ctypes.c_uint8)()
        n = ctypes.c_size_t()
        err = _err()
        _check(lib.sai_dataset_records_get(r, k, ctypes.byref(data), ctypes.byref(n),
                                           ctypes.byref(err)), err)
        return ctypes.string_at(data, n.value)

    __getitem__ = record

    def __iter__(self) -> Iterator[bytes]:
        for i in range(self._len):
            yield self.record(i)

    def example(self, i: int) -> Dict[str, list]:
        """Record ``i`` of a TFRecord shard decoded as a tf.train.Example:
        ``{key: [values]}`` (bytes, float or int lists)."""
        return parse_example(self.record(i))

    def close(self) -> None:
        """Close every reader (this process's) and the dataset."""
        if self._pid == os.getpid():
            for r in self._readers:
                if r:
                    lib.sai_dataset_records_close(r)
        self._readers = []
        if self._d:
            lib.sai_dataset_close(self._d)
            self._d = ctypes.c_void_p()

    def __enter__(self) -> "SealedDataset":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _feature_values(f: _lib.TfFeature) -> list:
    if f.kind == _lib.FEAT_FLOAT:
        return f.floats[:f.n]
    if f.kind == _lib.FEAT_INT64:
        return f.int64s[:f.n]
    if f.kind == _lib.FEAT_BYTES:
        return [ctypes.string_at(f.bytes[k].data, f.bytes[k].len) for k in range(f.n)]
    return []


def parse_example(data: bytes) -> Dict[str, list]:
    """Decode a serialized tf.train.Example (libsecureai's protobuf-c decoder)."""
    ex = ctypes.c_void_p()
    err = _err()
    _check(lib.sai_tfexample_parse(ctypes.byref(ex), data, len(data), ctypes.byref(err)), err)
    try:
        out: Dict[str, list] = {}
        f = _lib.TfFeature()
        for i in range(lib.sai_tfexample_count(ex)):
            if lib.sai_tfexample_at(ex, i, ctypes.byref(f)) != 0:
                raise FormatError(_lib.EFORMAT, "feature %d unreadable" % i)
            out[f.key.decode("utf-8", "replace")] = _feature_values(f)
        return out
    finally:
        lib.sai_tfexample_free(ex)
