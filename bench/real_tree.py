#!/usr/bin/env python3
"""Helpers for bench/real.sh (stdlib only): describe a real tree, and apply the
deterministic "realistic change" between its first and second backup.

Describe:  real_tree.py describe DIR
    Prints key<TAB>value lines: files, dirs, symlinks, bytes, a digest of the
    sorted (path, type, size, mode, link target) list (same digest = same tree
    shape; contents are not hashed), and the share of bytes by kind (from each
    file's first bytes: ELF, ar archive, compressed, text, other binary).

Change:    real_tree.py change --data DATA --pristine TREE --donor DONOR [--percent 5]
    DATA is a copy of TREE (identical on entry); TREE is only read.
    1. Replace a subdirectory: the directory of DATA (not the root) whose
       regular files total closest to PERCENT% of all bytes (ties: the smaller
       path) is deleted and a different real directory takes its place: the
       regular files of DONOR in sorted path order, with their relative paths,
       each one that still fits into the deleted directory's byte count.
    2. Of the remaining regular files with one link, sorted by path, number
       i with i % (100/PERCENT) == 0 is rewritten: real bytes are appended,
       max(4 KiB, size/10) capped at 1 MiB, taken from the middle of the file
       i + n/2 (mod n) of that list, read from TREE. That is PERCENT% of them.
    3. Number i with i % (100/PERCENT) == (100/PERCENT)/2 is touched only: its
       mtime moves one hour forward, its contents stay (another PERCENT%).
    Prints key<TAB>value lines describing what changed.

Everything depends only on the trees' contents and names, so the same trees
give the same change.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import stat
import sys
import time

KIB = 1024
MIB = 1024 * KIB


def walk(root: str) -> list[tuple[str, os.stat_result]]:
    """(relative path, lstat) for everything under root except root, sorted by path."""
    out = []
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for e in it:
                r = os.path.join(rel, e.name) if rel else e.name
                st = e.stat(follow_symlinks=False)
                out.append((r, st))
                if stat.S_ISDIR(st.st_mode):
                    stack.append(r)
    out.sort(key=lambda x: x[0].encode("utf-8", "surrogateescape"))
    return out


def kind_of(path: str, head: bytes) -> str:
    if head.startswith(b"\x7fELF"):
        return "ELF"
    if head.startswith(b"!<arch>\n"):
        return "ar archive"
    if head[:2] == b"\x1f\x8b" or head[:6] == b"\xfd7zXZ\x00" or head[:3] == b"BZh" \
            or head[:4] == b"\x28\xb5\x2f\xfd" or head[:4] == b"PK\x03\x04":
        return "compressed"
    if path.endswith(".pyc"):
        return "python bytecode"
    if b"\x00" not in head:
        return "text"
    return "other binary"


def describe(root: str) -> None:
    entries = walk(root)
    files = dirs = links = 0
    total = 0
    kinds: dict[str, int] = {}
    h = hashlib.sha256()
    for rel, st in entries:
        m = st.st_mode
        if stat.S_ISREG(m):
            files += 1
            total += st.st_size
            with open(os.path.join(root, rel), "rb") as f:
                head = f.read(8 * KIB)
            k = kind_of(rel, head)
            kinds[k] = kinds.get(k, 0) + st.st_size
            h.update(f"{rel}\0f\0{st.st_size}\0{stat.S_IMODE(m):o}\n".encode("utf-8", "surrogateescape"))
        elif stat.S_ISDIR(m):
            dirs += 1
            h.update(f"{rel}\0d\0{stat.S_IMODE(m):o}\n".encode("utf-8", "surrogateescape"))
        elif stat.S_ISLNK(m):
            links += 1
            target = os.readlink(os.path.join(root, rel))
            h.update(f"{rel}\0l\0{target}\n".encode("utf-8", "surrogateescape"))
        else:
            h.update(f"{rel}\0o\0{stat.S_IFMT(m):o}\n".encode("utf-8", "surrogateescape"))
    print(f"files\t{files}")
    print(f"dirs\t{dirs}")
    print(f"symlinks\t{links}")
    print(f"bytes\t{total}")
    print(f"digest\t{h.hexdigest()[:16]}")
    parts = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    print("kinds\t" + ", ".join(f"{k} {v / max(total, 1) * 100:.0f}%" for k, v in parts))


def change(data: str, pristine: str, donor: str, percent: float) -> None:
    t0 = time.time()
    step = max(2, round(100 / percent))
    entries = walk(data)
    total = sum(st.st_size for _, st in entries if stat.S_ISREG(st.st_mode))

    # 1. The directory whose files total closest to PERCENT% of the bytes.
    dir_bytes: dict[str, int] = {}
    dir_files: dict[str, int] = {}
    for rel, st in entries:
        if stat.S_ISDIR(st.st_mode):
            dir_bytes.setdefault(rel, 0)
            dir_files.setdefault(rel, 0)
        elif stat.S_ISREG(st.st_mode):
            d = os.path.dirname(rel)
            while d:
                dir_bytes[d] = dir_bytes.get(d, 0) + st.st_size
                dir_files[d] = dir_files.get(d, 0) + 1
                d = os.path.dirname(d)
    want = total * percent / 100
    victim = min(dir_bytes, key=lambda d: (abs(dir_bytes[d] - want), d), default=None)
    if victim is not None and dir_bytes[victim] == 0:
        victim = None
    repl_files = repl_bytes = 0
    if victim is not None:
        vbytes = dir_bytes[victim]
        vpath = os.path.join(data, victim)
        shutil.rmtree(vpath)
        os.mkdir(vpath)
        for rel, st in walk(donor):
            if not stat.S_ISREG(st.st_mode) or repl_bytes + st.st_size > vbytes:
                continue
            dst = os.path.join(vpath, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(donor, rel), dst)
            repl_files += 1
            repl_bytes += st.st_size
        print(f"replaced_dir\t{victim}")
        print(f"replaced_files\t{dir_files[victim]}")
        print(f"replaced_bytes\t{vbytes}")
        print(f"replacement_files\t{repl_files}")
        print(f"replacement_bytes\t{repl_bytes}")
    else:
        print("replaced_dir\t(none: the tree has no subdirectory with files)")

    # 2./3. Rewrites and touches among the other regular files with one link.
    inside = (victim + os.sep) if victim is not None else None
    cands = [(rel, st) for rel, st in entries
             if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and not (inside and rel.startswith(inside))]
    n = len(cands)
    rewritten = appended = rewritten_size = 0
    touched = touched_size = 0
    for i, (rel, st) in enumerate(cands):
        path = os.path.join(data, rel)
        if i % step == 0:
            want_n = min(max(4 * KIB, st.st_size // 10), MIB)
            chunk = b""
            for j in range(1, n):  # the file n/2 further on, or the next non-empty one
                drel, dst = cands[(i + n // 2 + j - 1) % n]
                if drel != rel and dst.st_size > 0:
                    k = min(want_n, dst.st_size)
                    with open(os.path.join(pristine, drel), "rb") as f:
                        f.seek((dst.st_size - k) // 2)
                        chunk = f.read(k)
                    break
            with open(path, "ab") as f:
                f.write(chunk)
            rewritten += 1
            appended += len(chunk)
            rewritten_size += st.st_size + len(chunk)
        elif i % step == step // 2:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 3600 * 10**9), follow_symlinks=False)
            touched += 1
            touched_size += st.st_size
    print(f"candidate_files\t{n}")
    print(f"rewritten_files\t{rewritten}")
    print(f"rewritten_bytes\t{rewritten_size}")
    print(f"appended_bytes\t{appended}")
    print(f"touched_files\t{touched}")
    print(f"touched_bytes\t{touched_size}")
    print(f"seconds\t{time.time() - t0:.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("describe")
    d.add_argument("dir")
    c = sub.add_parser("change")
    c.add_argument("--data", required=True)
    c.add_argument("--pristine", required=True)
    c.add_argument("--donor", required=True)
    c.add_argument("--percent", type=float, default=5.0)
    a = p.parse_args()
    if a.cmd == "describe":
        describe(a.dir)
    else:
        if not 0 < a.percent <= 50:
            sys.exit("--percent must be in (0, 50]")
        change(a.data, a.pristine, a.donor, a.percent)


if __name__ == "__main__":
    main()
