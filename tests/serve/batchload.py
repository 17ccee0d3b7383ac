#!/usr/bin/python3
"""batchload.py PORT CASE ... — concurrent load on `secureai serve` for its
dynamic batching (docs/serving.md). A test client: it skips the RA-TLS check
(the verifying client is `secureai infer` / python/secureai); what it checks
is the server's batching, not its evidence.

  batch PORT IMAGES.idx.gz CLIENTS PER_CLIENT
      The first CLIENTS*PER_CLIENT images, one per request, first one at a
      time on one connection, then from CLIENTS connections at once (each
      sends its PER_CLIENT images one request after another, all released
      together). Exit 0 when every image's top-3 classes are the same both
      ways and the probabilities agree within 1e-5; prints "same N".
  lone PORT IMAGES.idx.gz
      One request while another connection sits idle (so the server waits
      for it to join the batch, up to the bound); prints the request's
      latency in ms, measured here (TLS and HTTP included).
"""
import gzip, json, socket, ssl, struct, sys, threading, time

port, case = int(sys.argv[1]), sys.argv[2]


def images(path, n):
    with gzip.open(path, "rb") as f:
        magic, count, h, w = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803 and count >= n
        return [f.read(h * w) for _ in range(n)], h * w


def connect():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = ctx.wrap_socket(raw)
    s.do_handshake()
    return s


def predict(s, img):
    s.sendall(b"POST /v1/predict?top=3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-secureai-u8\r\n"
              b"Content-Length: %d\r\n\r\n" % len(img) + img)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise RuntimeError("closed")
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 "), head[:40]
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        body += s.recv(65536)
    return json.loads(body)["predictions"][0]["top"]


if case == "batch":
    clients, per = int(sys.argv[4]), int(sys.argv[5])
    imgs, _ = images(sys.argv[3], clients * per)
    s = connect()
    want = [predict(s, im) for im in imgs]
    s.close()
    got = [None] * len(imgs)
    conns = [connect() for _ in range(clients)]
    go = threading.Barrier(clients)
    errors = []

    def client(k):
        try:
            go.wait()
            for i in range(k * per, (k + 1) * per):
                got[i] = predict(conns[k], imgs[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for c in conns:
        c.close()
    if errors:
        sys.exit("client errors: %s" % errors[:3])
    for i, (a, b) in enumerate(zip(want, got)):
        if [t["class"] for t in a] != [t["class"] for t in b] or \
           any(abs(x["p"] - y["p"]) > 1e-5 for x, y in zip(a, b)):
            sys.exit("image %d: alone %s, concurrently %s" % (i, a, b))
    print("same", len(imgs))
elif case == "lone":
    imgs, _ = images(sys.argv[3], 1)
    idle = connect()
    s = connect()
    t0 = time.monotonic()
    predict(s, imgs[0])
    print("%.1f" % ((time.monotonic() - t0) * 1000))
    s.close()
    idle.close()
