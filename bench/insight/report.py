"""Markdown tables from line results."""

import statistics

from scenarios import ATTACK_KINDS, BENIGN_KINDS

RECALL_KINDS = ("whole_inplace", "whole_renamed", "intermittent", "head_only")


def _first_reason(b):
    r = b.get("reasons") or []
    return r[0] if r else ""


def _fmt_score(x):
    return "-" if x is None else (f"{x:.3g}" if isinstance(x, (int, float)) else str(x))


def _pct(a, b):
    return "-" if not b else f"{100.0 * a / b:.1f}%"


def _md(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def _scores(bs):
    return [b["score"] for b in bs if isinstance(b.get("score"), (int, float))]


def _stat(xs, f):
    return _fmt_score(f(xs)) if xs else "-"


def _p(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def line_name(r):
    return f"{r['corpus']}-s{r['seed']}"


def split_report(name, results, wall=None):
    out = [f"## Split: {name}", ""]
    if name == "fit":
        out.append("Seeds {1, 2} on corpora {docs, source}: the data thresholds may be tuned on.")
    else:
        out.append("Seeds {11, 12, 13} on corpora {docs, source, office}: held out, never used for tuning.")
    out.append("")
    out += ["### Lines", "", "| line | mode | files | dirs | MB | routine days | mean backup s | wall s | note |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        cs = r.get("corpus_stats") or {}
        secs = [b["secs"] for b in r["routine"] if "secs" in b]
        out.append(f"| {line_name(r)} | {r.get('mode')} | {cs.get('files', '-')} | {cs.get('dirs', '-')} | "
                   f"{cs.get('bytes', 0) / 1e6:.1f} | {len(r['routine']) - 1 if r['routine'] else 0} | "
                   f"{statistics.mean(secs) if secs else 0:.2f} | {r.get('wall_secs', '-')} | "
                   f"{_md((r.get('fatal') or '').splitlines()[0] if r.get('fatal') else ('reused' if r.get('reused') else ''))} |")
    out.append("")

    # routine
    routine = [(r, b) for r in results for b in r["routine"]]
    learning = [x for x in routine if x[1].get("status") == "learning"]
    errors = [x for x in routine if not x[1].get("ok")]
    noverdict = [x for x in routine if x[1].get("ok") and not x[1].get("verdict")]
    evald = [x for x in routine if x[1].get("ok") and x[1].get("verdict") and x[1].get("status") != "learning"]
    fps = [x for x in evald if x[1].get("flagged")]
    rs = _scores([b for _, b in evald])
    out += ["### Routine backups", "",
            "| backups | learning | errors | no verdict | evaluated | flagged | FP rate | score median | p99 | max |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {len(routine)} | {len(learning)} | {len(errors)} | {len(noverdict)} | {len(evald)} | {len(fps)} | "
            f"{_pct(len(fps), len(evald))} | {_stat(rs, statistics.median)} | {_stat(rs, lambda x: _p(x, 0.99))} | "
            f"{_stat(rs, max)} |", ""]
    first_eval = {}
    for r, b in evald:
        first_eval.setdefault(line_name(r), b["day"])
    if first_eval:
        out.append("First evaluated (non-learning) routine day per line: " +
                   ", ".join(f"{k} {v}" for k, v in sorted(first_eval.items())) + ".")
        out.append("")

    # attacks
    sc_all = [(r, s) for r in results for s in r["scenarios"]]
    out += ["### Attacks (first backup after the attack)", "",
            "| attack | fraction | trials | files hit (mean) | detected | recall | errors | no verdict | n/a | score min | median | example reason |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    missed, sc_errors, not_applicable = [], [], []
    summary_recall = {}
    for kind in ATTACK_KINDS:
        if kind == "slow":
            continue
        if kind == "mass_delete":  # one group: the fraction varies with the seed
            groups = [(None, [(r, s) for r, s in sc_all if s["kind"] == kind])]
        else:
            fracs = sorted({s.get("fraction") for _, s in sc_all if s["kind"] == kind}, key=lambda x: x or 0)
            groups = [(fr, [(r, s) for r, s in sc_all if s["kind"] == kind and s.get("fraction") == fr])
                      for fr in fracs]
        for fr, rows in groups:
            trials, det, err, nv, na, reasons, bs, hit = 0, 0, 0, 0, 0, [], [], []
            for r, s in rows:
                b = s["backups"][0] if s["backups"] else None
                info = s.get("info") or {}
                n_hit = info.get("files", info.get("notes", 0)) or 0
                n_tree = (r.get("final_stats") or r.get("corpus_stats") or {}).get("files", 0)
                minimum = max(1, min(round(0.02 * n_tree), 200))
                if not s.get("error") and (n_hit == 0 or (kind == "compressed_only" and n_hit < minimum)):
                    # nothing (or less than min(2% of the files, 200)) to attack: e.g. a tree with
                    # hardly any compressed files
                    na += 1
                    not_applicable.append((r, s, n_hit, minimum))
                    continue
                if s.get("error") or b is None or not b.get("ok"):
                    err += 1
                    sc_errors.append((r, s, b))
                    continue
                trials += 1
                bs.append(b)
                hit.append(n_hit)
                if not b.get("verdict"):
                    nv += 1
                if b.get("flagged"):
                    det += 1
                    if _first_reason(b) and len(reasons) < 1:
                        reasons.append(_first_reason(b))
                else:
                    missed.append((r, s, b))
            sc = _scores(bs)
            if kind == "mass_delete":
                frs = "/".join(sorted({f"{s.get('fraction'):g}" for _, s in rows}))
            else:
                frs = "-" if fr is None else f"{fr:g}"
            out.append(f"| {kind} | {frs} | {trials} | {statistics.mean(hit) if hit else 0:.0f} | {det} | "
                       f"{(det / trials) if trials else 0:.2f} | {err} | {nv} | {na} | "
                       f"{_stat(sc, min)} | {_stat(sc, statistics.median)} | {_md(reasons[0][:120]) if reasons else ''} |")
            summary_recall[(kind, fr)] = (det, trials)
    if not_applicable:
        out.append("")
        out.append("n/a (fewer files to attack than min(2% of the files, 200); not counted): " +
                   ", ".join(f"{line_name(r)} {s['name']} ({n} of at least {m})" for r, s, n, m in not_applicable) + ".")
    out.append("")

    # slow
    slow = [(r, s) for r, s in sc_all if s["kind"] == "slow"]
    out += ["### Slow attack (1-3% of the files a day)", "",
            "| line | encryption | first flagged at backup # | scores per backup | first reason |", "|---|---|---:|---|---|"]
    slow_ok, slow_n = 0, 0
    for r, s in slow:
        if s.get("error"):
            sc_errors.append((r, s, None))
            out.append(f"| {line_name(r)} | {s.get('how')} | error | | {_md(s['error'].splitlines()[0])} |")
            continue
        first = next((i + 1 for i, b in enumerate(s["backups"]) if b.get("flagged")), None)
        slow_n += 1
        if first is not None and first <= 3:
            slow_ok += 1
        reason = next((_first_reason(b) for b in s["backups"] if b.get("flagged")), "")
        out.append(f"| {line_name(r)} | {s.get('how')} | {first if first else 'never (of %d)' % len(s['backups'])} | "
                   f"{', '.join(_fmt_score(b.get('score')) for b in s['backups'])} | {_md(reason[:120])} |")
    out.append("")
    out.append(f"Slow attack flagged by the 3rd backup: {slow_ok} / {slow_n}.")
    out.append("")

    # benign
    out += ["### Benign bulk events (must not alarm)", "",
            "| event | trials | alarms | rate | errors | no verdict | score max | example reason |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    alarms = []
    for kind in BENIGN_KINDS:
        rows = [(r, s) for r, s in sc_all if s["kind"] == kind]
        trials = al = err = nv = 0
        bs, reasons = [], []
        for r, s in rows:
            b = s["backups"][0] if s["backups"] else None
            if s.get("error") or b is None or not b.get("ok"):
                err += 1
                sc_errors.append((r, s, b))
                continue
            trials += 1
            bs.append(b)
            if not b.get("verdict"):
                nv += 1
            if b.get("flagged"):
                al += 1
                alarms.append((r, s, b))
            if _first_reason(b) and not reasons:
                reasons.append(_first_reason(b))
        sc = _scores(bs)
        out.append(f"| {kind} | {trials} | {al} | {_pct(al, trials)} | {err} | {nv} | {_stat(sc, max)} | "
                   f"{_md(reasons[0][:120]) if reasons else ''} |")
    out.append("")

    # by corpus
    na_ids = {id(x[1]) for x in not_applicable}
    out += ["### By corpus", "", "| corpus | routine evaluated | false positives | attack trials (first backup, n/a excluded) | detected | benign trials | alarms |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for corpus in sorted({r["corpus"] for r in results}):
        ev = [b for r, b in evald if r["corpus"] == corpus]
        at = [s["backups"][0] for r, s in sc_all if r["corpus"] == corpus and not s["benign"] and s["backups"]
              and s["backups"][0].get("ok") and s["kind"] != "slow" and id(s) not in na_ids]
        be = [s["backups"][0] for r, s in sc_all if r["corpus"] == corpus and s["benign"] and s["backups"]
              and s["backups"][0].get("ok")]
        out.append(f"| {corpus} | {len(ev)} | {sum(b.get('flagged', False) for b in ev)} | {len(at)} | "
                   f"{sum(b.get('flagged', False) for b in at)} | {len(be)} | {sum(b.get('flagged', False) for b in be)} |")
    out.append("")

    # targets
    out += ["### Targets", ""]
    n_eval = len(evald)
    fpr = len(fps) / n_eval if n_eval else None
    fpr_ok = fpr is not None and fpr <= 0.01 and (name != "report" or n_eval >= 200)
    out.append(f"- routine false-positive rate <= 1%{' over >= 200 backups' if name == 'report' else ''}: "
               f"{'PASS' if fpr_ok else 'FAIL'} ({len(fps)}/{n_eval})")
    for kind in RECALL_KINDS:
        for (k, fr), (d, t) in sorted(summary_recall.items(), key=lambda x: (x[0][0], x[0][1] or 0)):
            if k == kind:
                out.append(f"- {kind} @ {fr:g} recall >= 0.95: {'PASS' if t and d / t >= 0.95 else 'FAIL'} ({d}/{t})")
    out.append(f"- slow attack flagged by the 3rd backup: {'PASS' if slow_n and slow_ok == slow_n else 'FAIL'} ({slow_ok}/{slow_n})")
    out.append(f"- benign events: 0 alarms: {'PASS' if not alarms else 'FAIL'} ({len(alarms)})")
    out.append("")

    # examples
    out += ["### Example verdict reasons (first reason) per scenario kind", ""]
    for kind in ATTACK_KINDS + BENIGN_KINDS:
        seen = []
        for r, s in sc_all:
            if s["kind"] != kind:
                continue
            for b in s["backups"]:
                fr = _first_reason(b)
                if fr and fr not in seen:
                    seen.append(fr)
        if seen:
            out.append(f"- **{kind}**: " + " / ".join(f"`{_md(x[:160])}`" for x in seen[:3]))
    out.append("")

    def detail(r, b, extra=""):
        reasons = "; ".join(b.get("reasons") or []) if b else ""
        dirs = ", ".join(b.get("dirs") or []) if b else ""
        return (f"| {line_name(r)} | {extra} | {b.get('day') if b else '-'} | {b.get('status') if b else '-'} | "
                f"{_fmt_score(b.get('score')) if b else '-'} | {_md(reasons[:400])} | {_md(dirs[:200])} |")

    out += ["### Every routine false positive", ""]
    if fps:
        out += ["| line | day's activity | day | status | score | reasons | dirs |", "|---|---|---:|---|---:|---|---|"]
        for r, b in fps:
            c = b.get("counts") or {}
            out.append(detail(r, b, _md(", ".join(f"{k}={v}" for k, v in c.items()))))
    else:
        out.append("None.")
    out.append("")
    out += ["### Every benign-event alarm", ""]
    if alarms:
        out += ["| line | event | day | status | score | reasons | dirs |", "|---|---|---:|---|---:|---|---|"]
        for r, s, b in alarms:
            out.append(detail(r, b, s["name"]))
    else:
        out.append("None.")
    out.append("")
    out += ["### Every missed attack (first backup not flagged)", ""]
    slow_missed = [(r, s, s["backups"][-1]) for r, s in slow
                   if not s.get("error") and not any(b.get("flagged") for b in s["backups"][:3])]
    if missed or slow_missed:
        out += ["| line | attack | day | status | score | reasons | dirs |", "|---|---|---:|---|---:|---|---|"]
        for r, s, b in missed:
            info = s.get("info") or {}
            n = info.get("files", info.get("notes", "?"))
            out.append(detail(r, b, f"{s['name']} ({n} {'files' if 'files' in info else 'notes'}"
                                     f"{', ' + s['mode'] if s.get('mode') else ''})"))
        for r, s, b in slow_missed:
            out.append(detail(r, b, f"slow, not flagged by backup 3"))
    else:
        out.append("None.")
    out.append("")
    errs = [x for x in routine if not x[1].get("ok")]
    if errs or sc_errors or any(r.get("fatal") for r in results):
        out += ["### Errors", ""]
        for r in results:
            if r.get("fatal"):
                out.append(f"- {line_name(r)}: line failed: `{_md(r['fatal'].splitlines()[0][:300])}`")
        for r, b in errs[:20]:
            out.append(f"- {line_name(r)} routine day {b.get('day')}: `{_md((b.get('error') or '')[:400])}`")
        if len(errs) > 20:
            out.append(f"- ... {len(errs) - 20} more routine errors")
        for r, s, b in sc_errors[:30]:
            msg = s.get("error") or (b.get("error") if b else "no backup")
            out.append(f"- {line_name(r)} {s['name']}: `{_md((msg or '')[:400])}`")
        out.append("")
    odd = [(r, b) for r in results for b in r["routine"] + [x for s in r["scenarios"] for x in s["backups"]]
           if b.get("nonjson") or b.get("panic") or b.get("inconsistent")]
    if odd:
        out += ["### Odd ibars output", ""]
        for r, b in odd[:20]:
            what = b.get("panic") or b.get("inconsistent") or "non-JSON stdout: " + " | ".join(b["nonjson"])
            out.append(f"- {line_name(r)} day {b.get('day')}: `{_md(what[:400])}`")
        out.append("")
    return out


def full_report(by_split, wall, header):
    out = ["# ibars insight evaluation", ""] + header + [""]
    for name, results in by_split.items():
        out += split_report(name, results)
    out.append(f"Wall time of the whole run: {wall / 60:.1f} min ({wall:.0f} s).")
    return "\n".join(out) + "\n"
