#!/usr/bin/env bash
# wharf append vs tar | gzip -6: a new gzip layer from a 100 MB directory (half
# compressible text in files of many sizes, half random bytes), generated here with a
# fixed seed. wharf writes the layer into a fresh store (fsynced, both digests computed);
# the peer only compresses to /dev/null. Both run alternately in one run; reports
# medians, peak RSS, output sizes and ratios.
#
#   bench/append.sh [RUNS]      (default 5; needs python3, tar, gzip, /usr/bin/time)
#   WHARF_BIN=target/debug/wharf bench/append.sh 3
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. bench/lib.sh
need_time

wharf=$(wharf_binary)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work/input" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(5)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10))) for _ in range(5000)]
def text(n):
    out, size = [], 0
    while size < n:
        line = ' '.join(rng.choice(words) for _ in range(rng.randint(3, 14))) + '\n'
        out.append(line); size += len(line)
    return ''.join(out)[:n].encode()
total = 0
# 50 MB of text: 2000 small files (4-20 KB) and the rest in 1-4 MB files.
for i in range(2000):
    d = os.path.join(root, 'text', f'd{i % 40:02}')
    os.makedirs(d, exist_ok=True)
    n = rng.randint(4 << 10, 20 << 10)
    open(os.path.join(d, f'f{i:04}.txt'), 'wb').write(text(n)); total += n
i = 0
while total < 50 << 20:
    n = min(rng.randint(1 << 20, 4 << 20), (50 << 20) - total)
    open(os.path.join(root, 'text', f'big{i:02}.txt'), 'wb').write(text(n)); total += n; i += 1
# 50 MB of random bytes (already-compressed assets, binaries).
os.makedirs(os.path.join(root, 'bin'), exist_ok=True)
for i in range(25):
    open(os.path.join(root, 'bin', f'blob{i:02}.bin'), 'wb').write(rng.randbytes(2 << 20)); total += 2 << 20
print(f"input: {total / (1 << 20):.0f} MiB in {sum(len(f) for _, _, f in os.walk(root))} files")
PY

measure() { rm -rf "$work/store"; timed_run "$@"; }

for i in $(seq "$runs"); do
  measure wharf "$wharf" --root "$work/store" append scratch "$work/input" -t bench:1
  measure tar-gzip sh -c "tar -c -C '$work/input' . | gzip -6 > /dev/null"
done

# Output sizes (once, outside the timings).
"$wharf" --root "$work/store" append scratch "$work/input" -t bench:1 >/dev/null
wharf_size=$("$wharf" --root "$work/store" inspect bench:1 | python3 -c '
import json, sys, os
doc = json.load(sys.stdin)[0]
root = sys.argv[1]
m = json.load(open(os.path.join(root, "blobs/sha256", doc["Descriptor"]["digest"][7:])))
print(m["layers"][0]["size"])' "$work/store")
gzip_size=$(tar -c -C "$work/input" . | gzip -6 | wc -c)

python3 - "$work" "$wharf_size" "$gzip_size" "$(nproc)" <<'PY'
import sys
sys.path.insert(0, "bench")
from results import table
work, wharf_size, gzip_size, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = table(work, ("wharf", "tar-gzip"), "tool")
w, g = rows["wharf"], rows["tar-gzip"]
print(f"wharf append is {g[0] / w[0]:.2f}x as fast as tar | gzip -6 on {cores} cores")
print(f"layer size: wharf {wharf_size / 2**20:.2f} MiB, gzip -6 {gzip_size / 2**20:.2f} MiB ({wharf_size / gzip_size:.4f}x)")
PY
