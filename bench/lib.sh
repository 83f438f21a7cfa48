# Sourced by the bench scripts (from the repository root): checks and the binary to time.

# Every named tool is on PATH, else a clear exit.
need() {
  for tool; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install $tool)" >&2; exit 1; }
  done
}

# GNU time, for peak RSS (bench/timed.py adds a finer wall clock around it).
need_time() {
  [ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }
}

# The image directory $images/NAME exists.
need_image() {
  [ -d "$images/$1" ] || { echo "no $images/$1: benchmarks need ../shared/images" >&2; exit 1; }
}

# The common start of a script measuring debian-python: the image and the named tools
# checked, the binary to time in $wharf, a scratch directory in $work, removed on exit
# with the registries started in it (they run inside `$(...)` subshells, so their pids
# cannot be collected: they are stopped by their config files' paths), and the peers
# isolated from the machine's logins and configs.
bench_start() { # tools...
  need_image debian-python
  need "$@"
  need_time
  wharf=$(wharf_binary)
  work=$(mktemp -d)
  trap 'pkill -f "docker-registry serve $work/" 2>/dev/null; rm -rf "$work"' EXIT
  export DOCKER_CONFIG=$work/docker XDG_CONFIG_HOME=$work/config
}

# Runs a command once under bench/timed.py and appends "seconds max_rss_kb" to
# $work/NAME.times (bench/results.py reads them back). Each run starts after `sync`, so
# none pays for the previous one's writeback; a script removes what a run must not
# inherit (its destination, blob-info caches) before calling this.
timed_run() { # name, command...
  local name=$1; shift
  sync; sleep 0.3
  python3 bench/timed.py -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  cat "$work/t" >>"$work/$name.times"
}

# The layer blob files of the first image of the OCI layout DIR, space-separated, bottom
# first.
layout_layers() {
  python3 - "$1" <<'PY'
import json, sys
root = sys.argv[1]
index = json.load(open(f"{root}/index.json"))
manifest = json.load(open(f"{root}/blobs/sha256/{index['manifests'][0]['digest'].split(':')[1]}"))
print(" ".join(f"{root}/blobs/sha256/{l['digest'].split(':')[1]}" for l in manifest["layers"]))
PY
}

# The wharf to measure: $WHARF_BIN (a build made elsewhere), else a release build of this
# checkout (in $CARGO_TARGET_DIR, default target/).
wharf_binary() {
  if [ -n "${WHARF_BIN:-}" ]; then
    echo "$WHARF_BIN"
  else
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target} cargo build --release -q -p wharf >&2
    echo "${CARGO_TARGET_DIR:-$PWD/target}/release/wharf"
  fi
}

# Starts a CNCF distribution registry storing under $work/NAME, with its access log (one
# line per request) in $work/NAME.log; prints its host. Scripts stop it with
# `pkill -f "docker-registry serve $work/"` (it runs inside a `$(...)` subshell).
start_registry() {
  local name=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$work/$name.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $work/$name
http:
  addr: 127.0.0.1:$port
  secret: wharf-bench
YML
  docker-registry serve "$work/$name.yml" >"$work/$name.log" 2>&1 &
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.05
  done
  echo "127.0.0.1:$port"
}

# Prints a bash script that uploads LAYOUT's largest blob to HOST with curl (POST, one
# streamed PATCH, PUT) into the repository its first argument names: how long the
# registry itself takes for the bulk of a push, no client work to speak of.
upload_floor_script() {
  local host=$1 layout=$2 largest
  largest=$(ls -S "$layout/blobs/sha256/" | head -1)
  cat <<SH
set -e
loc=\$(curl -sf -i -X POST "http://$host/v2/\$1/blobs/uploads/" | tr -d '\r' | awk 'tolower(\$1)=="location:" {print \$2}')
case \$loc in http*) ;; *) loc=http://$host\$loc ;; esac
loc=\$(curl -sf -i -X PATCH -H 'Content-Type: application/octet-stream' -T "$layout/blobs/sha256/$largest" "\$loc" | tr -d '\r' | awk 'tolower(\$1)=="location:" {print \$2}')
case \$loc in http*) ;; *) loc=http://$host\$loc ;; esac
case \$loc in *\?*) sep='&' ;; *) sep='?' ;; esac
curl -sf -o /dev/null -X PUT "\$loc\${sep}digest=sha256:$largest"
SH
}
