"""Running one (corpus, seed) line: corpus, routine days with backups, then every scenario on
its own copy of the tree and repository.

The tree lives on an ext4 image mounted at LINE/mnt (loop mode), so that a scenario's copy of the
tree is a copy of the image: inode numbers, mtimes and ctimes stay what the last routine backup
saw, and the copy is backed up from the same path. Without loop mounts (copy mode) the tree is
copied with `cp -a`, which gives every file a new inode and ctime (so every file is read again).
"""

import copy
import gc
import json
import os
import shutil
import subprocess
import time
import traceback

import corpora
import life
import scenarios
from common import backup_time, fmt_time, tree_stats

PASSWORD = "insight-bench"
IMG_SIZE = "2G"


def sh(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def mounted_under(path):
    path = os.path.realpath(path)
    out = []
    with open("/proc/mounts") as f:
        for line in f:
            mp = line.split()[1].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def umount(mnt):
    """Unmount mnt, every mount stacked there too; lazily when it stays busy."""
    for i in range(30):
        if not mounted_under(mnt):
            return
        lazy = ["-l"] if i >= 10 else []
        if i == 5:
            gc.collect()  # an exception's frames may still hold a file open in there
        r = subprocess.run(["umount"] + lazy + [mnt], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            time.sleep(0.3)
    raise RuntimeError(f"umount {mnt}: {r.stderr.decode().strip()}")


def make_image(img):
    sh("truncate", "-s", IMG_SIZE, img)
    sh("mkfs.ext4", "-q", "-F", "-m", "0", "-N", "65536", "-O", "^has_journal",
       "-E", "lazy_itable_init=0,lazy_journal_init=0", img)


def mount_image(img, mnt):
    """Attach `img` to a loop device of its own and mount it; returns the device.

    The device is set up explicitly (not `mount -o loop`): mount may reuse a loop device still
    attached to an earlier, deleted file of the same name, and so show stale data."""
    os.makedirs(mnt, exist_ok=True)
    dev = sh("losetup", "--find", "--show", img).stdout.decode().strip()
    try:
        sh("mount", "-o", "noatime", dev, mnt)
    except subprocess.CalledProcessError:
        subprocess.run(["losetup", "-d", dev])
        raise
    return dev


def loop_devices_of(img):
    """Loop devices attached to `img` (by path)."""
    r = subprocess.run(["losetup", "-j", img], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return [line.split(":", 1)[0] for line in r.stdout.decode().splitlines() if line.strip()]


def detach(dev, tries=40):
    """Detach a loop device; False if it stays busy (a lazily unmounted file system still in use:
    the final cleanup tries again)."""
    for i in range(tries):
        subprocess.run(["losetup", "-d", dev], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        st = subprocess.run(["losetup", dev], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if st.returncode != 0 or not st.stdout.strip():
            return True
        time.sleep(0.25)
    print(f"warning: cannot detach {dev} yet", flush=True)
    return False


def probe_loop(workdir):
    """True when loop-mounting an ext4 image works here."""
    d = os.path.join(workdir, "probe")
    os.makedirs(d, exist_ok=True)
    img, mnt = os.path.join(d, "p.img"), os.path.join(d, "mnt")
    try:
        sh("truncate", "-s", "64M", img)
        sh("mkfs.ext4", "-q", "-F", img)
        dev = mount_image(img, mnt)
        umount(mnt)
        detach(dev)
        return True
    except (subprocess.CalledProcessError, OSError, RuntimeError):
        return False
    finally:
        if mounted_under(mnt):
            subprocess.run(["umount", mnt])
        shutil.rmtree(d, ignore_errors=True)


def cleanup(workdir):
    """Unmount everything under workdir and detach the loop devices of its images."""
    for m in mounted_under(workdir):
        try:
            umount(m)
        except RuntimeError as e:
            print(f"warning: {e}", flush=True)
    r = subprocess.run(["losetup", "-a"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    root = os.path.realpath(workdir) + "/"
    for line in r.stdout.decode().splitlines():
        dev, _, rest = line.partition(":")
        if root in rest:
            detach(dev)


def clean_env(xdg):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IBARS_")}
    env["IBARS_PASSWORD"] = PASSWORD
    for k, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"), ("XDG_DATA_HOME", "data")):
        env[k] = os.path.join(xdg, sub)
        os.makedirs(env[k], exist_ok=True)
    return env


def parse_backup(rc, stdout, stderr):
    """The verdict of one `ibars backup --json` run."""
    summary, nonjson = None, []
    lines = stdout.decode("utf-8", "replace").splitlines()
    for line in lines:
        s = line.strip()
        if not s:
            continue
        try:
            v = json.loads(s)
        except ValueError:
            nonjson.append(s[:300])
            continue
        if isinstance(v, dict) and v.get("message_type") == "summary":
            summary = v
    rec = {"rc": rc, "ok": rc in (0, 3, 4) and summary is not None}
    if nonjson:
        rec["nonjson"] = nonjson[:5]
    err = stderr.decode("utf-8", "replace")
    if "panicked" in err or "RUST_BACKTRACE" in err:
        rec["panic"] = err[-2000:]
    if summary is None:
        rec["error"] = f"exit {rc}, no summary line; stderr: {err[-1500:].strip()}; stdout tail: {' | '.join(lines[-3:])[-500:]}"
        rec["flagged"] = False
        rec["verdict"] = False
        return rec
    if not rec["ok"]:
        rec["error"] = f"exit {rc}; stderr: {err[-1500:].strip()}"
    a = summary.get("anomaly")
    rec["snapshot_id"] = summary.get("snapshot_id")
    s = summary.get("summary") or {}
    rec["stats"] = {k: s.get(k) for k in ("files_new", "files_changed", "files_unchanged",
                                           "bytes_added", "bytes_stored", "duration_ms") if k in s}
    rec["verdict"] = isinstance(a, dict)
    if isinstance(a, dict):
        rec["status"] = a.get("status")
        rec["score"] = a.get("score")
        rec["reasons"] = list(a.get("reasons") or [])
        rec["dirs"] = list(a.get("dirs") or [])[:10]
    rec["flagged"] = rec["ok"] and (rc == 4 or rec.get("status") == "suspect")
    if rec["ok"] and (rc == 4) != (rec.get("status") == "suspect") and rec["verdict"]:
        rec["inconsistent"] = f"exit {rc} with status {rec.get('status')}"
    if rc == 3:
        rec["partial"] = True
    return rec


class Line:
    def __init__(self, workdir, corpus, seed, split, quick, days, ibars, loop, log=None):
        self.corpus, self.seed, self.split, self.quick, self.days = corpus, seed, split, quick, days
        self.ibars, self.loop = ibars, loop
        self.dir = os.path.join(workdir, "lines", f"{corpus}-s{seed}")
        self.mnt = os.path.join(self.dir, "mnt")
        self.data = os.path.join(self.mnt, "data")
        self.repo = os.path.join(self.dir, "repo")
        self.xdg = os.path.join(self.dir, "xdg")
        self.img = os.path.join(self.dir, "live.img")
        self.dev = None
        self.n_images = 0
        self.base = os.path.join(self.dir, "base")
        self.host = f"insight-{corpus}-{seed}"
        self.logf = open(os.path.join(self._mk(), "line.log"), "a")
        self.log_cb = log

    def _mk(self):
        os.makedirs(self.dir, exist_ok=True)
        return self.dir

    def log(self, msg, loud=True):
        line = f"{time.strftime('%H:%M:%S')} [{self.corpus}-s{self.seed}] {msg}"
        self.logf.write(line + "\n")
        self.logf.flush()
        if self.log_cb and loud:
            self.log_cb(line)

    # -- ibars

    def run_ibars(self, args, timeout=3600):
        env = clean_env(self.xdg)
        t = time.time()
        try:
            p = subprocess.run([self.ibars, "-r", self.repo] + args, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout)
            return p.returncode, p.stdout, p.stderr, time.time() - t
        except subprocess.TimeoutExpired as e:
            return -1, e.stdout or b"", (e.stderr or b"") + b"\n(timed out)", time.time() - t

    def init_repo(self):
        rc, out, err, _ = self.run_ibars(["init"])
        if rc != 0:
            raise RuntimeError(f"ibars init failed (exit {rc}): {err.decode(errors='replace')[-1000:]}")

    def backup(self, day, label):
        when = fmt_time(backup_time(day))
        args = ["backup", self.data, "--time", when, "--host", self.host, "--json"]
        rc, out, err, secs = self.run_ibars(args)
        rec = parse_backup(rc, out, err)
        rec.update({"day": day, "time": when, "secs": round(secs, 2)})
        with open(os.path.join(self.dir, "backups.jsonl"), "a") as f:
            f.write(json.dumps({"label": label, **{k: v for k, v in rec.items()}}) + "\n")
        if not rec["ok"]:
            with open(os.path.join(self.dir, f"failed-{label}-day{day}.txt"), "wb") as f:
                f.write(b"cmd: IBARS_PASSWORD=" + PASSWORD.encode() + b" " +
                        " ".join([self.ibars, "-r", self.repo] + args).encode() + b"\n--- stdout\n" +
                        out[-20000:] + b"\n--- stderr\n" + err[-20000:])
        self.log(f"{label} day {day}: exit {rc} {rec.get('status')} score={rec.get('score')} "
                 f"{(rec.get('reasons') or [''])[0][:100]} ({secs:.1f}s)",
                 loud=label != "routine" or rec.get("flagged") or not rec["ok"])
        return rec

    # -- tree storage

    def _new_img(self):
        self.n_images += 1  # a new name each time, never one a loop device may still hold
        self.img = os.path.join(self.dir, f"live-{self.n_images}.img")
        return self.img

    def _unmount(self):
        if mounted_under(self.mnt):
            umount(self.mnt)
        if self.dev:
            detach(self.dev)
            self.dev = None
        for dev in loop_devices_of(self.img):
            detach(dev)

    def setup_tree(self):
        if self.loop:
            make_image(self._new_img())
            self.dev = mount_image(self.img, self.mnt)
        else:
            os.makedirs(self.mnt, exist_ok=True)

    def stash_base(self):
        os.makedirs(self.base, exist_ok=True)
        if self.loop:
            self._unmount()
            os.rename(self.img, os.path.join(self.base, "fs.img"))
        else:
            os.rename(self.mnt, os.path.join(self.base, "mnt"))
        os.rename(self.repo, os.path.join(self.base, "repo"))
        os.rename(self.xdg, os.path.join(self.base, "xdg"))

    def checkout(self):
        for d in (self.repo, self.xdg):
            shutil.rmtree(d, ignore_errors=True)
        sh("cp", "-a", os.path.join(self.base, "repo"), self.repo)
        sh("cp", "-a", os.path.join(self.base, "xdg"), self.xdg)
        if self.loop:
            sh("cp", "--sparse=always", os.path.join(self.base, "fs.img"), self._new_img())
            self.dev = mount_image(self.img, self.mnt)
        else:
            shutil.rmtree(self.mnt, ignore_errors=True)
            sh("cp", "-a", os.path.join(self.base, "mnt"), self.mnt)

    def release(self):
        if self.loop:
            self._unmount()
            if os.path.exists(self.img):
                os.remove(self.img)
        else:
            shutil.rmtree(self.mnt, ignore_errors=True)
        for d in (self.repo, self.xdg):
            shutil.rmtree(d, ignore_errors=True)

    # -- the line

    def run(self, only=None):
        t0 = time.time()
        res = {"corpus": self.corpus, "seed": self.seed, "split": self.split, "quick": self.quick,
               "days": self.days, "mode": "loop" if self.loop else "copy", "routine": [],
               "scenarios": []}
        try:
            for d in (self.base, self.repo, self.xdg):
                shutil.rmtree(d, ignore_errors=True)
            if mounted_under(self.mnt):
                umount(self.mnt)
            shutil.rmtree(self.mnt, ignore_errors=True)
            for f in os.listdir(self.dir):
                if f.endswith(".img"):
                    for dev in loop_devices_of(os.path.join(self.dir, f)):
                        detach(dev)
                    os.remove(os.path.join(self.dir, f))
            self.setup_tree()
            t = time.time()
            state = corpora.build(self.corpus, self.data, self.seed, self.quick)
            res["corpus_stats"] = tree_stats(self.data)
            res["corpus_build_secs"] = round(time.time() - t, 1)
            self.log(f"corpus {res['corpus_stats']} in {res['corpus_build_secs']}s")
            self.init_repo()
            rec = self.backup(0, "routine")
            rec["counts"] = {}
            res["routine"].append(rec)
            for day in range(1, self.days + 1):
                counts = life.routine_day(self.data, state, day)
                rec = self.backup(day, "routine")
                rec["counts"] = counts
                res["routine"].append(rec)
            res["final_stats"] = tree_stats(self.data)
            self.stash_base()
        except Exception as e:  # noqa: BLE001 - the line fails, the run goes on
            res["fatal"] = f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}"
            self.log("FATAL " + res["fatal"])
            self.release()
            res["wall_secs"] = round(time.time() - t0, 1)
            return res
        base_state = state
        D = self.days + 1
        for sc in scenarios.plan(self.seed):
            if only and not any(o in sc["name"] for o in only):
                continue
            out = {k: v for k, v in sc.items()}
            out["backups"] = []
            try:
                self.checkout()
                st = copy.deepcopy(base_state)
                if sc["kind"] == "slow":
                    done, infos = set(), []
                    for i in range(sc["days"]):
                        infos.append(scenarios.slow_step(sc, self.data, st, D + i, i, self.corpus,
                                                         self.seed, done))
                        out["backups"].append(self.backup(D + i, sc["name"]))
                    out["info"] = {"per_day": infos, "files": len(done)}
                else:
                    out["info"] = scenarios.apply(sc, self.data, st, D, self.corpus, self.seed)
                    out["backups"].append(self.backup(D, sc["name"]))
            except Exception as e:  # noqa: BLE001
                out["error"] = f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}"
                self.log(f"scenario {sc['name']} ERROR {out['error']}")
            finally:
                try:
                    self.release()
                except Exception as e:  # noqa: BLE001
                    out["error"] = (out.get("error") or "") + f"\nrelease: {e}"
            res["scenarios"].append(out)
        res["wall_secs"] = round(time.time() - t0, 1)
        return res


def run_line(args):
    """Entry point of a worker process."""
    (workdir, corpus, seed, split, quick, days, ibars, loop, reuse, only, keep) = args
    path = os.path.join(workdir, "lines", f"{corpus}-s{seed}", "result.json")
    key = {"quick": quick, "days": days, "only": only}
    if reuse and os.path.exists(path):
        with open(path) as f:
            r = json.load(f)
        if r.get("key") == key:
            r["reused"] = True
            return r
    ln = Line(workdir, corpus, seed, split, quick, days, ibars, loop,
              log=lambda m: print(m, flush=True))
    r = ln.run(only)
    r["key"] = key
    with open(path, "w") as f:
        json.dump(r, f, indent=1)
    ln.log(f"done in {r['wall_secs']}s")
    if not keep:  # the line's trees and repositories; result.json and the logs stay
        for d in (ln.base, ln.repo, ln.xdg, ln.mnt):
            if not mounted_under(d):
                shutil.rmtree(d, ignore_errors=True)
        if os.path.exists(ln.img):
            os.remove(ln.img)
    return r
