"""What `timed_run` (bench/lib.sh) recorded, read back for a script's report.

Each run of NAME appended "seconds max_rss_kb" to WORK/NAME.times.
"""

import statistics


def row(work, name):
    """The median seconds and the peak RSS in MiB of NAME's runs."""
    samples = [tuple(map(float, line.split())) for line in open(f"{work}/{name}.times")]
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples) / 1024


def table(work, names, label="run"):
    """Prints a row per name; returns the rows by name."""
    rows = {name: row(work, name) for name in names}
    width = max(len(label), *(len(n) for n in names)) + 2
    print(f"{label:<{width}}{'median s':>10}{'peak RSS MiB':>14}")
    for name, (seconds, rss) in rows.items():
        print(f"{name:<{width}}{seconds:>10.3f}{rss:>14.1f}")
    return rows
