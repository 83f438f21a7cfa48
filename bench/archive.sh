#!/usr/bin/env bash
# wharf copy vs skopeo copy through docker-archives, debian-python: a registry image into a
# docker-archive (layers decompressed on the way), and a docker-archive (skopeo's) into a
# fresh repository of a local CNCF distribution registry (layers gzipped on the way). Both
# tools run alternately in one run; reports medians, peak RSS and ratios, beside the disk
# writing the archive's bytes alone (a physical reference for the first direction).
#
#   bench/archive.sh [RUNS]        (default 5; needs ../shared/images, skopeo, docker-registry)
#   WHARF_BIN=path/to/wharf bench/archive.sh   (measure a given binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
bench_start skopeo docker-registry
a=$(start_registry a)
HOME=$work/home skopeo copy -q --dest-tls-verify=false "oci:$images/debian-python:bookworm" "docker://$a/debian-python:bookworm"
HOME=$work/home skopeo copy -q --src-tls-verify=false "docker://$a/debian-python:bookworm" "docker-archive:$work/source.tar:debian-python:bookworm"

measure() {
  rm -rf "$work/home" "$work"/out-*.tar /var/lib/containers/cache/blob-info-cache-v1.*
  HOME=$work/home timed_run "$@"
}

size_mib=$(( $(stat -c %s "$work/source.tar") / 1048576 + 1 ))
for i in $(seq "$runs"); do
  measure disk dd if=/dev/zero of="$work/out-disk.tar" bs=1M count="$size_mib" conv=fsync status=none
  measure out-wharf "$wharf" copy "docker://$a/debian-python:bookworm" "docker-archive:$work/out-wharf.tar:debian-python:bookworm"
  measure out-skopeo skopeo copy -q --src-tls-verify=false "docker://$a/debian-python:bookworm" "docker-archive:$work/out-skopeo.tar:debian-python:bookworm"
  measure in-wharf "$wharf" copy "docker-archive:$work/source.tar" "docker://$a/in-wharf-$i:bookworm"
  measure in-skopeo skopeo copy -q --dest-tls-verify=false "docker-archive:$work/source.tar" "docker://$a/in-skopeo-$i:bookworm"
done

python3 - "$work" "$size_mib" <<'PY'
import sys
sys.path.insert(0, "bench")
import results
work, size = sys.argv[1], sys.argv[2]
def row(name):
    return results.row(work, name)
print(f"{'run':<14}{'median s':>10}{'peak RSS MiB':>14}")
for what, label in (("out", "registry -> docker-archive"), ("in", "docker-archive -> registry")):
    w, s = row(f"{what}-wharf"), row(f"{what}-skopeo")
    for name, (t, rss) in ((f"{what}-wharf", w), (f"{what}-skopeo", s)):
        print(f"{name:<14}{t:>10.3f}{rss:>14.1f}")
    print(f"{label}: wharf is {s[0] / w[0]:.2f}x faster than skopeo; peak memory {w[1] / s[1]:.2f}x skopeo's")
disk = row("disk")[0]
print(f"reference: the disk writing {size} MiB (dd, fsync) takes {disk:.3f} s; "
      f"registry -> docker-archive takes wharf {row('out-wharf')[0] / disk:.2f}x and skopeo {row('out-skopeo')[0] / disk:.2f}x that")
PY
