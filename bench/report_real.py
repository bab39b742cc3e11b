#!/usr/bin/env python3
"""Turn real.sh's raw measurements into results.md and results.json (stdlib only).

Inputs (written by real.sh into WORK):
  meta.tsv      key<TAB>value            run-wide facts (tree, change, host, ...)
  results.tsv   tool<TAB>key<TAB>value   per tool: wall_<label>, cpu_user_<label>,
                  cpu_sys_<label>, rss_kb_<label>, rc_<label> with label =
                  <phase>_r<round> (phase = init, initial, change, nochange;
                  round = 1, 2), repo_bytes_r<round>, version
Every backup phase ran twice, in opposite tool orders, each round into its own
repository; the report shows the mean and both values.
Prints the Markdown report to stdout as well.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
from report import (FEATURE_TARGET, MiB, TOOL_ORDER, feature_cost_markdown, feature_cost_note,
                    feature_cost_rows, fmt, num, pct, read_tsv)

ROUNDS = (1, 2)
BASELINES = ["restic", "rustic"]
# (phase, label, target ratio ibars / faster of restic and rustic, or None)
PHASES = [
    ("initial", "initial backup", 0.5),
    ("change", "second backup (after the change)", 0.5),
    ("nochange", "no-change backup", 0.4),
]


def mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 3) if xs else None


def tool_summary(raw: dict[str, str]) -> dict:
    out: dict = {"version": raw.get("version")}
    failed = sorted(k[3:] for k, v in raw.items() if k.startswith("rc_") and v not in ("0", ""))
    out["failed"] = failed
    rss_all = []
    for phase, _, _ in PHASES:
        runs, cpu_runs, user_runs, sys_runs = [], [], [], []
        for r in ROUNDS:
            label = f"{phase}_r{r}"
            if f"rc_{label}" not in raw or label in failed:
                continue
            wall, user, sys_ = (num(raw.get(f"{k}_{label}")) for k in ("wall", "cpu_user", "cpu_sys"))
            rss = num(raw.get(f"rss_kb_{label}"))
            if wall is not None:
                runs.append(wall)
            if user is not None and sys_ is not None:
                cpu_runs.append(round(user + sys_, 2))
                user_runs.append(user)
                sys_runs.append(sys_)
            if rss is not None:
                rss_all.append(rss)
        # Only a phase that completed in both rounds gets a mean: one round alone would be
        # compared with other tools' two-round means.
        complete = len(runs) == len(ROUNDS)
        out[phase] = {
            "wall_s": mean(runs) if complete else None,
            "wall_runs_s": runs,
            "cpu_s": mean(cpu_runs) if complete and len(cpu_runs) == len(ROUNDS) else None,
            "cpu_runs_s": cpu_runs,
            "user_s": mean(user_runs) if complete else None,
            "sys_s": mean(sys_runs) if complete else None,
        }
    out["peak_rss_mib"] = round(max(rss_all) / 1024, 1) if rss_all else None
    sizes = [num(raw.get(f"repo_bytes_r{r}")) for r in ROUNDS]
    sizes = [s for s in sizes if s is not None]
    out["repo_size_runs_mib"] = [round(s / MiB, 1) for s in sizes]
    out["repo_size_mib"] = round(sum(sizes) / len(sizes) / MiB, 1) if sizes else None
    return out


def cell(p: dict) -> str:
    if p["wall_s"] is None:
        return "—" if not p["wall_runs_s"] else "**incomplete** (" + " / ".join(fmt(x) for x in p["wall_runs_s"]) + ")"
    return f"{fmt(p['wall_s'])} ({' / '.join(fmt(x) for x in p['wall_runs_s'])})"


def best_other(tools: dict, pick) -> tuple[float | None, str | None]:
    cands = [(pick(tools[t]), t) for t in BASELINES if t in tools and pick(tools[t]) is not None]
    return min(cands) if cands else (None, None)


def ratio_rows(tools: dict) -> tuple[list[dict], str | None]:
    if "ibars" not in tools:
        return [], "ibars was not part of this run"
    bases = [t for t in BASELINES if t in tools]
    if not bases:
        return [], "neither restic nor rustic was part of this run"
    ib = tools["ibars"]
    rows = []

    def add(key, label, target, pick, digits=2, per_round=None):
        base, base_tool = best_other(tools, pick)
        v = pick(ib)
        ratio = round(v / base, 3) if v is not None and base else None
        if ratio is None:
            res = "n/a"
        elif target is None:
            res = "report only"
        else:
            res = "PASS" if ratio <= target else "FAIL"
        row = {"metric": key, "label": label, "ibars": v, "baseline": base, "baseline_tool": base_tool,
               "ratio": ratio, "target": target, "result": res, "digits": digits}
        if per_round:
            row["ratio_runs"] = per_round
        rows.append(row)

    for phase, label, target in PHASES:
        # Per round: ibars against the faster other tool of that same round.
        per = []
        for i in range(len(ROUNDS)):
            def pick_i(s, i=i, phase=phase):
                runs = s[phase]["wall_runs_s"]
                return runs[i] if len(runs) == len(ROUNDS) else None
            b, _ = best_other(tools, pick_i)
            v = pick_i(ib)
            per.append(round(v / b, 3) if v is not None and b else None)
        add(f"{phase}_s", label, target, lambda s, phase=phase: s[phase]["wall_s"], per_round=per)
    for phase, label, _ in PHASES:
        add(f"{phase}_cpu_s", f"{label}, CPU (user + system)", None, lambda s, phase=phase: s[phase]["cpu_s"])
    add("peak_rss_mib", "peak RSS", None, lambda s: s["peak_rss_mib"], 1)
    add("repo_size_mib", "repo size after the three backups", None, lambda s: s["repo_size_mib"], 1)
    note = None
    if len(bases) < len(BASELINES):
        note = f"baseline is {bases[0]} only ({', '.join(set(BASELINES) - set(bases))} not in this run)"
    return rows, note


def feature_rows(tools: dict) -> list[dict]:
    if feature_cost_note(tools):
        return []
    on, off = tools["ibars"], tools["ibars-nodetect"]
    rows = feature_cost_rows([
        (phase, label, on[phase]["wall_s"], off[phase]["wall_s"], on[phase]["cpu_s"], off[phase]["cpu_s"])
        for phase, label, _ in PHASES
    ])
    for row in rows:
        a, b = on[row["phase"]]["wall_runs_s"], off[row["phase"]]["wall_runs_s"]
        row["cost_runs"] = [round(x / y - 1, 4) for x, y in zip(a, b) if y] if len(a) == len(b) else []
    return rows


def markdown(meta: dict[str, str], tools: dict[str, dict], rows: list[dict], note: str | None,
             frows: list[dict]) -> str:
    def mib(key: str) -> str:
        v = num(meta.get(key))
        return "?" if v is None else f"{v / MiB:.1f} MiB"

    L = ["# ibars benchmark results: real tree\n"]
    L.append(f"Tree: {meta.get('tree_source', '?')}  ")
    L.append(f"{meta.get('tree_files', '?')} files, {meta.get('tree_dirs', '?')} directories, "
             f"{meta.get('tree_symlinks', '?')} symlinks, {mib('tree_bytes')} in files "
             f"(by kind: {meta.get('tree_kinds', '?')}), digest {meta.get('tree_digest', '?')}  ")
    if meta.get("change_replaced_dir"):
        L.append(
            f"Change before the second backup: `{meta['change_replaced_dir']}` "
            f"({meta.get('change_replaced_files', '?')} files, {mib('change_replaced_bytes')}) replaced by "
            f"{meta.get('change_replacement_files', '?')} files, {mib('change_replacement_bytes')} from "
            f"{meta.get('donor_source', '?')}; {meta.get('change_rewritten_files', '?')} files rewritten "
            f"({mib('change_appended_bytes')} appended, {mib('change_rewritten_bytes')} in them now); "
            f"{meta.get('change_touched_files', '?')} files touched only ({mib('change_touched_bytes')})  ")
    L.append(f"Host: {meta.get('host', '?')}, {meta.get('nproc', '?')} CPUs, {meta.get('cpu', '?')}, "
             f"{meta.get('mem', '?')} RAM  ")
    L.append(f"Date: {meta.get('date', '?')}  ")
    L.append("Versions: " + ", ".join(f"{t} {tools[t]['version'] or '?'}" for t in tools) + "  ")
    if meta.get("ibars_bin"):
        L.append(f"ibars binary: {meta['ibars_bin']}  ")
    L.append("")

    L.append("## Wall clock (s): mean of two rounds in opposite tool orders (round 1 / round 2)\n")
    L.append("| tool | " + " | ".join(label for _, label, _ in PHASES) + " | peak RSS (MiB) | repo size (MiB) |")
    L.append("|---|" + "---:|" * (len(PHASES) + 2))
    for t, s in tools.items():
        L.append(f"| {t} | " + " | ".join(cell(s[p]) for p, _, _ in PHASES)
                 + f" | {fmt(s['peak_rss_mib'], 1)} | {fmt(s['repo_size_mib'], 1)} |")
    failed = {t: s["failed"] for t, s in tools.items() if s["failed"]}
    if failed:
        L.append("")
        for t, ph in failed.items():
            L.append(f"**{t} FAILED in: {', '.join(ph)}** (see logs/{t}-<phase>.out)  ")

    L.append("\n## CPU (s): user + system, mean of the two rounds (user / system)\n")
    L.append("| tool | " + " | ".join(label for _, label, _ in PHASES) + " |")
    L.append("|---|" + "---:|" * len(PHASES))
    for t, s in tools.items():
        cells = []
        for p, _, _ in PHASES:
            x = s[p]
            cells.append("—" if x["cpu_s"] is None else f"{fmt(x['cpu_s'])} ({fmt(x['user_s'])} / {fmt(x['sys_s'])})")
        L.append(f"| {t} | " + " | ".join(cells) + " |")

    L.append("\n## Ratios: ibars / faster of (restic, rustic)\n")
    if not rows:
        L.append(f"Skipped: {note}.")
    else:
        if note:
            L.append(f"Note: {note}.\n")
        L.append("| metric | ibars | best other | ratio | per round | target | result |")
        L.append("|---|---:|---:|---:|---:|---:|---|")
        for r in rows:
            d = r["digits"]
            base = "—" if r["baseline"] is None else f"{fmt(r['baseline'], d)} ({r['baseline_tool']})"
            per = " / ".join(fmt(x, 3) for x in r.get("ratio_runs", [])) or "—"
            tgt = "—" if r["target"] is None else f"≤ {r['target']}"
            L.append(f"| {r['label']} | {fmt(r['ibars'], d)} | {base} | {fmt(r['ratio'], 3)} | {per} | {tgt} "
                     f"| {r['result']} |")
        L.append("\nRatios use the two-round means; \"per round\" compares ibars with the faster other "
                 "tool of the same round.")

    L += feature_cost_markdown(frows, feature_cost_note(tools))
    if frows:
        L.append("Per round (wall): " + "; ".join(
            f"{r['label']} {' / '.join(pct(x) for x in r['cost_runs']) or '—'}" for r in frows) + ".")
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

    rows, note = ratio_rows(tools)
    frows = feature_rows(tools)
    md = markdown(meta, tools, rows, note, frows)
    with open(os.path.join(a.work, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump({"meta": meta, "tools": tools, "ratios": rows, "ratios_note": note,
                   "feature_cost": frows, "feature_cost_note": feature_cost_note(tools),
                   "feature_cost_target": FEATURE_TARGET}, f, indent=2)
        f.write("\n")
    print(md, end="")


if __name__ == "__main__":
    main()
