//! Evaluation of the classification (`ibars_insight::classify`) on a labelled corpus built
//! from real parts by `scripts/eval/classify-corpus.sh`. Each file goes through what a backup
//! and `ibars classify` do with it: the class of its first 2 KiB (`features::magic`), the
//! secret scan of its first MiB (`features::SecretSample`), the markers of the directories
//! above it, then the rules; its path is taken relative to the corpus, as if the corpus were
//! the root of a machine. The labels come from the script, which places each part where its
//! label says; the rules were written without looking at the corpus's files.
//!
//!   scripts/eval/classify-corpus.sh /tmp/corpus        (or classify-heldout.py)
//!   cargo run --release -p ibars-core --example eval_classify /tmp/corpus
//!
//! A fourth column of `labels.tsv` marks planted files (secrets and look-alikes), which count
//! for the secret figures only.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use ibars_core::features::{magic, SecretSample, SECRET_SCAN_LIMIT};
use ibars_insight::classify::rules::{marker, Markers, Rules};
use ibars_insight::classify::{classify, Class, PathFacts};

struct Labelled {
    class: Class,
    sensitive: bool,
    /// Planted by the corpus script (a secret or a look-alike): counted for the secrets only.
    planted: bool,
}

fn walk(root: &Path, dir: &Path, markers: Markers, out: &mut Vec<(PathBuf, Markers)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let rel = |p: &Path| format!("/{}", p.strip_prefix(root).unwrap().display());
    let mut here = markers;
    for e in &entries {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        let head = (name == "CACHEDIR.TAG").then(|| std::fs::read(e).unwrap_or_default());
        if let Some(m) = marker(&name, head.as_deref()) {
            here.set(m, &rel(dir));
        }
    }
    for e in entries {
        let md = std::fs::symlink_metadata(&e).unwrap();
        if md.is_dir() {
            walk(root, &e, here, out);
        } else if md.is_file() {
            out.push((e, here));
        }
    }
}

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: eval_classify CORPUS"),
    );
    let labels: BTreeMap<String, Labelled> = std::fs::read_to_string(root.join("labels.tsv"))
        .expect("labels.tsv")
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (p, c, s) = (f.next()?, f.next()?, f.next()?);
            let planted = f.next() == Some("1");
            let class = Class::ALL.into_iter().find(|k| k.as_str() == c)?;
            Some((
                format!("/{p}"),
                Labelled {
                    class,
                    sensitive: s == "1",
                    planted,
                },
            ))
        })
        .collect();
    let mut files = Vec::new();
    walk(&root, &root, Markers::default(), &mut files);
    let rules = Rules::default();
    // confusion[label][verdict]
    let mut confusion: BTreeMap<(Class, Class), u64> = BTreeMap::new();
    let (mut tp_s, mut fn_s, mut fp_s, mut clean) = (0u64, 0u64, 0u64, 0u64);
    let mut mistakes = Vec::new();
    for (path, markers) in &files {
        let rel = format!("/{}", path.strip_prefix(&root).unwrap().display());
        if rel == "/labels.tsv" {
            continue;
        }
        let Some(label) = labels.get(&rel) else {
            continue;
        };
        let mut f = std::fs::File::open(path).unwrap();
        let mut data = Vec::new();
        (&mut f)
            .take(SECRET_SCAN_LIMIT)
            .read_to_end(&mut data)
            .unwrap();
        let size = std::fs::metadata(path).unwrap().len();
        let class = magic::classify(&data[..data.len().min(2048)]);
        let mut scan = SecretSample::for_path(path);
        for chunk in data.chunks(1 << 20) {
            scan.observe(chunk, Some(class));
        }
        let findings = ibars_core::ops::classify::findings(&scan.finish());
        let facts = PathFacts {
            is_dir: false,
            size,
            magic: Some(class),
            markers: *markers,
            findings: &findings,
            ..PathFacts::default()
        };
        let v = classify(&rel, &facts, &rules);
        if !label.planted {
            *confusion.entry((label.class, v.class)).or_default() += 1;
        }
        match (label.sensitive, v.sensitive) {
            (true, true) => tp_s += 1,
            (true, false) => fn_s += 1,
            (false, true) => fp_s += 1,
            (false, false) => {}
        }
        clean += u64::from(!label.sensitive);
        if (!label.planted && label.class != v.class) || label.sensitive != v.sensitive {
            mistakes.push(format!(
                "{rel}: labelled {} {}, judged {} {} ({})",
                label.class.as_str(),
                if label.sensitive { "sensitive" } else { "" },
                v.class.as_str(),
                if v.sensitive { "sensitive" } else { "" },
                v.reasons.join("; ")
            ));
        }
    }
    let n: u64 = confusion.values().sum();
    println!(
        "Classification of {n} labelled files in {}\n",
        root.display()
    );
    println!("| labelled \\ judged | critical | normal | ephemeral |");
    println!("|---|---:|---:|---:|");
    for l in Class::ALL {
        let row: Vec<String> = Class::ALL
            .iter()
            .map(|j| confusion.get(&(l, *j)).copied().unwrap_or(0).to_string())
            .collect();
        println!("| {} | {} |", l.as_str(), row.join(" | "));
    }
    let count = |f: &dyn Fn(Class, Class) -> bool| -> u64 {
        confusion
            .iter()
            .filter(|((l, j), _)| f(*l, *j))
            .map(|(_, c)| c)
            .sum()
    };
    let tp = count(&|l, j| l == Class::Ephemeral && j == Class::Ephemeral);
    let judged = count(&|_, j| j == Class::Ephemeral);
    let labelled = count(&|l, _| l == Class::Ephemeral);
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    println!("\n| measure | value | target |");
    println!("|---|---:|---|");
    println!(
        "| ephemeral precision | {:.4} ({tp} of {judged}) | ≥ 0.95 |",
        ratio(tp, judged)
    );
    println!(
        "| ephemeral recall | {:.4} ({tp} of {labelled}) | ≥ 0.95 |",
        ratio(tp, labelled)
    );
    println!(
        "| planted secrets found (recall) | {:.4} ({tp_s} of {}) | ≥ 0.95 |",
        ratio(tp_s, tp_s + fn_s),
        tp_s + fn_s
    );
    println!(
        "| clean files flagged sensitive | {:.2}% ({fp_s} of {clean}) | ≤ 1% |",
        100.0 * ratio(fp_s, clean)
    );
    println!(
        "\n{} mistake(s){}",
        mistakes.len(),
        if mistakes.is_empty() { "" } else { ":" }
    );
    for m in mistakes.iter().take(40) {
        println!("- {m}");
    }
}
