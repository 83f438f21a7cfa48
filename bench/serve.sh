#!/usr/bin/env bash
# wharf serve vs CNCF distribution (docker-registry 2.8), side by side in one run, same
# content (debian-minbase pushed to both with skopeo):
#   - GET manifest by tag and GET of a small blob: requests/s with wrk; HEAD of a blob:
#     requests/s with ab (wrk hangs on HEAD); 32 keep-alive connections, each server alone
#     on the machine while measured; ratio wharf/distribution
#   - GET of a 64 MiB blob: throughput (MiB/s, median of RUNS curl downloads)
#   - idle RSS of each server after the load
#   - peak RSS while 100 clients upload 10 MiB each at once (bench/uploads.py)
#
#   bench/serve.sh [SECONDS] [RUNS]   (defaults 10 and 5; needs ../shared/images, skopeo,
#                                       docker-registry, wrk, ab (`apt-get install wrk
#                                       apache2-utils`), curl, bc)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
runs=${2:-5}
images=${WHARF_BENCH_IMAGES:-../shared/images}
. bench/lib.sh
need_image debian-minbase
need skopeo docker-registry wrk ab curl python3

wharf=$(wharf_binary)
work=$(mktemp -d)
pids=()
# A server may be paused (SIGSTOP) when the script stops: resume it so it can die.
trap 'for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

dport=$(free_port)
cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/distribution
http:
  addr: 127.0.0.1:$dport
  secret: wharf-bench
YML
docker-registry serve "$work/registry.yml" >"$work/distribution.log" 2>&1 &
dpid=$!; pids+=("$dpid")
wport=$(free_port)
# Both servers' access logs are off.
"$wharf" serve --addr "127.0.0.1:$wport" --root "$work/wharf" --access-log false 2>"$work/wharf.log" &
wpid=$!; pids+=("$wpid")
wait_port "$dport"; wait_port "$wport"

export DOCKER_CONFIG=$work/docker XDG_CONFIG_HOME=$work/config
# A 64 MiB blob beside the image: an OCI layout with one extra layer-sized file pushed raw.
head -c $((64 << 20)) /dev/urandom >"$work/big"
big_digest=sha256:$(sha256sum "$work/big" | cut -d' ' -f1)
for port in $dport $wport; do
  skopeo copy -q --dest-tls-verify=false "oci:$images/debian-minbase:bookworm" "docker://127.0.0.1:$port/bench/minbase:v1"
  code=$(curl -s -X POST --data-binary @"$work/big" -H 'Content-Type: application/octet-stream' \
    "http://127.0.0.1:$port/v2/bench/minbase/blobs/uploads/?digest=$big_digest" -o /dev/null -w '%{http_code}')
  [ "$code" = 201 ] ||
    { # distribution does not take single-POST uploads (it answers 202): POST then PUT
      loc=$(curl -sfi -X POST "http://127.0.0.1:$port/v2/bench/minbase/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
      case $loc in http*) ;; *) loc=http://127.0.0.1:$port$loc ;; esac
      sep='?'; case $loc in *\?*) sep='&' ;; esac
      curl -sf -X PUT --data-binary @"$work/big" -H 'Content-Type: application/octet-stream' "$loc${sep}digest=$big_digest" -o /dev/null; }
done
accept='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json'
# The image's small config blob: for the GET and HEAD rows.
config=$(curl -sf -H "$accept" "http://127.0.0.1:$wport/v2/bench/minbase/manifests/v1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')

cat >"$work/accept.lua" <<LUA
wrk.headers["Accept"] = "${accept#Accept: }"
LUA
rps() { # url, script: requests/s
  wrk -t2 -c32 -d"${seconds}s" -s "$2" "$1" | awk '/Requests\/sec/ {print $2}'
}
head_rps() { # url: HEAD requests/s (ab: wrk waits forever for a HEAD response's body)
  ab -q -k -i -c32 -t"$seconds" -n 10000000 "$1" 2>/dev/null | awk '/Requests per second/ {print $4}'
}
pause() { kill -STOP "$1"; }
resume() { kill -CONT "$1"; }

declare -A result
for server in distribution wharf; do
  if [ $server = wharf ]; then port=$wport; other=$dpid; else port=$dport; other=$wpid; fi
  pause "$other"
  result[$server,manifest]=$(rps "http://127.0.0.1:$port/v2/bench/minbase/manifests/v1" "$work/accept.lua")
  result[$server,get]=$(rps "http://127.0.0.1:$port/v2/bench/minbase/blobs/$config" "$work/accept.lua")
  result[$server,head]=$(head_rps "http://127.0.0.1:$port/v2/bench/minbase/blobs/$config")
  speeds=()
  for _ in $(seq "$runs"); do
    speeds+=("$(curl -sf -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$port/v2/bench/minbase/blobs/$big_digest")")
  done
  result[$server,blob]=$(printf '%s\n' "${speeds[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] / 1048576}')
  resume "$other"
done
sleep 2
result[distribution,rss]=$(awk '/VmRSS/ {print $2}' /proc/$dpid/status)
result[wharf,rss]=$(awk '/VmRSS/ {print $2}' /proc/$wpid/status)
for server in distribution wharf; do
  if [ $server = wharf ]; then port=$wport; pid=$wpid; else port=$dport; pid=$dpid; fi
  echo 5 >/proc/$pid/clear_refs # resets VmHWM: the peak from here on
  result[$server,uploads]=$(python3 bench/uploads.py "$port" 100 10)
  result[$server,peak]=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
done

printf '%-32s %14s %14s %8s\n' "" distribution "wharf serve" ratio
row() { printf '%-32s %14.0f %14.0f %7.2fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }
row "GET manifest by tag (req/s)" "${result[distribution,manifest]}" "${result[wharf,manifest]}"
row "GET config blob (req/s)" "${result[distribution,get]}" "${result[wharf,get]}"
row "HEAD blob (req/s)" "${result[distribution,head]}" "${result[wharf,head]}"
row "GET 64 MiB blob (MiB/s)" "${result[distribution,blob]}" "${result[wharf,blob]}"
row "idle RSS (KiB)" "${result[distribution,rss]}" "${result[wharf,rss]}"
row "100 x 10 MiB uploads: peak KiB" "${result[distribution,peak]}" "${result[wharf,peak]}"
row "100 x 10 MiB uploads: seconds" "${result[distribution,uploads]}" "${result[wharf,uploads]}"
echo "(32 connections, ${seconds}s per wrk run; the server not measured is stopped with SIGSTOP)"
