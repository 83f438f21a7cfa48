#!/usr/bin/env bash
# wharf pull vs skopeo copy docker://: debian-python from a local CNCF distribution
# registry into an empty destination. Both run alternately in one run; reports medians,
# peak RSS and ratios, then how much a pull of debian-python after debian-minbase transfers.
#
#   bench/pull.sh [RUNS]        (default 7; needs ../shared/images, skopeo, docker-registry)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
need_image debian-python
need skopeo docker-registry
need_time

wharf=$(wharf_binary)
work=$(mktemp -d)
registry_pid=
trap '[ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $host
  secret: wharf-bench
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.05
done
# Isolated from the machine's logins and wharf config.
export DOCKER_CONFIG=$work/docker XDG_CONFIG_HOME=$work/config

for image in debian-minbase debian-python; do
  skopeo copy -q --dest-tls-verify=false "oci:$images/$image:bookworm" "docker://$host/$image:bookworm"
done

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
  measure wharf "$wharf" --root "$work/dest" pull "$host/debian-python:bookworm"
  measure skopeo skopeo copy -q --src-tls-verify=false "docker://$host/debian-python:bookworm" "oci:$work/dest:bookworm"
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

# The shared base: after debian-minbase, debian-python must transfer only its own layer.
rm -rf "$work/dest"
"$wharf" --root "$work/dest" pull -q "$host/debian-minbase:bookworm" >/dev/null
mark=$(wc -c <"$work/registry.log")
"$wharf" --root "$work/dest" pull "$host/debian-python:bookworm"
python3 - "$work/registry.log" "$mark" <<'PY'
import re, sys
log = open(sys.argv[1], "rb").read()[int(sys.argv[2]):].decode(errors="replace")
sent = [int(m.group(1)) for m in re.finditer(r'"GET /v2/[^ ]*/blobs/[^ ]* HTTP/1.1" 20[06] (\d+)', log)]
print(f"debian-python after debian-minbase: {len(sent)} blob GETs, {sum(sent) / 2**20:.1f} MiB transferred")
PY
