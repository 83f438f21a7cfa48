"""Fills a `wharf serve` with 10,000 repositories (one tagged image each) and one image of
50 layers, then requests the repository list and the image page and reports the server's
own latency for each (p50/p99 from its JSON access log) beside the client's.

    python3 bench/web.py HOST LOG REQUESTS
"""
import gzip, hashlib, http.client, io, json, os, random, statistics, sys, tarfile, threading, time

host, log_path, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
REPOSITORIES, LAYERS, THREADS = 10_000, 50, 4


def conn():
    h, p = host.split(":")
    return http.client.HTTPConnection(h, int(p), timeout=60)


def call(c, method, path, body=b"", headers=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if r.status >= 400:
        raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
    return data


def push_blob(c, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    call(c, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data,
         {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": len(data)}


def push_image(c, repo, tag, layers, seed):
    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(l)).hexdigest() for l in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": [f"app{seed}"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": f"step {i}"} for i in range(len(layers))]}).encode()
    cfg = push_blob(c, repo, config)
    cfg["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": cfg, "layers": [push_blob(c, repo, l) for l in layers]}).encode()
    call(c, "PUT", f"/v2/{repo}/manifests/{tag}", manifest,
         {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})


def layer(seed, files):
    out = io.BytesIO()
    rng = random.Random(seed)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in range(files):
            data = rng.randbytes(rng.randint(100, 20_000))
            info = tarfile.TarInfo(f"layer{seed}/dir{f % 7}/file{f}")
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue(), mtime=0)


def fill(start):
    c = conn()
    base = layer(0, 20)
    for i in range(start, REPOSITORIES, THREADS):
        push_image(c, f"bench/r{i:05}", "latest", [base], i)


began = time.time()
workers = [threading.Thread(target=fill, args=(t,)) for t in range(THREADS)]
for w in workers: w.start()
for w in workers: w.join()
c = conn()
push_image(c, "bench/big", "latest", [layer(1000 + i, 40) for i in range(LAYERS)], 1)
digest = "sha256:" + hashlib.sha256(call(c, "GET", "/v2/bench/big/manifests/latest",
                                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})).hexdigest()
print(f"filled {REPOSITORIES} repositories and a {LAYERS}-layer image in {time.time() - began:.0f} s")

pages = {
    "repository list": ["/", "/?after=bench%2Fr05000", "/?q=r09"],
    "image page (50 layers)": [f"/r/bench/big/-/image/{digest}"],
}
t = time.time(); call(c, "GET", pages["image page (50 layers)"][0])
print(f"first image page (reads the 50 layers once): {1000 * (time.time() - t):.0f} ms")
mark = os.path.getsize(log_path)
client = {name: [] for name in pages}
for i in range(requests):
    for name, paths in pages.items():
        t = time.perf_counter()
        call(c, "GET", paths[i % len(paths)])
        client[name].append(1000 * (time.perf_counter() - t))
time.sleep(0.5)

server = {name: [] for name in pages}
with open(log_path) as log:
    log.seek(mark)
    for line in log:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        latency = entry.get("fields", {}).get("latency")
        uri = entry.get("span", {}).get("uri", "")
        if not latency or not latency.endswith("μs"):
            continue
        ms = int(latency.split()[0]) / 1000
        name = "image page (50 layers)" if "/-/image/" in uri else "repository list"
        server[name].append(ms)


def p(samples, q):
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0]


print(f"{'page':<26}{'requests':>9}{'server p50':>12}{'server p99':>12}{'client p99':>12}")
for name in pages:
    s = server[name]
    print(f"{name:<26}{len(s):>9}{p(s, 50):>10.1f}ms{p(s, 99):>10.1f}ms{p(client[name], 99):>10.1f}ms")
worst = max(p(server[name], 99) for name in pages)
print(f"slowest p99 at the server: {worst:.1f} ms (target 50 ms)")
