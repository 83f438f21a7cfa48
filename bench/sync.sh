#!/usr/bin/env bash
# wharf sync vs skopeo sync between two local CNCF distribution registries: a namespace of
# 3 repositories x 4 tags, every image debian-python plus one small layer of its own (so
# they share debian-python's layers). Each run syncs into a fresh namespace of the
# destination (no tool's blob-info cache remembers earlier runs), then syncs the same
# thing again (what an unchanged mirror costs). Both tools run alternately in one run;
# reports medians, peak RSS, ratios, and how many blob uploads each run sent (from the
# destination's access log; sending each blob once is debian-python's layers + 12 x 2).
#
#   bench/sync.sh [RUNS]        (default 5; needs ../shared/images, skopeo, docker-registry)
#   WHARF_BIN=path/to/wharf bench/sync.sh   (measure a given binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
bench_start skopeo docker-registry
a=$(start_registry a)
b=$(start_registry b)

# The namespace: team/{a,b,c}:{1,2,3,4}, each debian-python plus a layer of its own.
"$wharf" --root "$work/store" load -i "$images/debian-python" -t debian-python >/dev/null
for repo in a b c; do
  for tag in 1 2 3 4; do
    mkdir -p "$work/layer-$repo-$tag"
    head -c 200000 /dev/urandom >"$work/layer-$repo-$tag/data"
    "$wharf" --root "$work/store" append -t "team/$repo:$tag" debian-python:bookworm "$work/layer-$repo-$tag" >/dev/null
    "$wharf" --root "$work/store" push -q "team/$repo:$tag" "$a/team/$repo:$tag" >/dev/null
  done
done
cat >"$work/skopeo.yaml" <<YML
$a:
  images:
    team/a: []
    team/b: []
    team/c: []
  tls-verify: false
YML
# Sending each blob once: debian-python's layers, then per image its own layer and config.
base_layers=$(python3 - "$images/debian-python" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(f"{d}/index.json"))["manifests"][0]["digest"].split(":")[1]
print(len(json.load(open(f"{d}/blobs/sha256/{m}"))["layers"]))
PY
)
echo $((base_layers + 24)) >"$work/once"

measure() {
  rm -rf "$work/home" /var/lib/containers/cache/blob-info-cache-v1.*
  HOME=$work/home timed_run "$@"
}

# Blob uploads finished (PUT .../blobs/uploads/...) into repositories under $1/.
uploads() { grep -c "\"PUT /v2/$1/[^\"]*/blobs/uploads/" "$work/b.log" || true; }

# The least a first sync can take: the registry receiving debian-python's largest layer once.
upload_floor_script "$b" "$images/debian-python" >"$work/floor.sh"

for i in $(seq "$runs"); do
  measure floor bash "$work/floor.sh" "floor-$i"
  measure wharf "$wharf" sync "docker://$a/team" "docker://$b/wharf-$i"
  measure wharf-again "$wharf" sync "docker://$a/team" "docker://$b/wharf-$i"
  echo "$(uploads "wharf-$i")" >>"$work/wharf.uploads"
  measure skopeo skopeo sync --src yaml --dest docker --dest-tls-verify=false "$work/skopeo.yaml" "$b/skopeo-$i"
  measure skopeo-again skopeo sync --src yaml --dest docker --dest-tls-verify=false "$work/skopeo.yaml" "$b/skopeo-$i"
  echo "$(uploads "skopeo-$i")" >>"$work/skopeo.uploads"
done

python3 - "$work" <<'PY'
import statistics, sys
sys.path.insert(0, "bench")
import results
work = sys.argv[1]
def row(name):
    return results.row(work, name)
def uploads(name):
    return statistics.median(int(l) for l in open(f"{work}/{name}.uploads"))
print(f"{'run':<14}{'median s':>10}{'peak RSS MiB':>14}")
for name in ("wharf", "skopeo", "wharf-again", "skopeo-again"):
    t, rss = row(name)
    print(f"{name:<14}{t:>10.3f}{rss:>14.1f}")
w, s = row("wharf"), row("skopeo")
print(f"sync: wharf is {s[0] / w[0]:.2f}x faster than skopeo sync (target 2x); peak memory {w[1] / s[1]:.2f}x skopeo's")
w2, s2 = row("wharf-again"), row("skopeo-again")
print(f"again (nothing changed): wharf is {s2[0] / w2[0]:.2f}x faster than skopeo sync")
floor = row("floor")[0]
print(f"reference: curl uploading only debian-python's largest layer once takes {floor:.3f} s; "
      f"the first sync takes wharf {w[0] / floor:.2f}x and skopeo {s[0] / floor:.2f}x that")
once = int(open(f"{work}/once").read())
print(f"blob uploads per run (first sync + again): wharf {uploads('wharf'):.0f}, "
      f"skopeo {uploads('skopeo'):.0f}; each blob sent once would be {once}")
PY
