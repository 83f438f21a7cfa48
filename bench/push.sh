#!/usr/bin/env bash
# wharf push vs skopeo copy oci: → docker://, and wharf copy vs skopeo copy between two
# registries: debian-python into a fresh repository of a local CNCF distribution registry
# each run (no mounts: each tool's blob-info cache is emptied before every run). Both tools
# run alternately in one run; reports medians, peak RSS and ratios.
#
#   bench/push.sh [RUNS]        (default 7; needs ../shared/images, skopeo, docker-registry)
#   WHARF_BIN=path/to/wharf bench/push.sh   (measure a given binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
bench_start skopeo docker-registry curl
a=$(start_registry a)
b=$(start_registry b)
# skopeo's blob-info cache lives in $HOME (or, for root, in /var/lib/containers/cache:
# emptied before each run below).
"$wharf" --root "$work/store" load -i "$images/debian-python" -t debian-python >/dev/null
HOME=$work/home skopeo copy -q --dest-tls-verify=false "oci:$images/debian-python:bookworm" "docker://$a/debian-python:bookworm"

measure() { # name, command...
  local name=$1; shift
  # No mounts from what an earlier run learned: empty both tools' blob-info caches.
  # skopeo run as root keeps its cache in /var/lib/containers/cache whatever $HOME says.
  rm -rf "$work/home" "$work/store/.wharf/blob-info.json" /var/lib/containers/cache/blob-info-cache-v1.*
  HOME=$work/home timed_run "$name" "$@"
}

# A reference for how much of a push is the registry's own work: curl uploading only the
# largest layer (POST, one streamed PATCH, PUT), no client work to speak of.
upload_floor_script "$b" "$images/debian-python" >"$work/floor.sh"

for i in $(seq "$runs"); do
  measure floor bash "$work/floor.sh" "floor-$i"
  measure push-wharf "$wharf" --root "$work/store" push debian-python:bookworm "$b/push-wharf-$i:bookworm"
  measure push-skopeo skopeo copy -q --dest-tls-verify=false "oci:$images/debian-python:bookworm" "docker://$b/push-skopeo-$i:bookworm"
  measure copy-wharf "$wharf" copy "docker://$a/debian-python:bookworm" "docker://$b/copy-wharf-$i:bookworm"
  measure copy-skopeo skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$a/debian-python:bookworm" "docker://$b/copy-skopeo-$i:bookworm"
done

python3 - "$work" <<'PY'
import sys
sys.path.insert(0, "bench")
import results
work = sys.argv[1]
def row(name):
    return results.row(work, name)
print(f"{'run':<14}{'median s':>10}{'peak RSS MiB':>14}")
for what, target in (("push", 1.6), ("copy", 1.5)):
    w, s = row(f"{what}-wharf"), row(f"{what}-skopeo")
    for name, (t, rss) in ((f"{what}-wharf", w), (f"{what}-skopeo", s)):
        print(f"{name:<14}{t:>10.3f}{rss:>14.1f}")
    print(f"{what}: wharf is {s[0] / w[0]:.2f}x faster than skopeo (target {target}x); peak memory {w[1] / s[1]:.2f}x skopeo's")
floor = row("floor")[0]
print(f"reference: curl uploading only the largest layer (POST, one PATCH, PUT) takes {floor:.3f} s; "
      f"the whole push takes wharf {row('push-wharf')[0] / floor:.2f}x and skopeo {row('push-skopeo')[0] / floor:.2f}x that")
PY
