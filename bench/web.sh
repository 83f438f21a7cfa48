#!/usr/bin/env bash
# The web pages of `wharf serve` at scale: 10,000 repositories (one tagged image each) and
# an image of 50 layers, pushed over the API; then REQUESTS requests for the repository list
# (first page, a middle page, a search) and for the image page, one after the other. The
# server's latency per page (p50, p99) comes from its own access log (JSON, microseconds),
# the client's beside it. No peer has these pages (distribution has no UI), so there is
# no ratio: the target is p99 under 50 ms.
#
#   bench/web.sh [REQUESTS]        (default 300; needs python3)
#   WHARF_BIN=path/to/wharf bench/web.sh   (measure a given binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-300}
. bench/lib.sh
need python3

wharf=$(wharf_binary)
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$wharf" serve --addr "127.0.0.1:$port" --root "$work/registry" --log-format json 2>"$work/access.log" &
pid=$!
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
python3 bench/web.py "127.0.0.1:$port" "$work/access.log" "$requests"
