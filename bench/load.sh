#!/usr/bin/env bash
# wharf load vs skopeo copy: debian-python from its OCI layout into an empty destination.
# Both run alternately on the same data in one run; reports medians, peak RSS and ratios.
#
#   bench/load.sh [RUNS]        (default 7; needs ../shared/images and skopeo)
#   WHARF_BIN=path/to/wharf bench/load.sh   (measure a given binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
images=${WHARF_BENCH_IMAGES:-../shared/images}
src=$images/debian-python
. bench/lib.sh
bench_start skopeo

measure() { rm -rf "$work/dest"; timed_run "$@"; }

for i in $(seq "$runs"); do
  measure wharf "$wharf" --root "$work/dest" load -i "$src" -t debian-python
  measure skopeo skopeo copy -q "oci:$src:bookworm" "oci:$work/dest:bookworm"
done

python3 - "$work" <<'PY'
import sys
sys.path.insert(0, "bench")
from results import table
rows = table(sys.argv[1], ("wharf", "skopeo"), "tool")
w, s = rows["wharf"], rows["skopeo"]
print(f"wharf is {s[0] / w[0]:.2f}x faster than skopeo; peak memory {w[1] / s[1]:.2f}x skopeo's")
PY
