"""secureai.torch — PyTorch on sealed data.

* :class:`SealedDataset`: a ``torch.utils.data.Dataset`` of (image, label)
  pairs read from a sealed dataset, decrypting only the chunks each sample
  spans; safe with ``DataLoader(num_workers>0)`` under fork.
* :func:`save` / :func:`load`: ``torch.save``/``torch.load`` through the
  sealed-file format of ``secureai seal`` (``secureai unseal`` opens what
  ``save`` wrote and ``load`` opens what ``secureai seal`` wrote). The
  serialized bytes go from memory to the sealing writer and back; no
  plaintext file is ever created.
"""
from __future__ import annotations

import ctypes
import io
import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import torch as _torch
from torch.utils.data import Dataset as _Dataset

from . import (FormatError, KeyLike, SealedDataset as _Records, _check, _err, _lib, as_key,
               parse_example)
from ._lib import lib

__all__ = ["SealedDataset", "save", "load"]


class SealedDataset(_Dataset):
    """(image, label) samples of a sealed dataset.

    Two layouts:

    * IDX pairs (MNIST / Fashion-MNIST sealed uncompressed): ``images`` and
      ``labels`` name the two shards; an image is ``shape`` uint8 pixels.
    * TFRecord: ``shard`` (or every TFRecord shard) with ``features`` mapping
      ``"image"`` and ``"label"`` to Example keys. The image feature is a
      float list (``image_scale``/``image_offset`` map it to 0..1) or one
      bytes value of raw uint8 pixels.

    Images come out as float tensors of ``shape`` in [0, 1] (before
    ``transform``), labels as ints.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], key: KeyLike, *,
                 images: Optional[str] = None, labels: Optional[str] = None,
                 shard: Optional[str] = None, features: Optional[Dict[str, str]] = None,
                 shape: Sequence[int] = (1, 28, 28), image_scale: float = 1.0,
                 image_offset: float = 0.0, transform: Optional[Callable] = None,
                 expect_id: Optional[str] = None):
        self.shape: Tuple[int, ...] = tuple(shape)
        self.transform = transform
        self.scale, self.offset = image_scale, image_offset
        k = as_key(key)
        if images is not None or labels is not None:
            if images is None or labels is None:
                raise ValueError("images and labels go together")
            self._img = _Records(path, k, shard=images, expect_id=expect_id)
            self._lab = _Records(path, k, shard=labels, expect_id=expect_id)
            if len(self._img) != len(self._lab):
                raise FormatError(_lib.EFORMAT, "%s: %d images but %d labels"
                                  % (path, len(self._img), len(self._lab)))
            self._features = None
        else:
            self._img = _Records(path, k, shard=shard, expect_id=expect_id)
            self._lab = None
            self._features = features or {"image": "image", "label": "label"}
        self.id = self._img.id

    def __len__(self) -> int:
        return len(self._img)

    def __getitem__(self, i: int) -> Tuple[Any, int]:
        n = 1
        for d in self.shape:
            n *= d
        if self._lab is not None:
            raw = self._img[i]
            if len(raw) != n:
                raise FormatError(_lib.EFORMAT, "record %d has %d bytes, shape needs %d"
                                  % (i, len(raw), n))
            x = _torch.frombuffer(bytearray(raw), dtype=_torch.uint8).float().div_(255.0)
            y = int(self._lab[i][0])
        else:
            ex = parse_example(self._img[i])
            fi, fl = self._features["image"], self._features["label"]
            if fi not in ex or fl not in ex:
                raise FormatError(_lib.EFORMAT, "record %d lacks feature %r or %r" % (i, fi, fl))
            v = ex[fi]
            if v and isinstance(v[0], bytes):
                x = _torch.frombuffer(bytearray(v[0]), dtype=_torch.uint8).float().div_(255.0)
            else:
                x = _torch.tensor(v, dtype=_torch.float32).mul_(self.scale).add_(self.offset)
            if x.numel() != n:
                raise FormatError(_lib.EFORMAT, "record %d: image has %d values, shape needs %d"
                                  % (i, x.numel(), n))
            y = int(ex[fl][0])
        x = x.reshape(self.shape)
        if self.transform is not None:
            x = self.transform(x)
        return x, y


def save(obj: Any, path: Optional[Union[str, "os.PathLike[str]"]] = None, key: Optional[KeyLike] = None, *,
         key_id: str = "default", chunk_size: int = 0, overwrite: bool = False) -> None:
    """``torch.save(obj)`` sealed to ``path`` (the ``secureai seal`` format).

    The pickle is built in memory, sealed chunk by chunk into
    ``<path>.tmp.XXXXXX`` and renamed onto ``path`` only when complete; the
    in-memory plaintext is wiped afterwards.

    In the framework mode of ``secureai run`` call it with no path and no
    key: the bytes go to the enclave, which seals them under the model key
    of the spec and names them in the signed provenance statement."""
    if path is None:
        from . import pipeline as _pl
        if key is not None or not _pl.active():
            raise ValueError("save without a path is the pipeline's model (secureai run, framework mode); "
                             "otherwise give path and key")
        buf = io.BytesIO()
        _torch.save(obj, buf)
        view = buf.getbuffer()
        try:
            _pl._save_bytes(view)
        finally:
            if len(view):
                lib.sai_wipe((ctypes.c_char * len(view)).from_buffer(view), len(view))
            view.release()
            buf.close()
        return
    if key is None:
        raise ValueError("a key is needed to seal to a path")
    k = as_key(key)
    buf = io.BytesIO()
    _torch.save(obj, buf)
    view = buf.getbuffer()
    n = len(view)
    w = ctypes.c_void_p()
    p = _lib.SealParams(key_id.encode(), chunk_size, not overwrite, 0o600, False)
    err = _err()
    try:
        _check(lib.sai_seal_writer_new(ctypes.byref(w), os.fsencode(path), k.ptr, ctypes.byref(p),
                                       n, ctypes.byref(err)), err)
        cbuf = (ctypes.c_char * n).from_buffer(view) if n else None
        _check(lib.sai_seal_writer_write(w, cbuf, n, ctypes.byref(err)), err)
        _check(lib.sai_seal_writer_finish(w, None, ctypes.byref(err)), err)
    finally:
        if w:
            lib.sai_seal_writer_free(w)
        if n:
            lib.sai_wipe((ctypes.c_char * n).from_buffer(view), n)
        cbuf = None
        view.release()
        buf.close()


def load(path: Union[str, "os.PathLike[str]"], key: KeyLike, *, map_location: Any = None,
         expect_key_id: Optional[str] = None) -> Any:
    """``torch.load`` of a sealed file: every chunk is authenticated while it
    is decrypted into memory (any change to the file raises
    :class:`secureai.AuthenticationError` naming the chunk) before a byte
    reaches the unpickler."""
    k = as_key(key)
    r = ctypes.c_void_p()
    o = _lib.OpenOpts(expect_key_id.encode() if expect_key_id else None, False)
    err = _err()
    _check(lib.sai_seal_open(ctypes.byref(r), os.fsencode(path), k.ptr, ctypes.byref(o),
                             ctypes.byref(err)), err)
    pt = bytearray()
    try:
        n = lib.sai_seal_size(r)
        pt = bytearray(n)
        if n:
            _check(lib.sai_seal_read_at(r, 0, (ctypes.c_char * n).from_buffer(pt), n,
                                        ctypes.byref(err)), err)
        with io.BytesIO(pt) as f:
            return _torch.load(f, map_location=map_location)
    finally:
        lib.sai_seal_close(r)
        _lib.wipe(pt)
