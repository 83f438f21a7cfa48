#!/usr/bin/env bash
# wharf pull vs skopeo copy docker://: debian-python from a local CNCF distribution
# registry into an empty destination. Both run alternately in one run; reports medians,
# peak RSS and ratios, then how much a pull of debian-python after debian-minbase transfers.
# A reference row shows what this machine's disk allows: the image's blob files copied
# from the page cache (no network) into files, the way wharf writes them (writeback started
# every 2 MiB, fsync at the end) — a pull that keeps what it stored cannot be faster.
# skopeo does not fsync its blobs.
#
#   bench/pull.sh [RUNS]        (default 7; needs ../shared/images, skopeo, docker-registry)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
bench_start skopeo docker-registry
host=$(start_registry registry)

for image in debian-minbase debian-python; do
  skopeo copy -q --dest-tls-verify=false "oci:$images/$image:bookworm" "docker://$host/$image:bookworm"
done

measure() { rm -rf "$work/dest"; timed_run "$@"; }

# The reference: the image's blobs (the layout's blob files, all of them: debian-python's
# are its config, layers and manifest) written durably from memory, one after another.
cat >"$work/floor.py" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
src, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest)
names = sorted(os.listdir(src))
# Read before timing; written through memoryviews, since a slice of bytes would copy.
blobs = [memoryview(open(os.path.join(src, n), "rb").read()) for n in names]
sys.stdin.read()  # wait for the go
for name, data in zip(names, blobs):
    fd = os.open(os.path.join(dest, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    # 256 KiB writes as wharf's (a write of 2 MiB or more was 4x slower on Linux 6.18:
    # it gets a huge page-cache folio), writeback started every 2 MiB.
    step, behind = 256 << 10, 2 << 20
    for at in range(0, len(data), step):
        os.write(fd, data[at:at + step])
        if (at + step) % behind == 0:
            libc.sync_file_range(fd, at + step - behind, behind, 2)  # SYNC_FILE_RANGE_WRITE
    os.fsync(fd)
    os.close(fd)
PY

for i in $(seq "$runs"); do
  measure wharf "$wharf" --root "$work/dest" pull "$host/debian-python:bookworm"
  measure skopeo skopeo copy -q --src-tls-verify=false "docker://$host/debian-python:bookworm" "oci:$work/dest:bookworm"
  rm -rf "$work/dest"; sync; sleep 0.3
  python3 - "$images/debian-python/blobs/sha256" "$work/dest" "$work/floor" <<'PY'
import subprocess, sys, time
p = subprocess.Popen([sys.executable, sys.argv[3] + ".py", *sys.argv[1:3]], stdin=subprocess.PIPE)
time.sleep(1)  # loaded and waiting
start = time.perf_counter()
p.communicate(b"")
with open(sys.argv[3], "a") as f:
    f.write(f"{time.perf_counter() - start:.6f} 0\n")
PY
done

python3 - "$work" <<'PY'
import statistics, sys
sys.path.insert(0, "bench")
from results import table
work = sys.argv[1]
rows = table(work, ("wharf", "skopeo"), "tool")
w, s = rows["wharf"], rows["skopeo"]
print(f"wharf is {s[0] / w[0]:.2f}x faster than skopeo; peak memory {w[1] / s[1]:.2f}x skopeo's")
floor = statistics.median(float(l.split()[0]) for l in open(f"{work}/floor"))
print(f"reference: writing the image's blobs durably, from memory, takes {floor:.3f} s "
      f"(wharf {w[0] / floor:.2f}x that, skopeo {s[0] / floor:.2f}x; 3x skopeo would be "
      f"{s[0] / 3 / floor:.2f}x)")
PY

# The shared base: after debian-minbase, debian-python must transfer only its own layer.
rm -rf "$work/dest"
"$wharf" --root "$work/dest" pull -q "$host/debian-minbase:bookworm" >/dev/null
mark=$(wc -c <"$work/registry.log")
"$wharf" --root "$work/dest" pull "$host/debian-python:bookworm"
python3 - "$work/registry.log" "$mark" <<'PY'
import re, sys
log = open(sys.argv[1], "rb").read()[int(sys.argv[2]):].decode(errors="replace")
sent = [int(m.group(1)) for m in re.finditer(r'"GET /v2/[^ ]*/blobs/[^ ]* HTTP/1.1" 20[06] (\d+)', log)]
print(f"debian-python after debian-minbase: {len(sent)} blob GETs, {sum(sent) / 2**20:.1f} MiB transferred")
PY
