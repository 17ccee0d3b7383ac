#!/usr/bin/python3
"""scan_memory.py KEY_HEX SECONDS [IGNORE_PIDS] — red-team attack 2: wait for an enclave
process (`secureai run --enclave-fd`), open its /proc/PID/mem and maps as
early as possible, and search its readable memory for the key. Exit 0 when
found, 1 when refused or not found, 2 when no enclave appeared. IGNORE_PIDS
(comma-separated) are enclaves that were there before this attack began."""
import os, sys, time

key, deadline = bytes.fromhex(sys.argv[1]), time.time() + float(sys.argv[2])
ignore = {int(p) for p in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if p}

def enclave_pid():
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) not in ignore:
            try:
                if b"--enclave-fd" in open(f"/proc/{p}/cmdline", "rb").read():
                    return int(p)
            except OSError:
                pass
    return None

pid = None
while pid is None and time.time() < deadline:
    pid = enclave_pid()
if pid is None:
    print("scan: no enclave appeared")
    sys.exit(2)
try:
    mem = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    maps = open(f"/proc/{pid}/maps")
except OSError as e:
    print(f"scan: enclave {pid}: {e.strerror}")
    sys.exit(1)
print(f"scan: opened /proc/{pid}/mem")
while time.time() < deadline:
    try:
        maps.seek(0)
        regions = maps.read().splitlines()
    except OSError:
        break
    if not regions:
        break                      # the process is gone
    for line in regions:
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        if "r" not in f[1] or hi - lo > (1 << 30):
            continue
        try:
            if key in os.pread(mem, hi - lo, lo):
                print(f"scan: found the dataset key in enclave {pid} at {lo:#x}")
                sys.exit(0)
        except OSError:
            pass
print("scan: key not found")
sys.exit(1)
