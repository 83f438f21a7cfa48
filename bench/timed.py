#!/usr/bin/env python3
"""Runs a command and writes "SECONDS MAX_RSS_KB" to FILE: wall time to the microsecond
(GNU time's %e has 10 ms steps, too coarse for a 70 ms pull) and the command's peak
resident memory, as GNU time reports it (a child forked from Python would count
Python's own memory: Linux keeps the peak from before exec).

    python3 bench/timed.py -o FILE COMMAND [ARGS...]

The command's stdout and stderr pass through; its exit status is timed.py's.
"""
import os
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 4 or sys.argv[1] != "-o":
        sys.exit("usage: timed.py -o FILE COMMAND [ARGS...]")
    out, command = sys.argv[2], sys.argv[3:]
    rss_file = out + ".rss"
    start = time.perf_counter_ns()
    status = subprocess.call(["/usr/bin/time", "-f", "%M", "-o", rss_file, "--", *command])
    seconds = (time.perf_counter_ns() - start) / 1e9
    with open(rss_file) as f:
        # GNU time writes "Command exited with non-zero status N" first on failure.
        rss = f.read().split()[-1]
    os.remove(rss_file)
    with open(out, "w") as f:
        f.write(f"{seconds:.6f} {rss}\n")
    sys.exit(status)


if __name__ == "__main__":
    main()
