#!/usr/bin/env python3
"""Writes seed layers for the apply_layer fuzz target: small tars with each tricky
shape the extractor must handle (whiteouts, opaque directories, hard links, symlinks
pointing out, `..` and absolute names, PAX and GNU long names, device nodes, duplicate
entries), plain and gzip-compressed, so the fuzzer mutates from real layers instead
of discovering the tar format from nothing.

    python3 fuzz/seeds.py [DIR]     (default fuzz/corpus/apply_layer)
"""
import gzip
import io
import os
import sys
import tarfile


def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, **extra):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = 1_700_000_000
    for key, value in extra.items():
        setattr(info, key, value)
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def layer(entries, fmt=tarfile.PAX_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, data)
    return out.getvalue()


DIR = tarfile.DIRTYPE
SEEDS = {
    "plain": [entry("etc/", DIR, mode=0o755), entry("etc/hostname", data=b"wharf\n")],
    "whiteout": [entry("etc/", DIR), entry("etc/.wh.hostname"), entry("etc/.wh..wh..opq")],
    "opaque-last": [entry("usr/", DIR), entry("usr/lib/", DIR), entry("usr/.wh..wh..opq")],
    "hardlink": [
        entry("bin/", DIR),
        entry("bin/a", data=b"#!/bin/sh\n", mode=0o4755),
        entry("bin/b", tarfile.LNKTYPE, link="bin/a"),
    ],
    "hardlink-outside": [entry("x", tarfile.LNKTYPE, link="../../etc/passwd")],
    "symlink-then-write": [
        entry("escape", tarfile.SYMTYPE, link="/tmp"),
        entry("escape/planted", data=b"no"),
    ],
    "symlink-dotdot": [
        entry("up", tarfile.SYMTYPE, link="../../.."),
        entry("up/etc/shadow", data=b"no"),
    ],
    "dotdot-name": [entry("../outside", data=b"no"), entry("a/../../b", data=b"no")],
    "absolute-name": [entry("/etc/cron.d/x", data=b"no")],
    "long-pax": [entry("d/" + "n" * 200 + "/f", data=b"long")],
    "long-gnu": [entry("g/" + "m" * 150, data=b"gnu")],
    "devices": [
        entry("dev/", DIR),
        entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
        entry("dev/loop0", tarfile.BLKTYPE, devmajor=7, devminor=0),
        entry("dev/fifo", tarfile.FIFOTYPE),
    ],
    "duplicates": [
        entry("f", data=b"first"),
        entry("f", DIR),
        entry("f", tarfile.SYMTYPE, link="target"),
        entry("f", data=b"last"),
    ],
    "dir-over-file": [entry("p", data=b"file"), entry("p/", DIR), entry("p/child", data=b"c")],
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "apply_layer")
    os.makedirs(out, exist_ok=True)
    for name, entries in SEEDS.items():
        fmt = tarfile.GNU_FORMAT if name == "long-gnu" else tarfile.PAX_FORMAT
        tar = layer(entries, fmt)
        with open(os.path.join(out, name + ".tar"), "wb") as f:
            f.write(tar)
        with open(os.path.join(out, name + ".tar.gz"), "wb") as f:
            f.write(gzip.compress(tar, mtime=0))
        # No end-of-archive blocks, as some registries' layers are.
        with open(os.path.join(out, name + ".truncated.tar"), "wb") as f:
            f.write(tar[:-1024] if len(tar) > 1024 else tar)
    print(f"{3 * len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
