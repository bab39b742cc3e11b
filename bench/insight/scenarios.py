"""The scenario plan of one (corpus, seed) line and how each scenario is applied."""

import datetime as dt

import events
import life
from common import Clock, attack_window, day_window, sub_rng

ATTACK_KINDS = ("whole_inplace", "whole_renamed", "intermittent", "head_only", "compressed_only",
                "slow", "mass_delete", "notes_only", "notes_renamed")
BENIGN_KINDS = ("gzip_logs", "install_software", "move_tree", "rebuild_db", "make_archive",
                "reencode_media", "busy_day")
HOW = {"whole_inplace": "inplace", "whole_renamed": "renamed", "intermittent": "intermittent",
       "head_only": "head"}
SLOW_DAYS = 5


def plan(seed):
    """Every scenario of a line, with the per-seed variations fixed here."""
    r = sub_rng("plan", seed)
    ext = events.locked_ext(r)
    note = events.seed_choice(r, events.NOTE_NAMES)
    out = []
    for kind, how in HOW.items():
        for i, f in enumerate(events.FRACTIONS):
            sc = {"kind": kind, "fraction": f, "how": how,
                  "mode": "walk" if (i + seed) % 2 == 0 else "scatter"}
            if how in ("inplace", "renamed"):
                sc["footer"] = events.seed_choice(r, [0, 0, 512])
            if how == "renamed":
                sc["ext"] = ext
            if how == "intermittent":
                sc["pattern"] = ("16k-of-64k", "4k-every-other")[(i + seed) % 2]
            out.append(sc)
    for f in (0.25, 1.0):
        out.append({"kind": "compressed_only", "fraction": f})
    out.append({"kind": "slow", "how": events.seed_choice(r, ["inplace", "renamed"]), "ext": ext,
                "days": SLOW_DAYS})
    out.append({"kind": "mass_delete", "fraction": round(r.uniform(0.3, 0.7), 2)})
    out.append({"kind": "notes_only", "note": note})
    out.append({"kind": "notes_renamed", "note": note, "fraction": 0.05, "ext": ext})
    for k in BENIGN_KINDS:
        out.append({"kind": k})
    for sc in out:
        sc["benign"] = sc["kind"] in BENIGN_KINDS
        sc["name"] = sc["kind"] + (f"@{sc['fraction']:g}" if "fraction" in sc else "")
    return out


def _clean(info):
    info = dict(info)
    t = info.pop("targets", None)
    if t is not None:
        info["example_targets"] = t[:3]
    return info


def apply(sc, root, state, day, corpus, seed):
    """Apply scenario `sc` on the day before backup `day` (routine activity first, unless the
    event is the busy day itself). Returns the info dict. Slow attacks use slow_step."""
    rng = sub_rng("scenario", corpus, seed, sc["name"])
    k = sc["kind"]
    if k == "busy_day":
        return {"routine": life.routine_day(root, state, day, mult=10.0)}
    routine = life.routine_day(root, state, day)
    if sc["benign"]:
        s, e = day_window(day)
        clock = Clock(e - dt.timedelta(hours=4), e, rng)
    else:
        clock = Clock(*attack_window(day), rng)
    if k in HOW:
        info = events.attack_encrypt(root, rng, clock, sc["how"], sc["fraction"], sc["mode"],
                                     **{x: sc[x] for x in ("footer", "ext", "pattern") if x in sc})
    elif k == "compressed_only":
        info = events.attack_compressed(root, rng, clock, sc["fraction"])
    elif k == "mass_delete":
        info = events.mass_delete(root, rng, clock, sc["fraction"])
    elif k == "notes_only":
        info = events.drop_notes(root, rng, clock, sc["note"], events.note_text(rng, sc["note"]))
    elif k == "notes_renamed":
        info = events.attack_encrypt(root, rng, clock, "renamed", sc["fraction"], "walk", ext=sc["ext"])
        info.update(events.drop_notes(root, rng, clock, sc["note"], events.note_text(rng, sc["note"])))
    else:
        info = getattr(events, k)(root, rng, clock)
    info = _clean(info)
    info["routine"] = routine
    return info


def slow_step(sc, root, state, day, i, corpus, seed, done):
    """Day i (0-based) of a slow attack: routine activity, then 1-3% of the files encrypted."""
    rng = sub_rng("scenario", corpus, seed, sc["name"], i)
    routine = life.routine_day(root, state, day)
    clock = Clock(*attack_window(day), rng)
    files = [f for f in events.list_files(root) if f not in done and not f.endswith(sc["ext"])]
    frac = rng.uniform(0.01, 0.03)
    n_all = len(events.list_files(root))
    n = max(1, round(frac * n_all))
    info = events.attack_encrypt(root, rng, clock, sc["how"], n / max(1, len(files)), "walk",
                                 eligible=files, **({"ext": sc["ext"]} if sc["how"] == "renamed" else {}))
    for t in info["targets"]:
        done.add(t if sc["how"] == "inplace" else t + sc["ext"])
    info = _clean(info)
    info["routine"] = routine
    return info
