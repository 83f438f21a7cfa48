#!/usr/bin/env bash
# wharf unpack vs umoci unpack: debian-python into a new directory — from a store holding
# only it (a one-off: every layer extracted straight into the target, each file written
# once), the same with `--snapshots` (every layer snapshotted, then copied: what every
# unpack did before), and from a store that also holds debian-minbase (the shared base
# layer is snapshotted, the top layer extracted straight) — then debian-minbase after it
# (the base's snapshot copied, and with --link). Alternating runs in one run; medians and
# ratios.
# Finally both trees of debian-python (and of debian-minbase) are compared entry by
# entry: paths, types, modes, owners, sizes, content hashes, link targets, hard-link
# groups, xattrs. Then from a registry (a local distribution): `wharf unpack --no-store
# docker://…` (download, verify, inflate and apply in one pass, nothing stored) against
# the peers' pipeline, `skopeo copy docker://… oci:…` then `umoci unpack`; `wharf unpack
# docker://…` keeping the image in a fresh store (one download into both); and, when a
# Docker Engine answers, `docker pull` of the same image (removed before each run): the
# Engine's own registry-to-root-filesystem path. The two wharf registry rows run again on
# the same image with zstd layers (`wharf copy --dest-compress zstd`).
#
#   bench/unpack.sh [RUNS]      (default 5; needs ../shared/images, umoci, skopeo,
#                                docker-registry, root)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
need_image debian-python
need umoci skopeo docker-registry
need_time
[ "$(id -u)" = 0 ] || echo "note: not root: wharf applies layers directly (no snapshots), umoci runs --rootless" >&2

wharf=$(wharf_binary)
work=$(mktemp -d)
trap 'pkill -f "docker-registry serve $work/" 2>/dev/null; [ -z "${docker:-}" ] || forget_docker_images; rm -rf "$work"' EXIT
store=$work/store
alone=$work/alone          # debian-python only: nothing shared
snapstore=$work/snapstore  # debian-python only, unpacked with --snapshots
rootless=(); [ "$(id -u)" = 0 ] || rootless=(--rootless)

"$wharf" --root "$store" load -i "$images/debian-python" -t debian-python >/dev/null
"$wharf" --root "$store" load -i "$images/debian-minbase" -t debian-minbase >/dev/null
"$wharf" --root "$alone" load -i "$images/debian-python" -t debian-python >/dev/null
"$wharf" --root "$snapstore" load -i "$images/debian-python" -t debian-python >/dev/null
reg=$(start_registry reg)
docker=; docker info >/dev/null 2>&1 && docker=docker
# Every debian-python Docker holds, under any registry's name (the registry's port differs
# from run to run): otherwise a pull finds its layers present and only adds a tag.
forget_docker_images() {
  docker images --format '{{.ID}} {{.Repository}}' | awk '$2 ~ /debian-python$/ {print $1}' \
    | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
}
skopeo copy -q --dest-tls-verify=false "oci:$images/debian-python:bookworm" "docker://$reg/debian-python:bookworm"
# The same image with zstd layers (the config, so the tree, unchanged).
"$wharf" --root "$work/zstd-maker" copy -q --dest-compress zstd "docker://$reg/debian-python:bookworm" "docker://$reg/debian-python:zstd" >/dev/null
python=docker.io/library/debian-python:bookworm
minbase=docker.io/library/debian-minbase:bookworm

measure() { timed_run "$@"; }

# Each run's trees are moved aside, not deleted: on this machine's ext4 (no journal),
# creating files within minutes of deleting thousands scans the inode table for
# "recently deleted" inodes (ext4 recently_deleted(), 60% of a run's CPU in perf), which
# measured the previous run's `rm -rf` rather than either tool. Deleted at the end.
mkdir -p "$work/trash"
for i in $(seq "$runs"); do
  mkdir "$work/trash/$i"
  for old in "$work"/out-* "$work"/peer-layout "$store/.wharf/snapshots" "$alone/.wharf/snapshots" "$snapstore/.wharf/snapshots"; do
    [ -e "$old" ] && mv "$old" "$work/trash/$i/$(basename "$old")-$RANDOM"
  done
  measure wharf-python-alone "$wharf" --root "$alone" unpack debian-python:bookworm "$work/out-alone"
  measure wharf-python-snapshots "$wharf" --root "$snapstore" unpack --snapshots debian-python:bookworm "$work/out-snapshots"
  measure wharf-python "$wharf" --root "$store" unpack debian-python:bookworm "$work/out-wharf"
  measure wharf-minbase-shared "$wharf" --root "$store" unpack debian-minbase:bookworm "$work/out-minbase"
  measure wharf-minbase-link "$wharf" --root "$store" unpack --link debian-minbase:bookworm "$work/out-minbase-link"
  measure umoci-python umoci unpack "${rootless[@]}" --image "$store:$python" "$work/out-umoci"
  measure wharf-streamed "$wharf" unpack --no-store "docker://$reg/debian-python:bookworm" "$work/out-streamed"
  measure wharf-streamed-zstd "$wharf" unpack --no-store "docker://$reg/debian-python:zstd" "$work/out-streamed-zstd"
  mv "$work/kept-store" "$work/trash/$i/kept-store" 2>/dev/null || true
  measure wharf-streamed-kept "$wharf" --root "$work/kept-store" unpack "docker://$reg/debian-python:bookworm" "$work/out-kept"
  mv "$work/kept-zstd" "$work/trash/$i/kept-zstd" 2>/dev/null || true
  measure wharf-streamed-kept-zstd "$wharf" --root "$work/kept-zstd" unpack "docker://$reg/debian-python:zstd" "$work/out-kept-zstd"
  if [ -n "$docker" ]; then
    forget_docker_images
    measure docker-pull docker pull -q "$reg/debian-python:bookworm"
  fi
  measure skopeo-umoci bash -c "skopeo copy -q --src-tls-verify=false docker://$reg/debian-python:bookworm oci:$work/peer-layout:x && umoci unpack ${rootless[*]} --image $work/peer-layout:x $work/out-peer >/dev/null"
done
umoci unpack "${rootless[@]}" --image "$store:$minbase" "$work/out-umoci-minbase" >/dev/null

python3 - "$work" <<'PY'
import hashlib, os, stat, statistics, sys
work = sys.argv[1]
med = {n: statistics.median(float(l.split()[0]) for l in open(f"{work}/{n}.times"))
       for n in ("wharf-python-alone", "wharf-python-snapshots", "wharf-python", "umoci-python",
                 "wharf-minbase-shared", "wharf-minbase-link", "wharf-streamed", "wharf-streamed-kept",
                 "wharf-streamed-zstd", "wharf-streamed-kept-zstd",
                 "skopeo-umoci", "docker-pull") if os.path.exists(f"{work}/{n}.times")}
print(f"{'run':<34}{'median s':>10}")
for n, t in med.items():
    print(f"{n:<34}{t:>10.3f}")
print(f"wharf unpack debian-python (one-off, each file written once) is {med['umoci-python'] / med['wharf-python-alone']:.2f}x faster than umoci (target >= 5x)")
print(f"  with every layer snapshotted first (--snapshots): {med['umoci-python'] / med['wharf-python-snapshots']:.2f}x; "
      f"with the base shared with debian-minbase (base snapshotted): {med['umoci-python'] / med['wharf-python']:.2f}x")
for n in ("wharf-minbase-shared", "wharf-minbase-link"):
    print(f"{n} is {med['wharf-python'] / med[n]:.1f}x faster than the first debian-python unpack (target >= 20x)")
print(f"from a registry: wharf unpack --no-store is {med['skopeo-umoci'] / med['wharf-streamed']:.2f}x faster than skopeo copy + umoci unpack")
print(f"from a registry, the same image as zstd: --no-store {med['wharf-streamed'] / med['wharf-streamed-zstd']:.2f}x, "
      f"kept {med['wharf-streamed-kept'] / med['wharf-streamed-kept-zstd']:.2f}x faster than as gzip (target >= 1.5x)")
if "docker-pull" in med:
    print(f"from a registry: wharf unpack docker:// (kept in the store) is {med['docker-pull'] / med['wharf-streamed-kept']:.2f}x faster than docker pull (target >= 6x)")

def describe(root):
    out, groups = {}, {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(kind):
                what = ("file", st.st_size, hashlib.sha256(open(p, "rb").read()).hexdigest())
            elif stat.S_ISLNK(kind):
                what = ("symlink", os.readlink(p))
            elif stat.S_ISDIR(kind):
                what = ("dir",)
            else:
                what = ("special", kind, st.st_rdev)
            try:
                xattrs = sorted((k, os.getxattr(p, k, follow_symlinks=False))
                                for k in os.listxattr(p, follow_symlinks=False)
                                if k.startswith(("user.", "trusted.")) or k == "security.capability")
            except OSError:
                xattrs = []
            key = None
            if not stat.S_ISDIR(kind) and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                groups.setdefault(key, []).append(rel)
            mode = None if stat.S_ISLNK(kind) else stat.S_IMODE(st.st_mode)
            out[rel] = (what, mode, st.st_uid, st.st_gid, tuple(xattrs), key)
    # A hard-link group is named by its smallest path, whatever the walk order.
    return {rel: v[:5] + (min(groups[v[5]]) if v[5] else None,) for rel, v in out.items()}

for name, ours, theirs in (("debian-python", "out-wharf", "out-umoci"),
                           ("debian-python one-off", "out-alone", "out-umoci"),
                           ("debian-python --snapshots", "out-snapshots", "out-umoci"),
                           ("debian-python streamed", "out-streamed", "out-umoci"),
                           ("debian-python streamed and kept", "out-kept", "out-umoci"),
                           ("debian-minbase", "out-minbase", "out-umoci-minbase")):
    a, b = describe(f"{work}/{ours}"), describe(f"{work}/{theirs}/rootfs")
    diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    print(f"{name}: {len(a)} entries from wharf, {len(b)} from umoci, {len(diff)} differ")
    for k in diff[:20]:
        print(f"  {k}: wharf={a.get(k)} umoci={b.get(k)}")
    if diff:
        sys.exit(1)
PY
