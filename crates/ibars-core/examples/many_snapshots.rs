//! Fills a repository with snapshots for benchmarks: N copies of its newest snapshot, one
//! minute apart going back in time (they share its trees, so nothing else is written); and
//! with H, H copies of its newest history record, one hour apart going back.
//!
//! Usage: `cargo run --release -p ibars-core --example many_snapshots -- REPO_DIR PASSWORD N [H]`

use std::path::PathBuf;
use std::sync::Arc;

use ibars_core::backend::OpendalBackend;
use ibars_core::repo::Repository;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: many_snapshots REPO_DIR PASSWORD N [H]";
    let dir = PathBuf::from(args.next().expect(usage));
    let password = args.next().expect(usage);
    let n: i64 = args.next().expect(usage).parse().expect(usage);
    let backend = OpendalBackend::local(&dir, false).expect("open the repository directory");
    let repo = Repository::open(Arc::new(backend), password.as_bytes()).expect("open");
    let (_, newest) = repo
        .snapshots()
        .expect("list snapshots")
        .pop()
        .expect("the repository needs one snapshot to copy");
    let copies: Vec<i64> = (1..=n).collect();
    ibars_core::repo::parallel_map(&copies, 8, |i| {
        let mut s = newest.clone();
        s.time = newest.time - jiff::SignedDuration::from_mins(*i);
        repo.save_snapshot(&s).map(|_| ())
    })
    .expect("save the copies");
    println!("{n} snapshots added");
    let h: i64 = args.next().map_or(0, |a| a.parse().expect(usage));
    if h > 0 {
        let newest = ibars_core::history::load_all(&repo)
            .expect("read the history")
            .records
            .pop()
            .expect("the repository needs one history record to copy")
            .1;
        let copies: Vec<i64> = (1..=h).collect();
        ibars_core::repo::parallel_map(&copies, 8, |i| {
            let mut r = newest.clone();
            r.time = newest.time - jiff::SignedDuration::from_hours(*i);
            ibars_core::history::save(&repo, &r).map(|_| ())
        })
        .expect("save the records");
        println!("{h} history records added");
    }
}
