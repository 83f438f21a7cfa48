#!/usr/bin/env bash
# Loads every image in ../shared/images into a fresh store and checks what wharf reports
# against that folder's README: manifest digests, image IDs (config digests), diff_ids,
# the base layer stored once, and skopeo/umoci reading the store. Prints what it checked;
# exits non-zero on the first disagreement.
#
#   bench/shared-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."
images=${WHARF_BENCH_IMAGES:-../shared/images}
[ -d "$images" ] || { echo "no $images" >&2; exit 1; }
cargo build --release -q
wharf=$PWD/target/release/wharf
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
w() { "$wharf" --root "$root" "$@"; }

w load -i "$images/debian-minbase" -t debian-minbase
w load -i "$images/debian-python" -t debian-python
w load -i "$images/busybox-multiarch" -t busybox-multiarch
w load -i "$images/busybox-multiarch.amd64.docker-archive.tar"
w load -i "$images/busybox-multiarch.arm64.docker-archive.tar"
w images --digests

python3 - "$root" "$wharf" "$images/README.md" <<'PY'
import json, os, re, subprocess, sys
root, wharf, readme = sys.argv[1:]
text = open(readme).read()

def w(*args):
    return subprocess.run([wharf, "--root", root, *args], check=True, capture_output=True, text=True).stdout

def inspect(ref, *extra):
    return json.loads(w("inspect", *extra, ref))[0]

def section(title):
    start = text.index(title)
    nxt = text.find("\n## ", start + 1)
    return text[start: nxt if nxt > 0 else None]

checks = 0
def check(what, got, want):
    global checks
    if got != want:
        sys.exit(f"MISMATCH {what}: wharf says {got!r}, README says {want!r}")
    checks += 1
    print(f"ok  {what}")

for name in ("debian-minbase", "debian-python"):
    s = section(f"## {name}")
    manifest = re.search(r"manifest `(sha256:[0-9a-f]{64})`", s).group(1)
    config = re.search(r"config `(sha256:[0-9a-f]{64})`", s).group(1)
    diff_ids = re.findall(r"\| `sha256:[0-9a-f]{64}` \| \d+ \| `(sha256:[0-9a-f]{64})`", s)
    doc = inspect(f"{name}:bookworm")
    check(f"{name} manifest digest", doc["Descriptor"]["digest"], manifest)
    check(f"{name} Id", doc["Id"], config)
    check(f"{name} RootFS.Layers", doc["RootFS"]["Layers"], diff_ids)

s = section("## busybox-multiarch")
index = re.search(r"image index `(sha256:[0-9a-f]{64})`", s).group(1)
for platform in ("linux/amd64", "linux/arm64/v8"):
    sub = s[s.index(f"### {platform}"):]
    config = re.search(r"config `(sha256:[0-9a-f]{64})`", sub).group(1)
    doc = inspect("busybox-multiarch:latest", "--platform", platform)
    check(f"busybox-multiarch index digest", doc["Descriptor"]["digest"], index)
    check(f"busybox-multiarch {platform} Id", doc["Id"], config)
for arch in ("amd64", "arm64"):
    want = inspect("busybox-multiarch:latest", "--platform", f"linux/{arch}")
    got = inspect(f"busybox-multiarch:{arch}")
    check(f"docker-archive {arch} Id", got["Id"], want["Id"])
    check(f"docker-archive {arch} RootFS.Layers", got["RootFS"]["Layers"], want["RootFS"]["Layers"])

shared = re.search(r"Shared between debian-minbase and debian-python: `(sha256:[0-9a-f]{64})`", text).group(1)
blobs = os.listdir(os.path.join(root, "blobs", "sha256"))
check("shared base layer stored once", blobs.count(shared.split(":")[1]), 1)
df = json.loads(w("system", "df", "--format", "json"))
by_name = {n: i for i in df["images"] for n in i["names"]}
base_size = os.path.getsize(os.path.join(root, "blobs", "sha256", shared.split(":")[1]))
check("system df: debian-python shares the base", by_name["docker.io/library/debian-python:bookworm"]["shared_size"] >= base_size, True)
check("system df: sharing saves the base once", df["size_without_sharing"] - df["images_size"] >= base_size, True)
print(f"{checks} checks passed")
PY

if command -v skopeo >/dev/null; then
  skopeo inspect "oci:$root:docker.io/library/debian-python:bookworm" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("skopeo reads the store:", d["Digest"], len(d["Layers"]), "layers")'
fi
if command -v skopeo >/dev/null; then
  w save -o "$root/python.tar" debian-python:bookworm
  want=$(w inspect debian-python:bookworm | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"]["Layers"])')
  got=$(skopeo inspect --config "docker-archive:$root/python.tar" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rootfs"]["diff_ids"])')
  [ "$want" = "$got" ] || { echo "MISMATCH: skopeo reads diff_ids $got from wharf save, wharf has $want" >&2; exit 1; }
  echo "ok  skopeo reads wharf save's docker-archive with the same diff_ids"
  rm -f "$root/python.tar"
fi
if command -v umoci >/dev/null; then
  echo "umoci ls --layout:"; umoci ls --layout "$root"
fi
w fsck
