#!/usr/bin/env bash
# wharf load vs skopeo copy: debian-python from its OCI layout into an empty destination.
# Both run alternately on the same data in one run; reports medians, peak RSS and ratios.
#
#   bench/load.sh [RUNS]        (default 7; needs ../shared/images and skopeo)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
src=${WHARF_BENCH_IMAGES:-../shared/images}/debian-python
[ -d "$src" ] || { echo "no $src: benchmarks need ../shared/images" >&2; exit 1; }
command -v skopeo >/dev/null || { echo "skopeo is not installed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }

cargo build --release -q
wharf=$PWD/target/release/wharf
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

measure() { # name, command...: appends "seconds max_rss_kb" to $work/name
  local name=$1; shift
  rm -rf "$work/dest"
  # Start each run with no dirty pages from the previous one, so neither tool pays for
  # the other's writeback.
  sync; sleep 0.3
  python3 bench/timed.py -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  cat "$work/t" >>"$work/$name"
}

for i in $(seq "$runs"); do
  measure wharf "$wharf" --root "$work/dest" load -i "$src" -t debian-python
  measure skopeo skopeo copy -q "oci:$src:bookworm" "oci:$work/dest:bookworm"
done

python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
rows = {}
for name in ("wharf", "skopeo"):
    samples = [tuple(map(float, l.split())) for l in open(f"{work}/{name}")]
    rows[name] = (statistics.median(s[0] for s in samples), max(s[1] for s in samples) / 1024)
print(f"{'tool':<8}{'median s':>10}{'peak RSS MiB':>14}")
for name, (t, rss) in rows.items():
    print(f"{name:<8}{t:>10.3f}{rss:>14.1f}")
w, s = rows["wharf"], rows["skopeo"]
print(f"wharf is {s[0] / w[0]:.2f}x faster than skopeo; peak memory {w[1] / s[1]:.2f}x skopeo's")
PY
