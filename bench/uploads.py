#!/usr/bin/env python3
"""N concurrent monolithic blob uploads (POST, then PUT with ?digest=) of SIZE random
bytes each to a registry on 127.0.0.1: the load for bench/serve.sh's peak-memory row.

    bench/uploads.py PORT [N] [SIZE_MIB]      (defaults 100 and 10)

Every upload must end 201 Created; prints the wall time in seconds."""
import hashlib
import http.client
import os
import sys
import threading
import time
from urllib.parse import urlsplit

port = int(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 100
size = (int(sys.argv[3]) if len(sys.argv) > 3 else 10) << 20

blobs = [os.urandom(size) for _ in range(count)]
digests = ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs]
start_barrier = threading.Barrier(count)
failures = []


def upload(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    repo = f"bench/upload{i % 10}"
    conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    r = conn.getresponse()
    r.read()
    if r.status != 202:
        failures.append(f"POST {r.status}")
        start_barrier.abort()
        return
    loc = urlsplit(r.getheader("Location"))
    path = loc.path + "?" + (loc.query + "&" if loc.query else "") + "digest=" + digests[i]
    try:
        start_barrier.wait(timeout=120)  # all PUTs in flight at once
    except threading.BrokenBarrierError:
        return
    conn.request(
        "PUT",
        path,
        body=blobs[i],
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
    )
    r = conn.getresponse()
    r.read()
    if r.status != 201:
        failures.append(f"PUT {r.status}")


threads = [threading.Thread(target=upload, args=(i,)) for i in range(count)]
t0 = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
if failures:
    sys.exit(f"{len(failures)} uploads failed: {failures[:5]}")
print(f"{time.monotonic() - t0:.2f}")
