#!/usr/bin/env bash
# Inflate throughput per core on debian-python's gzip layers, for each decoder tried:
# wharf's own (flate2 on zlib-rs, streaming), GNU gzip, pigz (zlib), ISA-L's igzip (Python
# `isal`), and libdeflate (whole buffers only: it cannot stream a layer from the network).
# Each pinned to one core (taskset), RUNS times, alternating; medians of MB/s of output.
#
#   bench/inflate.sh [RUNS]   (default 5; needs ../shared/images, gzip, pigz, taskset,
#                              libdeflate-gunzip (`apt-get install libdeflate-tools`),
#                              python3 with `isal` (`pip install isal`))
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
need_image debian-python
need gzip pigz taskset libdeflate-gunzip python3
python3 -c 'import isal' 2>/dev/null || { echo "python3 isal is not installed (pip install isal)" >&2; exit 1; }
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target} cargo build --release -q -p wharf-layer --example inflate >&2
inflate=${CARGO_TARGET_DIR:-$PWD/target}/release/examples/inflate

layers=$(layout_layers "$images/debian-python")
python3 - "$runs" "$inflate" $layers <<'PY'
import statistics, subprocess, sys, time
runs, inflate, layers = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
out_bytes = int(subprocess.run([inflate, *layers], capture_output=True, text=True, check=True).stdout.split()[0])
one = ["taskset", "-c", "0"]
decoders = {
    "wharf (flate2 + zlib-rs)": lambda: float(subprocess.run(one + [inflate, *layers], capture_output=True, text=True, check=True).stdout.split()[1]),
    "GNU gzip -dc": lambda: timed(one + ["sh", "-c", " ".join(f"gzip -dc {l} >/dev/null;" for l in layers)]),
    "pigz -dc (zlib)": lambda: timed(one + ["sh", "-c", " ".join(f"pigz -p 1 -dc {l} >/dev/null;" for l in layers)]),
    # In one process, timing the decoding loop only (no interpreter start-up).
    "ISA-L igzip (python isal, streaming)": lambda: float(subprocess.run(one + ["python3", "-c", ISAL, *layers], capture_output=True, text=True, check=True).stdout),
    "libdeflate-gunzip (whole buffer)": lambda: timed(one + ["sh", "-c", " ".join(f"libdeflate-gunzip -c {l} >/dev/null;" for l in layers)]),
}
ISAL = """
import sys, time
from isal import igzip
t = time.perf_counter()
for path in sys.argv[1:]:
    with igzip.open(path, "rb") as f:
        while f.read(1 << 20):
            pass
print(time.perf_counter() - t)
"""
def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t
samples = {name: [] for name in decoders}
for _ in range(runs):
    for name, run in decoders.items():
        samples[name].append(run())
print(f"{out_bytes / 1e6:.1f} MB of tar from {len(layers)} gzip layers, one core each")
print(f"{'decoder':<36}{'median s':>10}{'MB/s':>10}")
base = statistics.median(samples["wharf (flate2 + zlib-rs)"])
for name, s in samples.items():
    m = statistics.median(s)
    print(f"{name:<36}{m:>10.3f}{out_bytes / 1e6 / m:>10.0f}   ({base / m:.2f}x wharf's speed)")
PY
