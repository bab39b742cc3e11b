"""Shared helpers of the insight harness: simulated time, file walking, the AES-CTR key stream."""

import datetime as dt
import hashlib
import os
import random
import shutil
import subprocess

# Day 0 is the first backup; day d's backup runs at T0 + d days.
T0 = dt.datetime(2026, 1, 1, 2, 0, 0)

TEXT_EXT = {
    ".txt", ".md", ".rst", ".html", ".htm", ".css", ".js", ".py", ".rs", ".toml", ".json",
    ".yml", ".yaml", ".c", ".h", ".sh", ".csv", ".xml", ".cfg", ".ini", ".in", ".am", ".tex",
    ".pod", ".pl", ".rb", ".go", ".java", ".ts", ".lock", ".conf",
}
TEXT_NAMES = {"readme", "copyright", "changelog", "news", "authors", "todo", "license",
              "license-mit", "license-apache", "copying", "thanks", "contributing", "makefile"}
# Formats that are compressed already.
COMPRESSED_EXT = {".png", ".jpg", ".jpeg", ".gif", ".gz", ".tgz", ".bz2", ".xz", ".zst",
                  ".zip", ".docx", ".xlsx", ".pptx", ".odt", ".pdf", ".webp", ".jar", ".svgz"}
DB_EXT = {".sqlite", ".db", ".sqlite3"}


def backup_time(day):
    return T0 + dt.timedelta(days=day)


def fmt_time(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


def day_window(day):
    """(start, end) of the activity that precedes day `day`'s backup: 08:00-23:00 the day before."""
    b = backup_time(day)
    return b - dt.timedelta(hours=18), b - dt.timedelta(hours=3)


def attack_window(day):
    """The night before day `day`'s backup: 23:10-01:40."""
    b = backup_time(day)
    return b - dt.timedelta(hours=2, minutes=50), b - dt.timedelta(minutes=20)


class Clock:
    """Hands out increasing simulated timestamps within [start, end] for file mtimes."""

    def __init__(self, start, end, rng):
        self.t = start.timestamp()
        self.end = end.timestamp()
        self.rng = rng

    def next(self, spread=60.0):
        self.t = min(self.end, self.t + self.rng.uniform(0.2, spread))
        return self.t

    def stamp(self, path, spread=60.0):
        t = self.next(spread)
        ns = int(t) * 1_000_000_000 + self.rng.randrange(1_000_000_000)
        os.utime(path, ns=(ns, ns), follow_symlinks=False)


def ext_of(path):
    name = os.path.basename(path).lower()
    _, e = os.path.splitext(name)
    return e


def is_text_name(path):
    name = os.path.basename(path).lower()
    e = ext_of(name)
    if e in TEXT_EXT:
        return True
    base = name.split(".")[0]
    return e == "" and base in TEXT_NAMES


def is_compressed(path):
    return ext_of(path) in COMPRESSED_EXT


def list_files(root):
    """Sorted relative paths of the regular files under root (symlinks skipped)."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(os.path.relpath(p, root))
    out.sort()
    return out


def list_dirs(root):
    out = []
    for d, dirs, _ in os.walk(root):
        dirs.sort()
        out.append(os.path.relpath(d, root))
    out.sort()
    return out


def tree_stats(root):
    files = list_files(root)
    size = sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return {"files": len(files), "dirs": len(list_dirs(root)), "bytes": size}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def manifest(root, with_mtime=True):
    """Digest of a tree: paths, sizes, contents and (optionally) mtimes."""
    h = hashlib.sha256()
    for rel in list_files(root):
        p = os.path.join(root, rel)
        st = os.stat(p)
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        h.update(f"{st.st_size}\0".encode())
        if with_mtime:
            h.update(f"{st.st_mtime_ns}\0".encode())
        h.update(sha256_file(p).encode())
    for rel in list_dirs(root):
        h.update(b"D" + rel.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def copy_real(src, dst):
    """Copy a file's bytes (not its metadata); creates parent directories."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)


def xor_bytes(a, b):
    n = len(a)
    return (int.from_bytes(a, "little") ^ int.from_bytes(b[:n], "little")).to_bytes(n, "little")


def rand_hex(rng, nbytes):
    return "".join(f"{rng.randrange(256):02x}" for _ in range(nbytes))


class KeyStream:
    """AES-256-CTR key stream from `openssl enc` over /dev/zero.

    Each take() continues the stream, so XOR-ing consecutive takes into the bytes to encrypt is
    CTR encryption of those bytes as one message; no key-stream byte is used twice.
    """

    def __init__(self, key_hex, iv_hex):
        self.key, self.iv = key_hex, iv_hex
        self.proc = subprocess.Popen(
            ["openssl", "enc", "-aes-256-ctr", "-K", key_hex, "-iv", iv_hex, "-in", "/dev/zero"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.used = 0

    def take(self, n):
        parts, got = [], 0
        while got < n:
            b = self.proc.stdout.read(min(n - got, 1 << 22))
            if not b:
                raise RuntimeError("openssl key stream ended")
            parts.append(b)
            got += len(b)
        self.used += n
        return b"".join(parts)

    def encrypt(self, data):
        return xor_bytes(data, self.take(len(data)))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.stdout.close()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def new_keystream(rng):
    return KeyStream(rand_hex(rng, 32), rand_hex(rng, 16))


def sub_rng(*parts):
    return random.Random("/".join(str(p) for p in parts))
