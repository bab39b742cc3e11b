//! Fills a repository with snapshots for benchmarks: N copies of its newest snapshot, one
//! minute apart going back in time (they share its trees, so nothing else is written).
//!
//! Usage: `cargo run --release -p ibars-core --example many_snapshots -- REPO_DIR PASSWORD N`

use std::path::PathBuf;
use std::sync::Arc;

use ibars_core::backend::OpendalBackend;
use ibars_core::repo::Repository;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: many_snapshots REPO_DIR PASSWORD N";
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
}
