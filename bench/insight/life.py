"""Routine life: one day of ordinary activity on a tree (edits, logs, new and deleted files,
SQLite writes, the odd rename or move, office documents saved again).

routine_day(root, state, day) is deterministic given the tree, the state and the day: its random
choices come from random.Random derived from (corpus, seed, day).
"""

import datetime as dt
import os
import re
import sqlite3
import zipfile

import corpora
from common import (Clock, backup_time, copy_real, day_window, is_text_name, list_dirs,
                    list_files, sub_rng)


def day_intensity(state, day, rng):
    """Weekday activity factor: weekends are light, about one day in 14 is heavy."""
    wd = (backup_time(day) - dt.timedelta(days=1)).weekday()  # the activity is the day before
    f = 0.25 if wd >= 5 else 1.0
    if rng.random() < 0.07:
        f *= 3.0
    return f


def _count(rng, lo, hi, k):
    x = rng.uniform(lo, hi) * k
    n = int(x)
    return n + (1 if rng.random() < x - n else 0)


class Day:
    def __init__(self, root, state, rng, clock):
        self.root, self.state, self.rng, self.clock = root, state, rng, clock
        self.files = list_files(root)
        self.touched_dirs = set()
        self.counts = {}

    def p(self, rel):
        return os.path.join(self.root, rel)

    def bump(self, k, n=1):
        self.counts[k] = self.counts.get(k, 0) + n

    def stamp(self, rel, spread=300.0):
        self.clock.stamp(self.p(rel), spread)
        self.touched_dirs.add(os.path.dirname(rel))

    # -- operations

    def edit_text(self, n):
        cands = [f for f in self.files if is_text_name(f) and not f.endswith(".log")
                 and os.path.exists(self.p(f)) and os.path.getsize(self.p(f)) < (2 << 20)]
        pool = corpora.text_lines()
        for rel in self.rng.sample(cands, min(n, len(cands))):
            try:
                text = open(self.p(rel), "rb").read().decode("utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            lines = text.splitlines(keepends=True) or ["\n"]
            for _ in range(self.rng.randint(0, 4)):  # change some lines
                i = self.rng.randrange(len(lines))
                lines[i] = self.rng.choice(pool) + "\n"
            i = self.rng.randrange(len(lines) + 1)  # insert a block
            lines[i:i] = [self.rng.choice(pool) + "\n" for _ in range(self.rng.randint(1, 20))]
            if self.rng.random() < 0.2 and len(lines) > 10:
                i = self.rng.randrange(len(lines) - 5)
                del lines[i:i + self.rng.randint(1, 5)]
            data = "".join(lines).encode("utf-8")
            if self.rng.random() < 0.7:  # in place
                with open(self.p(rel), "wb") as f:
                    f.write(data)
            else:  # editor-style: write a new file and rename it over
                tmp = self.p(rel) + ".swp~"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, self.p(rel))
            self.stamp(rel)
            self.bump("edited")

    def append_logs(self, n):
        logs = [f for f in self.files if f.endswith(".log") and os.path.exists(self.p(f))]
        for rel in self.rng.sample(logs, min(n, len(logs))):
            k = self.rng.randint(5, 200)
            with open(self.p(rel), "a") as f:
                for _ in range(k):
                    t = self.clock.next(20.0)
                    f.write(corpora.log_line(self.rng, dt.datetime.fromtimestamp(t)))
            self.stamp(rel, 1.0)
            self.bump("log_appends")
            self.bump("log_lines", k)

    def add_files(self, n):
        res = self.state["reserve"]
        dirs = None
        for _ in range(n):
            i = self.state["reserve_next"]
            if i >= len(res):
                return
            self.state["reserve_next"] = i + 1
            kind, src, rel = res[i]
            if self.rng.random() < 0.25:  # into some existing directory instead
                if dirs is None:
                    dirs = [d for d in list_dirs(self.root) if d != "."]
                if dirs:
                    rel = os.path.join(self.rng.choice(dirs), os.path.basename(rel))
            base, e = os.path.splitext(rel)
            k = 1
            while os.path.exists(self.p(rel)):
                rel = f"{base} ({k}){e}"
                k += 1
            if kind == "docx":
                corpora.docx_from_source(self.p(rel), src, self.rng)
            else:
                copy_real(src, self.p(rel))
            self.stamp(rel)
            self.files.append(rel)
            self.bump("added")

    def delete_files(self, n):
        cands = [f for f in self.files if not f.endswith((".log", ".sqlite")) and os.path.exists(self.p(f))]
        for rel in self.rng.sample(cands, min(n, len(cands))):
            os.remove(self.p(rel))
            self.touched_dirs.add(os.path.dirname(rel))
            self.bump("deleted")

    def sqlite_writes(self, n_db):
        dbs = [f for f in self.files if f.endswith(".sqlite") and os.path.exists(self.p(f))]
        if not dbs:
            return
        pk = corpora.dpkg_packages()
        pool = corpora.text_lines()
        for rel in self.rng.sample(dbs, min(n_db, len(dbs))):
            try:
                self._db_session(rel, pk, pool)
            except sqlite3.DatabaseError:  # e.g. encrypted by a slow attack: the app fails
                self.bump("db_errors")

    def _db_session(self, rel, pk, pool):
        con = sqlite3.connect(self.p(rel))
        try:
            top = con.execute("SELECT max(id) FROM entries").fetchone()[0] or 1
            when = self.clock.next(1.0)
            day = dt.datetime.fromtimestamp(when).strftime("%Y-%m-%d")
            ins = self.rng.randint(2, 40)
            for _ in range(ins):
                p = pk[self.rng.randrange(len(pk))]
                con.execute("INSERT INTO entries(name, version, size, section, body, updated) "
                            "VALUES (?,?,?,?,?,?)",
                            (p["name"], p["version"], p["size"], p["section"],
                             " ".join(self.rng.choice(pool) for _ in range(self.rng.randint(1, 6))), day))
            upd = self.rng.randint(1, 30)
            for _ in range(upd):
                con.execute("UPDATE entries SET body = body || ' ' || ?, updated = ? WHERE id = ?",
                            (self.rng.choice(pool), day, self.rng.randint(1, top)))
            for _ in range(self.rng.randint(0, 3)):
                con.execute("DELETE FROM entries WHERE id = ?", (self.rng.randint(1, top),))
            for _ in range(self.rng.randint(0, 10)):
                con.execute("INSERT INTO notes(entry, at, text) VALUES (?,?,?)",
                            (self.rng.randint(1, top), day, self.rng.choice(pool)))
            con.commit()
        finally:
            con.close()
        self.stamp(rel, 1.0)
        self.bump("db_sessions")
        self.bump("db_rows", ins + upd)

    def rename_one(self):
        cands = [f for f in self.files if not f.endswith((".log", ".sqlite")) and os.path.exists(self.p(f))]
        if not cands:
            return
        rel = self.rng.choice(cands)
        base, e = os.path.splitext(rel)
        if self.rng.random() < 0.5:
            new = base + self.rng.choice(["-old", "_v2", " (copy)", "-final", ".orig"]) + e
        else:
            dirs = [d for d in list_dirs(self.root) if d != "."]
            new = os.path.join(self.rng.choice(dirs), os.path.basename(rel))
        if os.path.exists(self.p(new)):
            return
        os.rename(self.p(rel), self.p(new))
        self.touched_dirs.update([os.path.dirname(rel), os.path.dirname(new)])
        self.bump("renamed")

    def move_small_dir(self):
        small = []
        for d in list_dirs(self.root):
            if d == "." or d.count("/") < 1:
                continue
            n = sum(len(fs) for _, _, fs in os.walk(self.p(d)))
            if 1 <= n <= 20:
                small.append(d)
        if not small:
            return
        d = self.rng.choice(small)
        if self.rng.random() < 0.5:
            new = d + self.rng.choice(["-2025", ".bak", "-old", "_archive"])
        else:
            others = [x for x in list_dirs(self.root) if x != "." and not (x + "/").startswith(d + "/")]
            if not others:
                return
            new = os.path.join(self.rng.choice(others), os.path.basename(d))
        if os.path.exists(self.p(new)):
            return
        os.rename(self.p(d), self.p(new))
        self.touched_dirs.update([os.path.dirname(d), os.path.dirname(new)])
        self.bump("dirs_moved")

    def resave_office(self, n):
        docs = [f for f in self.files if f.endswith((".docx", ".xlsx")) and os.path.exists(self.p(f))]
        pool = corpora.text_lines()
        for rel in self.rng.sample(docs, min(n, len(docs))):
            t = dt.datetime.fromtimestamp(self.clock.next(600.0))
            date_time = (t.year, t.month, t.day, t.hour, t.minute, t.second - t.second % 2)
            try:
                if rel.endswith(".docx"):
                    title, ps = corpora.docx_paragraphs(self.p(rel))
                    i = self.rng.randrange(len(ps) + 1)
                    ps[i:i] = [self.rng.choice(pool) for _ in range(self.rng.randint(1, 4))]
                    if ps and self.rng.random() < 0.5:
                        j = self.rng.randrange(len(ps))
                        ps[j] = ps[j] + " " + self.rng.choice(pool)
                    corpora.make_docx(self.p(rel), title, ps, t.strftime("%Y-%m-%dT%H:%M:%SZ"), date_time)
                else:
                    with zipfile.ZipFile(self.p(rel)) as z:
                        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
                    out = []
                    for name, data in members:
                        if name == "xl/worksheets/sheet1.xml":
                            rows = re.findall(rb"<row r=\"\d+\">.*?</row>", data)
                            n_rows = len(rows)
                            extra = []
                            for k in range(self.rng.randint(1, 5)):
                                src = self.rng.choice(rows[1:] or rows)
                                extra.append(re.sub(rb"(r=\"[A-Z]*)\d+\"",
                                                    lambda m: m.group(1) + str(n_rows + k + 1).encode() + b'"', src))
                            data = data.replace(b"</sheetData>", b"".join(extra) + b"</sheetData>")
                        out.append((name, data))
                    corpora._write_zip(self.p(rel), out, date_time)
            except (zipfile.BadZipFile, KeyError, ValueError, IndexError):
                continue
            self.stamp(rel, 600.0)
            self.bump("office_saved")

    def finish(self):
        for d in sorted(self.touched_dirs):
            p = self.p(d)
            if os.path.isdir(p):
                self.clock.stamp(p, 1.0)


def routine_day(root, state, day, mult=1.0, rng=None):
    """Apply one day of routine activity before day `day`'s backup. Returns what was done."""
    rng = rng or sub_rng("day", state["corpus"], state["seed"], day)
    start, end = day_window(day)
    clock = Clock(start, end, rng)
    d = Day(root, state, rng, clock)
    k = day_intensity(state, day, rng) * mult * max(0.25, len(d.files) / 2500.0)
    d.counts["intensity"] = round(k, 3)
    d.edit_text(_count(rng, 2, 8, k))
    d.append_logs(_count(rng, 1, 4, k) if k >= 0.25 else 1)
    d.add_files(_count(rng, 2, 12, k))
    d.delete_files(_count(rng, 0, 4, k))
    d.sqlite_writes(max(1, _count(rng, 1, 2, min(k, 3))))
    d.resave_office(_count(rng, 0, 3, k))
    for _ in range(max(1, int(mult))):
        if rng.random() < 0.15:
            d.rename_one()
        if rng.random() < 0.05:
            d.move_small_dir()
    d.finish()
    return d.counts
