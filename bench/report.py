#!/usr/bin/env python3
"""Turn run.sh's raw measurements into results.md and results.json (stdlib only).

Inputs (written by run.sh into WORK):
  meta.tsv      key<TAB>value            run-wide facts (dataset, host, ...)
  results.tsv   tool<TAB>key<TAB>value   per-tool raw facts:
                  wall_<phase>, rss_kb_<phase>, cpu_user_<phase>, cpu_sys_<phase>,
                  rc_<phase>  (phase = init, backup1, backup2, backup3, restore),
                  repo_bytes, restore_check (ok | MISMATCH | ...), meta_check, version
Prints the Markdown report to stdout as well.

Tools: ibars, ibars-nodetect (ibars with `backup --no-detect`), restic, rustic. The
ratios compare ibars with the better of restic and rustic; ibars against
ibars-nodetect gives the cost of the anomaly features (feature_cost_*; also used
by report_real.py).
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict

MiB = 1 << 20
TOOL_ORDER = ["ibars", "ibars-nodetect", "restic", "rustic"]
BASELINES = ["restic", "rustic"]

# (json key, markdown column, phase whose wall time it is)
TIME_METRICS = [
    ("initial_backup_s", "initial backup (s)", "backup1"),
    ("nochange_backup_s", "no-change backup (s)", "backup2"),
    ("change_backup_s", "backup after 5% change (s)", "backup3"),
    ("restore_s", "restore (s)", "restore"),
    ("check_s", "check --read-data (s)", "check"),
    ("prune_s", "forget + prune (s)", "prune"),
]
RSS_PHASES = ["backup1", "backup2", "backup3", "restore", "restore2"]

# Backup phases whose time ibars (features on) and ibars-nodetect (off) are compared on:
# (phase, label).
FEATURE_PHASES = [("backup1", "initial backup"), ("backup2", "no-change backup"),
                  ("backup3", "backup after 5% change")]
# Target for (time with features) / (time without) - 1.
FEATURE_TARGET = 0.03

# Metrics whose target is set against one tool rather than the best other.
BASELINE_OVERRIDE = {"prune_s": ["restic"]}

# metric -> (label, target ratio or None for report-only)
TARGETS = {
    "initial_backup_s": ("initial backup", 0.5),
    "nochange_backup_s": ("no-change backup", 0.4),
    "change_backup_s": ("backup after 5% change", None),
    "restore_s": ("restore", 0.5),
    "check_s": ("check --read-data", None),
    "prune_s": ("forget --keep-last 5 + prune after {generations} generations", 0.5),
    "peak_rss_mib": ("peak RSS", 1.0),
    "repo_size_mib": ("repo size", 1.03),
}


def read_tsv(path: str) -> list[list[str]]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def num(s: str | None) -> float | None:
    try:
        return float(s) if s not in (None, "") else None
    except ValueError:
        return None


def tool_summary(raw: dict[str, str]) -> dict:
    out: dict = {"version": raw.get("version")}
    failed = [p for p in ["init", "check", "prune"] + RSS_PHASES if raw.get(f"rc_{p}", "0") not in ("0", "")]
    out["failed_phases"] = failed
    out["init_s"] = num(raw.get("wall_init")) if "init" not in failed else None
    for key, _, phase in TIME_METRICS:
        ok = f"rc_{phase}" in raw and phase not in failed
        out[key] = num(raw.get(f"wall_{phase}")) if ok else None
    # Restore runs twice, in opposite tool orders; the mean cancels out order effects.
    second = num(raw.get("wall_restore2")) if "restore2" not in failed else None
    if out["restore_s"] is not None and second is not None:
        out["restore_runs_s"] = [out["restore_s"], second]
        out["restore_s"] = round((out["restore_s"] + second) / 2, 2)
    out["cpu_s_by_phase"] = cpu_by_phase(raw, failed)
    rss = {p: num(raw.get(f"rss_kb_{p}")) for p in RSS_PHASES if raw.get(f"rss_kb_{p}")}
    out["rss_mib_by_phase"] = {p: round(v / 1024, 1) for p, v in rss.items() if v is not None}
    vals = [v for v in rss.values() if v is not None]
    out["peak_rss_mib"] = round(max(vals) / 1024, 1) if vals else None
    rb = num(raw.get("repo_bytes"))
    out["repo_size_bytes"] = int(rb) if rb is not None else None
    out["repo_size_mib"] = round(rb / MiB, 1) if rb is not None else None
    out["restore_check"] = raw.get("restore_check", "not run")
    out["metadata_check"] = raw.get("meta_check", "not run")
    return out


def cpu_by_phase(raw: dict[str, str], failed: list[str]) -> dict[str, float]:
    """user + system CPU seconds per phase (GNU time), for phases that did not fail."""
    out = {}
    for k, v in raw.items():
        if k.startswith("cpu_user_"):
            phase = k[len("cpu_user_"):]
            user, sys_ = num(v), num(raw.get(f"cpu_sys_{phase}"))
            if user is not None and sys_ is not None and phase not in failed:
                out[phase] = round(user + sys_, 2)
    return out


def fmt(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def feature_cost_rows(pairs: list[tuple]) -> list[dict]:
    """pairs: (phase, label, wall with, wall without, cpu with, cpu without), any may be None.

    Cost = with / without - 1 (wall clock decides PASS/FAIL against FEATURE_TARGET;
    CPU = user + system is reported beside it, it is less sensitive to machine noise)."""
    rows = []
    for phase, label, w1, w0, c1, c0 in pairs:
        cost = round(w1 / w0 - 1, 4) if w1 is not None and w0 else None
        cpu_cost = round(c1 / c0 - 1, 4) if c1 is not None and c0 else None
        if cost is None:
            res = "n/a"
        else:
            res = "PASS" if cost <= FEATURE_TARGET else "FAIL"
        rows.append({"phase": phase, "label": label, "with_s": w1, "without_s": w0, "cost": cost,
                     "cpu_with_s": c1, "cpu_without_s": c0, "cpu_cost": cpu_cost,
                     "target": FEATURE_TARGET, "result": res})
    return rows


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:+.1f}%"


def feature_cost_markdown(rows: list[dict], note: str | None) -> list[str]:
    L = ["\n## Cost of the anomaly features: ibars / ibars-nodetect − 1\n"]
    if not rows:
        L.append(f"Skipped: {note}.")
        return L
    L.append("| backup | ibars (s) | ibars-nodetect (s) | wall cost | ibars CPU (s) | ibars-nodetect CPU (s) "
             "| CPU cost | target | result |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        L.append(f"| {r['label']} | {fmt(r['with_s'])} | {fmt(r['without_s'])} | {pct(r['cost'])} "
                 f"| {fmt(r['cpu_with_s'])} | {fmt(r['cpu_without_s'])} | {pct(r['cpu_cost'])} "
                 f"| ≤ {r['target'] * 100:.0f}% | {r['result']} |")
    L.append("\nWall cost decides the result; CPU is user + system time. Costs of sub-second "
             "backups are mostly noise.")
    return L


def feature_cost_note(tools: dict) -> str | None:
    missing = [t for t in ("ibars", "ibars-nodetect") if t not in tools]
    return f"{' and '.join(missing)} not in this run" if missing else None


def run_feature_cost(tools: dict[str, dict]) -> list[dict]:
    if feature_cost_note(tools):
        return []
    on, off = tools["ibars"], tools["ibars-nodetect"]
    key = {p: k for k, _, p in TIME_METRICS}
    return feature_cost_rows([
        (p, label, on.get(key[p]), off.get(key[p]), on["cpu_s_by_phase"].get(p), off["cpu_s_by_phase"].get(p))
        for p, label in FEATURE_PHASES
    ])


def ratios(tools: dict[str, dict], generations: str) -> tuple[list[dict], str | None]:
    if "ibars" not in tools:
        return [], "ibars was not part of this run"
    bases = [t for t in BASELINES if t in tools]
    if not bases:
        return [], "neither restic nor rustic was part of this run"
    ib = tools["ibars"]
    rows = []
    for key, (label, target) in TARGETS.items():
        these = [t for t in BASELINE_OVERRIDE.get(key, bases) if t in tools]
        cands = [(tools[t][key], t) for t in these if tools[t].get(key) is not None]
        label = label.format(generations=generations)
        row = {"metric": key, "label": label, "ibars": ib.get(key), "target": target,
               "baseline": None, "baseline_tool": None, "ratio": None}
        if cands:
            row["baseline"], row["baseline_tool"] = min(cands)
        if row["ibars"] is not None and row["baseline"]:
            row["ratio"] = round(row["ibars"] / row["baseline"], 3)
        if row["ratio"] is None:
            row["result"] = "n/a"
        elif key == "restore_s" and ib["restore_check"] != "ok":
            row["result"] = "FAIL (restore incorrect)"
        elif target is None:
            row["result"] = "report only"
        else:
            row["result"] = "PASS" if row["ratio"] <= target else "FAIL"
        rows.append(row)
    note = None
    if len(bases) < len(BASELINES):
        note = f"baseline is {bases[0]} only ({', '.join(set(BASELINES) - set(bases))} not in this run)"
    return rows, note


def markdown(meta: dict[str, str], tools: dict[str, dict], ratio_rows: list[dict], note: str | None,
             feature_rows: list[dict]) -> str:
    L = []
    L.append("# ibars benchmark results\n")
    L.append(
        f"Dataset: {meta.get('dataset_gib', '?')} GiB requested, {meta.get('dataset_files', '?')} files, "
        f"{float(meta.get('dataset_bytes', 0)) / MiB:.1f} MiB, seed {meta.get('seed', '?')}  "
    )
    if meta.get("mutation"):
        L.append(f"Mutation: {meta['mutation']}  ")
    L.append(f"Host: {meta.get('host', '?')}, {meta.get('nproc', '?')} CPUs, {meta.get('cpu', '?')}, "
             f"{meta.get('mem', '?')} RAM  ")
    L.append(f"Date: {meta.get('date', '?')}  ")
    L.append("Versions: " + ", ".join(f"{t} {tools[t]['version'] or '?'}" for t in tools) + "\n")

    cols = ["tool"] + [c for _, c, _ in TIME_METRICS] + ["peak RSS (MiB)", "repo size (MiB)", "restore check"]
    L.append("| " + " | ".join(cols) + " |")
    L.append("|" + "|".join(["---"] + ["---:"] * (len(cols) - 2) + ["---"]) + "|")
    for t, s in tools.items():
        cells = [t] + [fmt(s[k]) for k, _, _ in TIME_METRICS]
        cells += [fmt(s["peak_rss_mib"], 1), fmt(s["repo_size_mib"], 1)]
        chk = s["restore_check"]
        if chk == "ok" and s["metadata_check"] not in ("ok", "not run"):
            chk += f" (metadata: {s['metadata_check']})"
        cells.append(chk if chk == "ok" or chk.startswith("ok ") else f"**{chk}**")
        L.append("| " + " | ".join(cells) + " |")
    failed = {t: s["failed_phases"] for t, s in tools.items() if s["failed_phases"]}
    if failed:
        L.append("")
        for t, ph in failed.items():
            L.append(f"**{t} FAILED in: {', '.join(ph)}** (see logs/{t}-<phase>.out)  ")

    L.append("\n## Ratios: ibars / best of (restic, rustic)\n")
    if not ratio_rows:
        L.append(f"Skipped: {note}.")
    else:
        if note:
            L.append(f"Note: {note}.\n")
        L.append("| metric | ibars | best other | ratio | target | result |")
        L.append("|---|---:|---:|---:|---:|---|")
        for r in ratio_rows:
            unit_digits = 1 if r["metric"] in ("peak_rss_mib", "repo_size_mib") else 2
            base = "—" if r["baseline"] is None else f"{fmt(r['baseline'], unit_digits)} ({r['baseline_tool']})"
            tgt = "—" if r["target"] is None else f"≤ {r['target']}"
            L.append(f"| {r['label']} | {fmt(r['ibars'], unit_digits)} | {base} | {fmt(r['ratio'], 3)} | {tgt} | {r['result']} |")
    runs = [
        f"{t} {' / '.join(f'{x:.2f}' for x in ts['restore_runs_s'])}"
        for t, ts in tools.items()
        if ts.get("restore_runs_s")
    ]
    if runs:
        L.append("\nRestore is the mean of two runs in opposite tool orders (s): " + "; ".join(runs) + ".")
    L += feature_cost_markdown(feature_rows, feature_cost_note(tools))
    L.append("\nTimes are wall-clock seconds; ratios compare tools within this run only.")
    return "\n".join(L) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True)
    a = p.parse_args()

    meta = {r[0]: r[1] if len(r) > 1 else "" for r in read_tsv(os.path.join(a.work, "meta.tsv"))}
    raw: dict[str, dict[str, str]] = defaultdict(dict)
    for r in read_tsv(os.path.join(a.work, "results.tsv")):
        raw[r[0]][r[1]] = r[2] if len(r) > 2 else ""
    order = meta.get("tools", "").split(",") if meta.get("tools") else TOOL_ORDER
    tools = {t: tool_summary(raw[t]) for t in order if t in raw}

    ratio_rows, note = ratios(tools, meta.get("generations", "20"))
    feature_rows = run_feature_cost(tools)
    md = markdown(meta, tools, ratio_rows, note, feature_rows)
    with open(os.path.join(a.work, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump({"meta": meta, "tools": tools, "ratios": ratio_rows, "ratios_note": note,
                   "feature_cost": feature_rows, "feature_cost_note": feature_cost_note(tools)}, f, indent=2)
        f.write("\n")
    print(md, end="")


if __name__ == "__main__":
    main()
