#!/usr/bin/env python3
"""End-to-end evaluation of ibars' anomaly (ransomware) detection. See README.md.

    bench/insight/eval.py --ibars target/release/ibars [--quick] [--split fit|report|both]
                          [--out FILE.md] [--workdir DIR] [--keep] [--jobs N]
    bench/insight/eval.py --self-test
    bench/insight/eval.py --check-ibars PATH
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import corpora  # noqa: E402
import report  # noqa: E402
import runner  # noqa: E402

SPLITS = {
    "fit": [(c, s) for c in ("docs", "source") for s in (1, 2)],
    "report": [(c, s) for c in ("docs", "source", "office") for s in (11, 12, 13)],
}
FULL_DAYS, QUICK_DAYS = 40, 30


def check_ibars(path):
    """(ready, message): the binary runs, `backup --help` mentions --time, and a backup's JSON
    summary has an `anomaly` key."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return False, f"{path}: no executable"
    h = subprocess.run([path, "backup", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if b"--time" not in h.stdout:
        return False, "`ibars backup --help` does not mention --time"
    d = tempfile.mkdtemp(prefix="insight-check-")
    try:
        os.makedirs(os.path.join(d, "data"))
        with open(os.path.join(d, "data", "a.txt"), "w") as f:
            f.write("hello\n")
        env = runner.clean_env(os.path.join(d, "xdg"))
        repo = os.path.join(d, "repo")
        r = subprocess.run([path, "-r", repo, "init"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode:
            return False, f"init failed: exit {r.returncode}: {r.stderr.decode(errors='replace')[-500:]}"
        r = subprocess.run([path, "-r", repo, "backup", os.path.join(d, "data"), "--time", "2026-01-01 02:00:00",
                            "--host", "check", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        rec = runner.parse_backup(r.returncode, r.stdout, r.stderr)
        if not rec["ok"]:
            return False, f"backup failed: {rec.get('error')}"
        if not rec["verdict"]:
            return False, "backup summary has no `anomaly` object"
        return True, f"ready (first backup: status {rec.get('status')}, score {rec.get('score')})"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ibars", help="path of the ibars binary (copied into the work directory)")
    ap.add_argument("--quick", action="store_true", help="corpora a quarter of the size, %d days" % QUICK_DAYS)
    ap.add_argument("--split", choices=("fit", "report", "both"), default="both")
    ap.add_argument("--out", help="also write the Markdown report here")
    ap.add_argument("--workdir", help="work directory (default: a new one under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--jobs", type=int, default=1, help="(corpus, seed) lines run in parallel")
    ap.add_argument("--days", type=int, help="routine days (default %d, --quick %d)" % (FULL_DAYS, QUICK_DAYS))
    ap.add_argument("--lines", help="only these lines, e.g. docs-s1,office-s11")
    ap.add_argument("--only", help="only scenarios whose name contains one of these (comma-separated)")
    ap.add_argument("--copy-mode", action="store_true", help="copy trees with cp -a instead of loop-mounted images")
    ap.add_argument("--reuse", action="store_true", help="reuse line results already in --workdir")
    ap.add_argument("--json", help="also write all raw line results here")
    ap.add_argument("--self-test", action="store_true", help="check the harness without ibars")
    ap.add_argument("--check-ibars", metavar="PATH", help="say whether PATH is ready for the evaluation")
    a = ap.parse_args(argv)

    if a.self_test:
        import selftest
        return selftest.main(a.workdir, a.keep)
    if a.check_ibars:
        ok, msg = check_ibars(a.check_ibars)
        print(msg)
        return 0 if ok else 1
    if not a.ibars:
        ap.error("--ibars is required")
    if os.geteuid() != 0 and not a.copy_mode:
        print("not root: using --copy-mode", file=sys.stderr)
        a.copy_mode = True

    t0 = time.time()
    days = a.days or (QUICK_DAYS if a.quick else FULL_DAYS)
    made_workdir = not a.workdir
    workdir = os.path.abspath(a.workdir or tempfile.mkdtemp(prefix="insight-", dir="/tmp"))
    os.makedirs(workdir, exist_ok=True)
    ok, msg = check_ibars(a.ibars)
    print(f"ibars {a.ibars}: {msg}", flush=True)
    bindir = os.path.join(workdir, "bin")
    os.makedirs(bindir, exist_ok=True)
    ibars = os.path.join(bindir, "ibars")
    shutil.copy2(a.ibars, ibars)
    loop = not a.copy_mode and runner.probe_loop(workdir)
    if not loop and not a.copy_mode:
        print("warning: loop mounts unavailable; copying trees with cp -a (new inodes: every file is "
              "read again in a scenario's backup)", file=sys.stderr)
    splits = ["fit", "report"] if a.split == "both" else [a.split]
    todo = []
    wanted = set(a.lines.split(",")) if a.lines else None
    only = a.only.split(",") if a.only else None
    for sp in splits:
        for c, s in SPLITS[sp]:
            if wanted and f"{c}-s{s}" not in wanted:
                continue
            todo.append((workdir, c, s, sp, a.quick, days, ibars, loop, a.reuse, only, a.keep))
    corpora.warm()  # forked workers inherit the lists of real files
    print(f"workdir {workdir}; {len(todo)} lines, {days} routine days each, "
          f"{'loop' if loop else 'copy'} mode, {a.jobs} job(s)", flush=True)
    results = {}
    try:
        if a.jobs <= 1:
            for t in todo:
                results[(t[1], t[2])] = runner.run_line(t)
        else:
            with ProcessPoolExecutor(max_workers=a.jobs) as ex:
                futs = {ex.submit(runner.run_line, t): t for t in todo}
                for f in as_completed(futs):
                    t = futs[f]
                    try:
                        results[(t[1], t[2])] = f.result()
                    except Exception as e:  # noqa: BLE001
                        results[(t[1], t[2])] = {"corpus": t[1], "seed": t[2], "split": t[3], "routine": [],
                                                 "scenarios": [], "fatal": f"worker died: {e}"}
    finally:
        runner.cleanup(workdir)
    wall = time.time() - t0
    by_split = {}
    for sp in splits:
        rs = [results[(c, s)] for c, s in SPLITS[sp] if (c, s) in results]
        if rs:
            by_split[sp] = rs
    header = [f"ibars: `{a.ibars}` ({msg}); {'quick' if a.quick else 'full'} corpora, {days} routine days "
              f"per line, day 0 = 2026-01-01 02:00:00; trees on {'loop-mounted ext4 images' if loop else 'cp -a copies'}; "
              f"{a.jobs} job(s); run {time.strftime('%Y-%m-%d %H:%M')}."]
    md = report.full_report(by_split, wall, header)
    print(md)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(list(results.values()), f, indent=1)
    if made_workdir and not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    elif a.keep or not made_workdir:
        print(f"work directory kept: {workdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
