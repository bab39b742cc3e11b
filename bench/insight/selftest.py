"""`eval.py --self-test`: checks of the harness itself; the end-to-end check runs the real ibars
(IBARS_BIN, or target/release/ibars) and is skipped without one."""

import gzip
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import zipfile
import zlib

import corpora
import events
import life
import report
import runner
import scenarios
from common import (Clock, KeyStream, is_text_name, attack_window, is_compressed, list_dirs, list_files,
                    manifest, rand_hex, sub_rng, tree_stats)

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = []
STATES = {}


def check(name, cond, detail=""):
    RESULTS.append((name, bool(cond), detail))
    print(f"{'ok  ' if cond else 'FAIL'} {name}{(': ' + detail) if detail else ''}", flush=True)
    return cond


def snapshot(root):
    return {r: open(os.path.join(root, r), "rb").read() for r in list_files(root)}


def openssl_ctr(key, iv, data):
    return subprocess.run(["openssl", "enc", "-aes-256-ctr", "-K", key, "-iv", iv], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def keys_of(seed_rng, fraction, root, eligible=None, mode="walk"):
    """Replays attack_encrypt's random draws: its targets and its key and IV."""
    t = events.pick_targets(root, seed_rng, fraction, eligible, mode)
    return t, rand_hex(seed_rng, 32), rand_hex(seed_rng, 16)


def copytree(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(["cp", "-a", src, dst], check=True)


def t_keystream(tmp):
    data = os.urandom(1000) + open("/etc/services", "rb").read()
    key, iv = "11" * 32, "22" * 16
    with KeyStream(key, iv) as ks:
        a = ks.encrypt(data[:333])
        b = ks.encrypt(data[333:])
    check("key stream XOR equals `openssl enc -aes-256-ctr`", a + b == openssl_ctr(key, iv, data))


def t_corpora(tmp):
    for name in corpora.CORPORA:
        t = time.time()
        a, b, c = (os.path.join(tmp, f"{name}-{x}") for x in "abc")
        sa = corpora.build(name, a, 5, True)
        STATES[name] = sa
        sb = corpora.build(name, b, 5, True)
        corpora.build(name, c, 6, True)
        ma, mb, mc = manifest(a), manifest(b), manifest(c)
        check(f"{name}: same seed gives the same tree (contents, names, mtimes)", ma == mb)
        check(f"{name}: same seed gives the same reserve pool", sa["reserve"] == sb["reserve"])
        check(f"{name}: another seed gives another tree", ma != mc)
        st = tree_stats(a)
        check(f"{name} --quick size", 350 <= st["files"] <= 1000 and 7e6 <= st["bytes"] <= 40e6 and st["dirs"] >= 30,
              f"{st['files']} files, {st['dirs']} dirs, {st['bytes'] / 1e6:.1f} MB ({time.time() - t:.0f}s)")
        check(f"{name}: reserve files are real and not in the tree",
              len(sa["reserve"]) >= 100 and all(os.path.exists(s) for k, s, r in sa["reserve"])
              and not set(r for k, s, r in sa["reserve"]) & set(list_files(a)), f"{len(sa['reserve'])} in reserve")
        for d in (b, c):
            shutil.rmtree(d)
        f = os.path.join(tmp, f"{name}-full")
        corpora.build(name, f, 5, False)
        st = tree_stats(f)
        check(f"{name} full size", 1500 <= st["files"] <= 4000 and 30e6 <= st["bytes"] <= 150e6 and st["dirs"] >= 30,
              f"{st['files']} files, {st['dirs']} dirs, {st['bytes'] / 1e6:.1f} MB")
        shutil.rmtree(f)
    o = os.path.join(tmp, "office-a")
    fs = list_files(o)
    exts = {os.path.splitext(x)[1] for x in fs}
    check("office has png, svg, docx, xlsx, sqlite, log, pdf", {".png", ".svg", ".docx", ".xlsx", ".sqlite", ".log", ".pdf"} <= exts,
          " ".join(sorted(exts)))
    d = next(x for x in fs if x.endswith(".docx"))
    with zipfile.ZipFile(os.path.join(o, d)) as z:
        names = z.namelist()
    title, ps = corpora.docx_paragraphs(os.path.join(o, d))
    check("docx has [Content_Types].xml and word/document.xml with real paragraphs",
          "[Content_Types].xml" in names and "word/document.xml" in names and len(ps) >= 1, f"{d}: {len(ps)} paragraphs")
    db = next(x for x in fs if x.endswith(".sqlite"))
    con = sqlite3.connect(os.path.join(o, db))
    n = con.execute("SELECT count(*) FROM entries").fetchone()[0]
    check("sqlite database has real rows", n > 100 and con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"{db}: {n} rows")


def t_life(tmp):
    a, b = os.path.join(tmp, "life-a"), os.path.join(tmp, "life-b")
    for name in ("docs", "office"):
        src = os.path.join(tmp, f"{name}-a")
        copytree(src, a)
        copytree(src, b)
        sa = json.loads(json.dumps(STATES[name]))
        sb = json.loads(json.dumps(sa))
        before = snapshot(a)
        dbs = [f for f in before if f.endswith(".sqlite")]
        rows0 = {f: sqlite3.connect(os.path.join(a, f)).execute("SELECT count(*), total(length(body)) FROM entries").fetchone() for f in dbs}
        totals = {}
        for day in (1, 2, 3):  # Thursday, Friday, Saturday activity (2026-01-01 is a Thursday)
            ca = life.routine_day(a, sa, day)
            cb = life.routine_day(b, sb, day)
            check(f"{name} routine day {day} is deterministic", ca == cb, json.dumps(ca))
            for k, v in ca.items():
                if k != "intensity":
                    totals[k] = totals.get(k, 0) + v
        after = snapshot(a)
        check(f"{name}: routine days give the same trees", manifest(a) == manifest(b))
        changed = [f for f in after if f in before and after[f] != before[f]]
        added = [f for f in after if f not in before]
        gone = [f for f in before if f not in after]
        check(f"{name}: routine life edits, adds and deletes files", changed and added and gone,
              f"{len(changed)} changed, {len(added)} new, {len(gone)} gone; {totals}")
        logs = [f for f in before if f.endswith(".log") and f in after and len(after[f]) > len(before[f])]
        check(f"{name}: logs are appended to", logs and all(after[f].startswith(before[f]) for f in logs), f"{len(logs)} logs grew")
        ok = True
        for f in dbs:
            con = sqlite3.connect(os.path.join(a, f))
            ok &= con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            n_changed = sum(sqlite3.connect(os.path.join(a, f)).execute(
                "SELECT count(*), total(length(body)) FROM entries").fetchone() != rows0[f] for f in dbs)
        check(f"{name}: sqlite writes leave valid databases, some changed", ok and n_changed and totals.get("db_sessions"),
              f"{n_changed} of {len(dbs)} changed")
        if name == "office":
            import datetime as dt
            d = life.Day(a, sa, sub_rng("resave"), Clock(dt.datetime(2026, 1, 5, 8), dt.datetime(2026, 1, 5, 23), sub_rng("c")))
            pre = snapshot(a)
            d.resave_office(6)
            post = snapshot(a)
            saved = [f for f in pre if f.endswith((".docx", ".xlsx")) and post[f] != pre[f]]
            ok = len(saved) == d.counts.get("office_saved") >= 4
            for f in saved:
                with zipfile.ZipFile(os.path.join(a, f)) as z:
                    ok &= z.testzip() is None
                    if f.endswith(".docx"):
                        ok &= len(corpora.docx_paragraphs(os.path.join(a, f))[1]) > len(corpora.docx_paragraphs(io.BytesIO(pre[f]))[1])
                    else:
                        ok &= z.read("xl/worksheets/sheet1.xml").count(b"<row ") > zipfile.ZipFile(io.BytesIO(pre[f])).read("xl/worksheets/sheet1.xml").count(b"<row ")
            check("office: documents saved again are valid zips with more paragraphs or rows", ok,
                  f"{len(saved)} saved: {', '.join(os.path.basename(x) for x in saved[:4])}")
        texts = [f for f in changed if is_text_name(f)]
        check(f"{name}: edited text files stay text", all(b"\0" not in after[f] for f in texts), f"{len(texts)} edited")
        import datetime as dt
        lo, hi = dt.datetime(2025, 12, 31, 8).timestamp(), dt.datetime(2026, 1, 3, 23).timestamp()
        old_contents = set(before.values())
        fresh = changed + [f for f in added if after[f] not in old_contents]  # renamed files keep their mtime
        check(f"{name}: touched files get simulated mtimes",
              all(lo <= os.stat(os.path.join(a, f)).st_mtime <= hi for f in fresh), f"{len(fresh)} files")
    # busy day: 10x the operations of the same day
    copytree(os.path.join(tmp, "docs-a"), a)
    copytree(os.path.join(tmp, "docs-a"), b)
    res = STATES["docs"]["reserve"]
    ops = lambda c: sum(v for k, v in c.items() if k in ("edited", "added", "deleted"))  # noqa: E731
    n1 = n10 = 0
    for day in (5, 6, 7, 8, 9):  # Monday to Friday
        n1 += ops(life.routine_day(a, {"corpus": "docs", "seed": 5, "reserve": res, "reserve_next": 0}, day))
        n10 += ops(life.routine_day(b, {"corpus": "docs", "seed": 5, "reserve": res, "reserve_next": 0}, day, mult=10.0))
    check("busy day has about 10x the routine operations", n10 >= 6 * n1, f"{n1} vs {n10} over five weekdays")
    shutil.rmtree(a)
    shutil.rmtree(b)


def _ctr_check(root_before, root_after, targets, key, iv, ranges_of, new_name=lambda r: r, footer=0):
    """The bytes in ranges_of(size) of each target, in order, are openssl's CTR encryption of the
    old bytes; all other bytes are unchanged."""
    plain, cipher, outside_ok = [], [], True
    for t in targets:
        old = root_before[t]
        new = root_after[new_name(t)]
        rs = ranges_of(len(old))
        mask = bytearray(len(old))
        for off, n in rs:
            plain.append(old[off:off + n])
            cipher.append(new[off:off + n])
            mask[off:off + n] = b"\1" * n
        if footer:
            plain.append(b"\0" * footer)
            cipher.append(new[len(old):])
        elif len(new) != len(old):
            outside_ok = False
        outside_ok &= all(old[i] == new[i] for i in range(len(old)) if not mask[i])
    return openssl_ctr(key, iv, b"".join(plain)) == b"".join(cipher), outside_ok


def t_attacks(tmp):
    base = os.path.join(tmp, "docs-a")
    w = os.path.join(tmp, "w")
    before = snapshot(base)
    clock = lambda r: Clock(*attack_window(40), r)  # noqa: E731
    whole = lambda n: [(0, n)]  # noqa: E731
    for how, frac, kw, rng_of in (("inplace", 0.25, {"footer": 512}, "walk"), ("inplace", 0.05, {}, "scatter"),
                                  ("renamed", 0.25, {"ext": ".locked"}, "walk"),
                                  ("intermittent", 0.25, {"pattern": "16k-of-64k"}, "scatter"),
                                  ("intermittent", 0.25, {"pattern": "4k-every-other"}, "walk"),
                                  ("head", 1.0, {}, "walk")):
        copytree(base, w)
        info = events.attack_encrypt(w, sub_rng("t", how), clock(sub_rng("c")), how, frac, rng_of, **kw)
        targets, key, iv = keys_of(sub_rng("t", how), frac, base, None, rng_of)
        after = snapshot(w)
        label = f"{how} {kw.get('pattern', '')} {frac:g} {rng_of}".replace("  ", " ")
        check(f"{label}: {round(frac * len(before))} files attacked", info["files"] == len(targets) == max(1, round(frac * len(before))))
        if how == "renamed":
            ok_names = all(t not in after and t + ".locked" in after for t in targets)
            check(f"{label}: originals removed, NAME.locked written", ok_names)
            ctr, rest = _ctr_check(before, after, targets, key, iv, whole, lambda r: r + ".locked")
        elif how == "intermittent":
            ctr, rest = _ctr_check(before, after, targets, key, iv,
                                   lambda n: events.intermittent_ranges(n, kw["pattern"]))
            big = [t for t in targets if len(before[t]) > 64 * 1024]
            check(f"{label}: files bigger than 64 KiB among the targets", big, f"{len(big)}")
        elif how == "head":
            ctr, rest = _ctr_check(before, after, targets, key, iv, events.head_ranges)
        else:
            ctr, rest = _ctr_check(before, after, targets, key, iv, whole, footer=kw.get("footer", 0))
        check(f"{label}: the intended bytes are exactly AES-256-CTR (openssl) of the old ones", ctr)
        check(f"{label}: every other byte is unchanged", rest)
        others = [f for f in before if f not in targets]
        check(f"{label}: files not targeted are unchanged", all(after.get(f) == before[f] for f in others))
    # compressed only
    copytree(base, w)
    info = events.attack_compressed(w, sub_rng("cz"), clock(sub_rng("c")), 1.0)
    after = snapshot(w)
    ch = [f for f in before if after.get(f) != before[f]]
    check("compressed_only: only compressed files changed, all of them",
          ch and all(is_compressed(f) for f in ch) and len(ch) == info["eligible"], f"{len(ch)} files")
    # mass deletion
    copytree(base, w)
    info = events.mass_delete(w, sub_rng("md"), clock(sub_rng("c")), 0.5)
    after = snapshot(w)
    check("mass_delete: about the fraction asked is deleted, the rest unchanged",
          abs(len(after) / len(before) - 0.5) < 0.02 and all(before[f] == v for f, v in after.items()),
          f"{info['fraction_deleted']} deleted, {info['dirs_removed']} directories removed")
    # notes
    copytree(base, w)
    info = events.drop_notes(w, sub_rng("n"), clock(sub_rng("c")), "HOW_TO_DECRYPT.txt", events.note_text(sub_rng("n"), "x.txt"))
    after = snapshot(w)
    notes = {f for f in after if os.path.basename(f) == "HOW_TO_DECRYPT.txt"}
    check("ransom note in every directory, nothing else changed",
          len(notes) == len(list_dirs(w)) == info["notes"] and len({after[f] for f in notes}) == 1
          and all(after[f] == before[f] for f in before), f"{len(notes)} notes")
    # slow step
    copytree(base, w)
    sc = next(s for s in scenarios.plan(11) if s["kind"] == "slow")
    st = {"corpus": "docs", "seed": 5, "reserve": [], "reserve_next": 0}
    done = set()
    info = scenarios.slow_step(sc, w, st, 41, 0, "docs", 5, done)
    check("slow: one day encrypts 1-3% of the files", 0.009 * len(before) <= info["files"] <= 0.031 * len(before) + 1,
          f"{info['files']} of {len(before)}")
    # the plan
    p = scenarios.plan(11)
    kinds = {s["kind"] for s in p}
    check("plan has every attack and benign kind, every fraction",
          kinds == set(scenarios.ATTACK_KINDS) | set(scenarios.BENIGN_KINDS)
          and all({s["fraction"] for s in p if s["kind"] == k} == set(events.FRACTIONS) for k in scenarios.HOW),
          f"{len(p)} scenarios")
    exts = {next(s["ext"] for s in scenarios.plan(x) if s["kind"] == "whole_renamed") for x in (1, 2, 11, 12, 13)}
    notes = {next(s["note"] for s in scenarios.plan(x) if s["kind"] == "notes_only") for x in (1, 2, 11, 12, 13)}
    check("extension and note name vary with the seed", len(exts) > 1 and len(notes) > 1, f"{sorted(exts)} {sorted(notes)}")
    shutil.rmtree(w)


def t_benign(tmp):
    w = os.path.join(tmp, "w")
    clock = Clock(*attack_window(40), sub_rng("c"))
    for name in ("docs", "office"):
        base = os.path.join(tmp, f"{name}-a")
        before = snapshot(base)
        copytree(base, w)
        info = events.gzip_logs(w, sub_rng("g"), clock)
        after = snapshot(w)
        logs = [f for f in before if f.endswith(".log")]
        check(f"{name} gzip_logs: .log replaced by .log.gz with the same content",
              logs and not any(f.endswith(".log") for f in after)
              and all(gzip.decompress(after[f + ".gz"]) == before[f] for f in logs), f"{len(logs)} logs")
        copytree(base, w)
        info = events.rebuild_db(w, sub_rng("r", name), clock)
        after = snapshot(w)
        dbs = [f for f in before if f.endswith(".sqlite")]
        same = True
        for f in dbs:
            a = sqlite3.connect(os.path.join(base, f))
            b = sqlite3.connect(os.path.join(w, f))
            same &= sorted(a.execute("SELECT * FROM entries")) == sorted(b.execute("SELECT * FROM entries"))
            same &= b.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        check(f"{name} rebuild_db ({info['how']}): same rows, valid, new bytes",
              same and any(after[f] != before[f] for f in dbs), f"{len(dbs)} databases")
        copytree(base, w)
        info = events.reencode_media(w, sub_rng("m"), clock)
        after = snapshot(w)
        ok = True
        for f in before:
            if f.endswith(".png") and after[f] != before[f]:
                ok &= events.png_raw(after[f]) == events.png_raw(before[f])
                pos = 8
                d = after[f]
                while pos < len(d):
                    n = int.from_bytes(d[pos:pos + 4], "big")
                    ok &= zlib.crc32(d[pos + 4:pos + 8 + n]) == int.from_bytes(d[pos + 8 + n:pos + 12 + n], "big")
                    pos += 12 + n
            if f.endswith(".gz") and after[f] != before[f]:
                ok &= gzip.decompress(after[f]) == gzip.decompress(before[f])
        check(f"{name} reencode_media: PNG pixels and .gz contents unchanged, bytes new, CRCs right",
              ok and info["files"] > 0, json.dumps(info))
    base = os.path.join(tmp, "docs-a")
    before = snapshot(base)
    for seed in range(6):
        copytree(base, w)
        r = sub_rng("inst", seed)
        info = events.install_software(w, r, clock)
        after = snapshot(w)
        new = [f for f in after if f not in before]
        check(f"install_software ({info['what']}): 200+ real files added", len(new) == info["files"] >= 200,
              f"{len(new)} files, {info['bytes'] / 1e6:.1f} MB")
    copytree(base, w)
    info = events.move_tree(w, sub_rng("mv"), clock)
    after = snapshot(w)
    check("move_tree: same contents, a large subtree at a new path",
          sorted(after.values()) == sorted(before.values()) and info["files"] >= 0.1 * len(before)
          and os.path.isdir(os.path.join(w, info["to"])) and not os.path.exists(os.path.join(w, info["from"])),
          f"{info['files']} files {info['from']} -> {info['to']}")
    copytree(base, w)
    info = events.make_archive(w, sub_rng("ar"), clock)
    with tarfile.open(os.path.join(w, "backups", os.path.basename(info["tar"]) + "-2026.tar.gz")) as t:
        n_tar = sum(1 for m in t.getmembers() if m.isfile())
    with zipfile.ZipFile(os.path.join(w, "backups", os.path.basename(info["zip"]) + "-2026.zip")) as z:
        n_zip = sum(1 for i in z.infolist() if not i.is_dir())
        bad = z.testzip()
    check("make_archive: tar.gz and zip of subtrees written into the tree",
          n_tar == info["tar_of"] and n_zip == info["zip_of"] and bad is None, f"{n_tar} + {n_zip} files archived")
    shutil.rmtree(w)


def t_parse(tmp):
    s = lambda **a: json.dumps({"message_type": "summary", "snapshot_id": "ab", "summary": {"files_new": 1}, **a}).encode()  # noqa: E731
    st = b'{"message_type":"status","percent_done":0.5}\n'
    r = runner.parse_backup(0, st + s(anomaly={"status": "clean", "score": 0.1, "reasons": [], "dirs": []}), b"")
    check("parse: clean", r["ok"] and not r["flagged"] and r["verdict"] and r["status"] == "clean")
    r = runner.parse_backup(4, st + s(anomaly={"status": "suspect", "score": 9, "reasons": ["x"], "dirs": ["d"]}), b"")
    check("parse: suspect with exit 4 is flagged", r["flagged"] and r["reasons"] == ["x"] and "inconsistent" not in r)
    r = runner.parse_backup(0, s(anomaly={"status": "suspect", "score": 9, "reasons": [], "dirs": []}), b"")
    check("parse: suspect with exit 0 is flagged and marked inconsistent", r["flagged"] and "inconsistent" in r)
    r = runner.parse_backup(0, s(), b"")
    check("parse: no anomaly key is no verdict, not flagged", r["ok"] and not r["verdict"] and not r["flagged"])
    r = runner.parse_backup(0, s(anomaly={"status": "learning", "score": 0}) + b"\n" +
                            s(anomaly={"status": "suspect", "score": 1}), b"")
    check("parse: the last summary line counts", r["status"] == "suspect")
    r = runner.parse_backup(1, b"", b"error: boom\n")
    check("parse: failure is an error", not r["ok"] and "boom" in r["error"])
    r = runner.parse_backup(0, b"garbage line\n" + s(anomaly={"status": "clean", "score": 0}), b"")
    check("parse: non-JSON stdout lines are recorded", r["ok"] and r["nonjson"] == ["garbage line"])
    r = runner.parse_backup(101, b"", b"thread 'main' panicked at src/x.rs:1:1\n")
    check("parse: a panic is recorded", not r["ok"] and "panic" in r)


def t_loop(tmp):
    if os.geteuid() != 0 or not runner.probe_loop(tmp):
        check("loop mounts (skipped: unavailable, the harness falls back to cp -a)", True)
        return
    d = os.path.join(tmp, "loop")
    os.makedirs(d)
    img, mnt = os.path.join(d, "a.img"), os.path.join(d, "mnt")
    runner.make_image(img)
    dev = runner.mount_image(img, mnt)
    os.makedirs(os.path.join(mnt, "data", "x"))
    with open(os.path.join(mnt, "data", "x", "f"), "w") as f:
        f.write("hello")
    st1 = os.stat(os.path.join(mnt, "data", "x", "f"))
    runner.umount(mnt)
    runner.detach(dev)
    runner.sh("cp", "--sparse=always", img, img + ".copy")
    dev = runner.mount_image(img + ".copy", mnt)
    st2 = os.stat(os.path.join(mnt, "data", "x", "f"))
    runner.umount(mnt)
    runner.detach(dev)
    check("loop devices are detached", not runner.loop_devices_of(img) and not runner.loop_devices_of(img + ".copy"))
    check("an image copy keeps inode, mtime and ctime of the files",
          (st1.st_ino, st1.st_mtime_ns, st1.st_ctime_ns) == (st2.st_ino, st2.st_mtime_ns, st2.st_ctime_ns))
    shutil.rmtree(d)


def t_end_to_end(tmp):
    """One quick line with the real ibars (IBARS_BIN, or target/release/ibars): orchestration,
    copies, parsing and the report. Skipped when there is no binary."""
    ibars = os.environ.get("IBARS_BIN") or os.path.join(HERE, "..", "..", "target", "release", "ibars")
    if not os.access(ibars, os.X_OK):
        print(f"skipped: end to end (no ibars binary at {ibars}; set IBARS_BIN)")
        return
    wd = os.path.join(tmp, "e2e")
    out = os.path.join(tmp, "e2e.md")
    p = subprocess.run([sys.executable, os.path.join(HERE, "eval.py"), "--ibars", ibars, "--quick", "--days", "7",
                        "--split", "fit", "--lines", "source-s2", "--workdir", wd, "--out", out,
                        "--only", "whole_inplace@1,slow,move_tree,busy_day,gzip_logs"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
    md = open(out).read() if os.path.exists(out) else ""
    check("end to end with ibars: exit 0 and a report", p.returncode == 0 and "## Split: fit" in md,
          p.stdout.decode(errors="replace")[-800:] if p.returncode else "")
    res = json.load(open(os.path.join(wd, "lines", "source-s2", "result.json")))
    check("end to end: 8 routine backups, 5 scenarios, 5 slow backups, no error",
          len(res["routine"]) == 8 and len(res["scenarios"]) == 5 and not res.get("fatal")
          and all(b["ok"] for b in res["routine"]) and all(not s.get("error") for s in res["scenarios"])
          and len(next(s for s in res["scenarios"] if s["kind"] == "slow")["backups"]) == 5)
    mv = next(s for s in res["scenarios"] if s["kind"] == "busy_day")
    check("end to end: a scenario's backup sees the routine backup's inodes (unchanged files not re-read)",
          res["mode"] == "copy" or mv["backups"][0]["stats"]["files_unchanged"] > 0.5 * res["corpus_stats"]["files"],
          json.dumps(mv["backups"][0]["stats"]))
    check("end to end: nothing left mounted or attached", not runner.mounted_under(wd)
          and wd not in subprocess.run(["losetup", "-a"], stdout=subprocess.PIPE).stdout.decode())


def t_report(tmp):
    b = lambda st, fl, day=1: {"ok": True, "verdict": True, "status": st, "score": 1.0, "flagged": fl,  # noqa: E731
                               "reasons": ["r"], "dirs": [], "day": day, "secs": 0.1}
    res = [{"corpus": "docs", "seed": 1, "split": "fit", "routine": [b("learning", False, 0), b("clean", False), b("suspect", True)],
            "scenarios": [dict(s, backups=[b("suspect", True)] * (5 if s["kind"] == "slow" else 1), info={"files": 3})
                          for s in scenarios.plan(1)], "corpus_stats": {"files": 1, "dirs": 1, "bytes": 1}}]
    md = report.full_report({"fit": res}, 1.0, ["x"])
    check("report renders", "### Every routine false positive" in md and "| whole_inplace | 0.02 | 1 | 3 | 1 | 1.00 | 0 | 0 | 0 |" in md)


def main(workdir=None, keep=False):
    tmp = os.path.abspath(workdir or tempfile.mkdtemp(prefix="insight-selftest-", dir="/tmp"))
    os.makedirs(tmp, exist_ok=True)
    t0 = time.time()
    corpora.warm()
    for t in (t_keystream, t_parse, t_report, t_loop, t_corpora, t_life, t_attacks, t_benign, t_end_to_end):
        try:
            t(tmp)
        except Exception:  # noqa: BLE001
            check(t.__name__, False, traceback.format_exc()[-1500:])
    runner.cleanup(tmp)
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    bad = [r for r in RESULTS if not r[1]]
    print(f"\nself-test: {len(RESULTS) - len(bad)} passed, {len(bad)} failed ({time.time() - t0:.0f} s)")
    return 1 if bad else 0
