#!/usr/bin/env python3
"""Deterministic benchmark dataset generator for ibars (stdlib only).

Generate:   gen_dataset.py --out DIR [--size-gib 3.0] [--seed 1]
Mutate:     gen_dataset.py --mutate DIR [--percent 5] [--seed N]

Composition by bytes (roughly):
  30%  small/  many small files (0.5-64 KiB, log-uniform), ~55% text-like,
               ~35% random binary, ~10% semi-structured binary, in a nested
               tree (leaf depth 3-5, 100-300 files per directory)
  40%  large/  incompressible random binaries, 64-512 MiB each
  30%  text/   source-code-like and log-like files, 64 KiB-8 MiB, tuned so
               that zstd -3 compresses them ~3-5x (not 1000x)

Everything derives from the seed through random.Random, so the same seed and
size give a byte-identical tree (file contents and names; mtimes are whatever
the clock says). Bytes are produced in large blocks (randbytes / joining
pre-built lines); there are no per-byte Python loops.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import sys
import time

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# Bump when the output for a given (size, seed) changes; run.sh keys its
# dataset cache on the hash of this file anyway.
GEN_VERSION = 1

WORDS = (
    "the of and to in is for on with as by at from that this be are was it not or an "
    "have has but all can will data file buffer index chunk pack tree node blob snapshot "
    "repo config key lock error warn info debug trace request response client server "
    "handler worker queue task timeout retry connect read write open close flush sync "
    "hash digest cipher nonce stream reader writer parser token value result option "
    "vector string map set list count size offset length start end begin finish parent "
    "child root path name mode user group time date state status cache store load save "
    "update delete insert select create drop table column row commit rollback session "
    "account backend upload download limit policy filter match pattern prune forget "
    "check verify repair mount archive restore backup source target local remote"
).split()

# Source-code line shapes; "{}" slots get identifiers or numbers.
CODE_TEMPLATES = [
    "let {} = {}.{}({});",
    "let mut {} = {}::new();",
    "if {} > {} {{",
    "}} else if {}.is_empty() {{",
    "}}",
    "return {};",
    "fn {}(&mut self, {}: usize) -> Result<{}> {{",
    "pub fn {}(&self, {}: &{}) -> Option<{}> {{",
    "// {} {} {} {} {}",
    "/// {} the {} for {} {}.",
    "{}.{} = {}::{}({}, {});",
    "for {} in {}.iter() {{",
    "{}.push({});",
    "match {} {{",
    "Some({}) => {}({}),",
    "None => return Err(Error::{}),",
    "use crate::{}::{};",
    "#[derive(Debug, Clone)]",
    "pub struct {} {{",
    "{}: Vec<{}>,",
    "assert_eq!({}, {});",
    "",
    "self.{}.{}({}, {})?;",
    "const {}: u64 = {};",
    "impl {} for {} {{",
    "while {} < {} {{ {} += {}; }}",
]
CODE_SLOTS = [t.count("{}") for t in CODE_TEMPLATES]
INDENTS = ["", "    ", "        ", "            ", "                "]
INDENT_WEIGHTS = [2, 5, 4, 2, 1]

LOG_LEVELS = ["INFO"] * 10 + ["DEBUG"] * 6 + ["WARN"] * 2 + ["TRACE", "ERROR"]

CODE_EXTS = ["rs", "py", "c", "go", "js", "h"]
SMALL_TEXT_EXTS = ["rs", "py", "txt", "md", "json", "log", "cfg", "html"]
SMALL_BIN_EXTS = ["bin", "dat", "o", "png", "gz", "db"]
TEXT_EXTS = set(CODE_EXTS) | set(SMALL_TEXT_EXTS)

WRITE_BLOCK = 16 * MiB


def log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class TextGen:
    """Produces text with a controlled amount of redundancy.

    Global pools of code lines and log messages are built once; each file
    draws its lines from a random *window* of a pool whose length scales with
    the file size, so every pool line is reused only ~2x within a file. That
    keeps zstd at roughly 3-5x per file (and per ~1 MiB chunk) while costing
    only a list slice per file.
    """

    CODE_POOL = 160_000  # enough for an 8 MiB file at ~2 uses per line
    MSG_POOL = 40_000

    def __init__(self, rng: random.Random):
        idents = []
        for _ in range(6000):
            a, b = rng.choice(WORDS), rng.choice(WORDS)
            form = rng.randrange(4)
            if form == 0:
                idents.append(f"{a}_{b}")
            elif form == 1:
                idents.append(f"{a}{b.capitalize()}")
            elif form == 2:
                idents.append(a)
            else:
                idents.append(f"{a}_{b}{rng.randrange(100)}")
        idents += [str(rng.randrange(100_000)) for _ in range(900)]
        self.idents = idents

        n = self.CODE_POOL
        tmpl_idx = rng.choices(range(len(CODE_TEMPLATES)), k=n)
        indents = rng.choices(INDENTS, weights=INDENT_WEIGHTS, k=n)
        args = iter(rng.choices(idents, k=sum(CODE_SLOTS[i] for i in tmpl_idx)))
        self.code_pool = [
            ind + CODE_TEMPLATES[i].format(*itertools.islice(args, CODE_SLOTS[i]))
            for i, ind in zip(tmpl_idx, indents)
        ]
        self.msg_pool = [
            " ".join(rng.choices(WORDS, k=rng.randint(3, 10))) for _ in range(self.MSG_POOL)
        ]
        self.modules = idents[:200]

    def _window(self, rng: random.Random, pool: list[str], nlines: int) -> list[str]:
        nlines = max(48, min(nlines, len(pool)))
        start = rng.randrange(len(pool) - nlines + 1)
        return pool[start : start + nlines]

    def code(self, rng: random.Random, size: int) -> bytes:
        # ~36 bytes per line on average; window = size / (36 * 2) lines.
        window = self._window(rng, self.code_pool, size // 72)
        parts, n = [], 0
        while n < size:
            # Lines per round sized to the file so tiny files stay cheap.
            blk = "\n".join(rng.choices(window, k=min(2048, (size - n) // 30 + 1))) + "\n"
            parts.append(blk)
            n += len(blk)
        return "".join(parts).encode()[:size]

    def log(self, rng: random.Random, size: int) -> bytes:
        # Log lines carry real entropy (timestamps, request ids, counters),
        # which is what keeps them near 3-4x instead of compressing to nothing.
        msgs = self._window(rng, self.msg_pool, size // 300)
        mods = rng.sample(self.modules, 40)
        t = rng.randrange(10**10)
        parts, n = [], 0
        while n < size:
            k = min(2048, (size - n) // 80 + 1)
            hx = rng.randbytes(6 * k).hex()
            ts = list(itertools.accumulate(rng.choices(range(1, 3000), k=k), initial=t))[1:]
            t = ts[-1]
            rows = zip(
                ts,
                rng.choices(LOG_LEVELS, k=k),
                rng.choices(mods, k=k),
                rng.choices(msgs, k=k),
                rng.choices(range(100_000), k=k),
            )
            blk = "".join(
                f"2024-{1 + x // 2419200000 % 12:02d}-{1 + x // 86400000 % 28:02d}T"
                f"{x // 3600000 % 24:02d}:{x // 60000 % 60:02d}:{x // 1000 % 60:02d}."
                f"{x % 1000:03d}Z {lv:5} [{m}] {s} req={hx[12 * i : 12 * i + 12]} n={u}\n"
                for i, (x, lv, m, s, u) in enumerate(rows)
            )
            parts.append(blk)
            n += len(blk)
        return "".join(parts).encode()[:size]

    def for_ext(self, rng: random.Random, ext: str, size: int) -> bytes:
        if ext == "log":
            return self.log(rng, size)
        return self.code(rng, size)


def semi_binary(rng: random.Random, size: int) -> bytes:
    """Random 16-byte records padded with zeros: compresses ~2-3x."""
    nrec = size // 48 + 1
    rnd = rng.randbytes(16 * nrec)
    out = bytearray(48 * nrec)
    for j in range(16):  # strided copies instead of a per-record loop
        out[j::48] = rnd[j::16]
    return bytes(out[:size])


def write_random(path: str, rng: random.Random, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, WRITE_BLOCK)
            f.write(rng.randbytes(n))
            left -= n


def small_file_content(rng: random.Random, tg: TextGen, size: int) -> tuple[bytes, str]:
    r = rng.random()
    if r < 0.55:
        ext = rng.choice(SMALL_TEXT_EXTS)
        return tg.for_ext(rng, ext, size), ext
    ext = rng.choice(SMALL_BIN_EXTS)
    if r < 0.90:
        return rng.randbytes(size), ext
    return semi_binary(rng, size), ext


class Stats:
    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0
        self.dirs = 0

    def add(self, n: int) -> None:
        self.files += 1
        self.bytes += n


def gen_small(out: str, rng: random.Random, tg: TextGen, budget: int, st: Stats) -> None:
    # Names per tree level are drawn from small sets so paths share prefixes
    # and the result is a real tree rather than a flat list of leaves.
    level_names = [[f"{w}{i}" for i, w in enumerate(rng.sample(WORDS, 8))] for _ in range(5)]
    used_dirs: set[str] = set()
    written = 0
    while written < budget:
        while True:
            depth = rng.randint(3, 5)
            rel = os.path.join("small", *(rng.choice(level_names[d]) for d in range(depth)))
            if rel not in used_dirs:
                break
        used_dirs.add(rel)
        d = os.path.join(out, rel)
        os.makedirs(d, exist_ok=True)
        st.dirs += 1
        for i in range(rng.randint(100, 300)):
            if written >= budget:
                break
            size = min(log_uniform(rng, 512, 64 * KiB), max(budget - written, 512))
            data, ext = small_file_content(rng, tg, size)
            with open(os.path.join(d, f"{rng.choice(WORDS)}_{i:04d}.{ext}"), "wb") as f:
                f.write(data)
            written += size
            st.add(size)


def gen_large(out: str, rng: random.Random, budget: int, st: Stats) -> None:
    d = os.path.join(out, "large")
    os.makedirs(d, exist_ok=True)
    st.dirs += 1
    written, i = 0, 0
    while written < budget:
        size = rng.randint(64 * MiB, 512 * MiB)
        left = budget - written
        # Don't leave a sliver: fold a too-small remainder into this file.
        if left - size < 64 * MiB:
            size = left
        write_random(os.path.join(d, f"blob_{i:03d}.bin"), rng, size)
        written += size
        st.add(size)
        i += 1


def gen_text(out: str, rng: random.Random, tg: TextGen, budget: int, st: Stats) -> None:
    written, i = 0, 0
    dirs_made: set[str] = set()
    while written < budget:
        size = min(log_uniform(rng, 64 * KiB, 8 * MiB), max(budget - written, 4 * KiB))
        if rng.random() < 0.5:
            rel = os.path.join("text", "logs", f"svc{rng.randrange(6)}")
            name = f"{rng.choice(WORDS)}-{i:04d}.log"
            data = tg.log(rng, size)
        else:
            rel = os.path.join("text", "src", f"mod{rng.randrange(12)}")
            name = f"{rng.choice(WORDS)}_{i:04d}.{rng.choice(CODE_EXTS)}"
            data = tg.code(rng, size)
        if rel not in dirs_made:
            os.makedirs(os.path.join(out, rel), exist_ok=True)
            dirs_made.add(rel)
            st.dirs += 1
        with open(os.path.join(out, rel, name), "wb") as f:
            f.write(data)
        written += size
        st.add(size)
        i += 1


def generate(out: str, size_gib: float, seed: int) -> None:
    if os.path.exists(out) and os.listdir(out):
        sys.exit(f"error: {out} exists and is not empty")
    os.makedirs(out, exist_ok=True)
    total = int(size_gib * GiB)
    t0 = time.monotonic()
    st = Stats()
    # Independent RNG streams per part: changing one part's algorithm does
    # not reshuffle the others.
    tg = TextGen(random.Random(f"{seed}:textgen"))
    gen_small(out, random.Random(f"{seed}:small"), tg, int(total * 0.30), st)
    gen_large(out, random.Random(f"{seed}:large"), int(total * 0.40), st)
    gen_text(out, random.Random(f"{seed}:text"), tg, total - int(total * 0.30) - int(total * 0.40), st)
    print(
        f"generated {out}: {st.files} files, {st.dirs} leaf dirs, {st.bytes} bytes "
        f"({st.bytes / GiB:.2f} GiB), seed {seed}, {time.monotonic() - t0:.1f}s"
    )


def list_files(root: str) -> list[str]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in filenames:
            files.append(os.path.relpath(os.path.join(dirpath, fn), root))
    files.sort()
    return files


def mutate(root: str, percent: float, seed: int) -> None:
    t0 = time.monotonic()
    rng = random.Random(f"{seed}:mutate")
    tg = TextGen(random.Random(f"{seed}:mutate-textgen"))
    files = list_files(root)
    if not files:
        sys.exit(f"error: no files under {root}")
    k = max(1, round(len(files) * percent / 100))
    chosen = rng.sample(files, k)
    half = k // 2
    written = 0
    for n, rel in enumerate(chosen):
        path = os.path.join(root, rel)
        size = os.path.getsize(path)
        is_text = rel.rsplit(".", 1)[-1] in TEXT_EXTS
        if n < half and size > 0:
            # Overwrite a region in place: the file keeps its size, so only
            # content-defined chunking (not size/mtime heuristics alone)
            # limits what has to be stored again.
            length = min(size, max(512, min(int(size * rng.uniform(0.01, 0.10)), 4 * MiB)))
            off = rng.randrange(size - length + 1)
            data = tg.for_ext(rng, rel.rsplit(".", 1)[-1], length) if is_text else rng.randbytes(length)
            with open(path, "r+b") as f:
                f.seek(off)
                f.write(data)
        else:
            length = max(256, min(int(size * rng.uniform(0.05, 0.5)), 8 * MiB))
            data = tg.for_ext(rng, rel.rsplit(".", 1)[-1], length) if is_text else rng.randbytes(length)
            with open(path, "ab") as f:
                f.write(data)
        written += len(data)
    # A few brand-new files in a new directory.
    new_dir = os.path.join(root, "small", f"new_{seed}")
    os.makedirs(new_dir, exist_ok=True)
    n_new = max(3, k // 20)
    for i in range(n_new):
        size = log_uniform(rng, 512, 64 * KiB)
        data, ext = small_file_content(rng, tg, size)
        with open(os.path.join(new_dir, f"added_{i:04d}.{ext}"), "wb") as f:
            f.write(data)
        written += size
    print(
        f"mutated {root}: {k} of {len(files)} files changed ({half} overwritten in place, "
        f"{k - half} appended), {n_new} files added, {written} bytes written, seed {seed}, "
        f"{time.monotonic() - t0:.1f}s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", metavar="DIR", help="generate a new dataset into DIR (must be empty)")
    mode.add_argument("--mutate", metavar="DIR", help="deterministically modify an existing dataset")
    p.add_argument("--size-gib", type=float, default=3.0, help="dataset size in GiB (default 3.0)")
    p.add_argument("--seed", type=int, default=1, help="RNG seed (default 1)")
    p.add_argument("--percent", type=float, default=5.0, help="--mutate: %% of files to change (default 5)")
    a = p.parse_args()
    if a.out:
        generate(a.out, a.size_gib, a.seed)
    else:
        mutate(a.mutate, a.percent, a.seed)


if __name__ == "__main__":
    main()
