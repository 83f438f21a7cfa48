#!/usr/bin/env bash
# wharf layers of debian-python from the store (every layer streamed once: inflated,
# hashed twice — sha256 for the diff_id, xxh3 per file — and its tar walked), beside the
# physical reference: inflating the same layers with zlib's gzip (`gzip -dc`) into
# /dev/null, one after the other and, as wharf does, two at once. Medians and ratios.
#
#   bench/layers.sh [RUNS]        (default 7; needs ../shared/images)
#   WHARF_BIN=path/to/wharf bench/layers.sh   (measure a given binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
bench_start gzip
"$wharf" --root "$work/store" load -i "$images/debian-python" -t debian-python >/dev/null
layers=$(layout_layers "$images/debian-python")
cat >"$work/serial.sh" <<SH
for l in $layers; do gzip -dc "\$l" >/dev/null; done
SH
cat >"$work/parallel.sh" <<SH
printf '%s\n' $layers | xargs -P 2 -I{} sh -c 'gzip -dc "{}" >/dev/null'
SH

measure() { timed_run "$@"; }

for _ in $(seq "$runs"); do
  measure wharf "$wharf" --root "$work/store" layers debian-python:bookworm
  measure gzip-serial bash "$work/serial.sh"
  measure gzip-parallel bash "$work/parallel.sh"
done

python3 - "$work" <<'PY'
import sys
sys.path.insert(0, "bench")
from results import table
rows = table(sys.argv[1], ("wharf", "gzip-serial", "gzip-parallel"))
w, g, p = rows["wharf"][0], rows["gzip-serial"][0], rows["gzip-parallel"][0]
print(f"wharf layers takes {w:.3f} s (target 0.5 s): {w / g:.2f}x gzip -dc of the layers one after the other, {w / p:.2f}x two at once")
PY
