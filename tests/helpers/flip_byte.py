#!/usr/bin/env python3
"""flip_byte.py FILE OFFSET — invert every bit of the byte at OFFSET, in place.

Tests that tamper with ciphertext use this instead of writing a fixed value:
a fixed value equals the random byte already there once in 256 runs, and
then the "tampered" file is the original."""
import sys

path, off = sys.argv[1], int(sys.argv[2], 0)
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    if len(b) != 1:
        sys.exit(f"flip_byte: {path} has no byte at {off}")
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
