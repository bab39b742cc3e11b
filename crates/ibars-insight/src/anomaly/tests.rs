use super::*;
use crate::record::{BackupRun, Count, Dismissal, Features, Record, RunKind, Suspicious};

fn day(d: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_767_225_600 + d * 86_400).unwrap()
}

/// A backup of a 2,000-file source on day `d`.
fn backup(d: i64, changed: u64, s: Suspicious) -> Record {
    let mut r = Record::new(RunKind::Backup, day(d), "h");
    r.backup = Some(BackupRun {
        snapshot: format!("{d:064x}"),
        paths: vec!["/srv".into()],
        backup_type: "incremental".into(),
        files_changed: changed,
        files_unchanged: 2000 - changed,
        dirs_unchanged: 50,
        bytes_read: 1000,
        bytes_added: 300,
        features: Some(Features {
            suspicious: s,
            new_exts: vec![Count("txt".into(), 2)],
            ..Default::default()
        }),
        ..Default::default()
    });
    r
}

fn routine(days: i64) -> Vec<Record> {
    (0..days)
        .map(|d| backup(d, 20 + (d as u64 % 7) * 5, Suspicious::default()))
        .collect()
}

fn judge_default(h: &[Record], r: &Record) -> Verdict {
    judge(h, r, &Params::default()).unwrap()
}

fn encrypted(n: u64) -> Suspicious {
    Suspicious {
        became_random: n,
        ..Default::default()
    }
}

#[test]
fn learning_until_the_baseline_is_long_enough() {
    let h = routine(4);
    let v = judge_default(&h, &backup(4, 500, encrypted(500)));
    assert_eq!(v.status, Status::Learning);
    assert_eq!(v.baseline, 4);
    let h = routine(5);
    assert_eq!(
        judge_default(&h, &backup(5, 30, Suspicious::default())).status,
        Status::Clean
    );
}

#[test]
fn encryption_of_two_percent_is_suspect_and_explained() {
    let h = routine(30);
    let mut r = backup(30, 60, encrypted(40));
    let f = r.backup.as_mut().unwrap().features.as_mut().unwrap();
    f.new_exts = vec![Count("locked".into(), 40)];
    f.dirs = vec![Count("/srv/docs".into(), 30)];
    let v = judge_default(&h, &r);
    assert_eq!(v.status, Status::Suspect, "{v:?}");
    assert!(v.score >= 1.0);
    assert!(
        v.reasons[0].contains("40 files (2.0%) rewritten"),
        "{:?}",
        v.reasons
    );
    assert!(v
        .reasons
        .iter()
        .any(|t| t.contains("new extension .locked")));
    assert_eq!(v.dirs, ["/srv/docs"]);
    // A busy day of ordinary edits is not.
    let v = judge_default(&h, &backup(30, 1500, Suspicious::default()));
    assert_eq!(v.status, Status::Clean);
    assert!(v.reasons.is_empty());
}

#[test]
fn a_few_odd_files_are_not_an_attack() {
    let h = routine(30);
    let v = judge_default(&h, &backup(30, 30, encrypted(3)));
    assert_eq!(v.status, Status::Clean, "{v:?}");
}

#[test]
fn slow_attack_caught_by_the_third_backup() {
    let mut h = routine(30);
    let mut caught = None;
    for i in 0..3 {
        // 0.3% of the files a day: below the single bar of 0.5%.
        let r = backup(30 + i, 30, encrypted(6));
        let v = judge_default(&h, &r);
        if v.status == Status::Suspect && caught.is_none() {
            caught = Some(i);
        }
        let mut r = r;
        r.backup.as_mut().unwrap().verdict = Some(v);
        h.push(r);
    }
    assert!(caught.is_some_and(|i| i <= 2), "{caught:?}");
}

#[test]
fn mass_deletion_and_ransom_notes() {
    let h = routine(30);
    let mut r = backup(30, 0, Suspicious::default());
    r.backup.as_mut().unwrap().files_deleted = 900;
    r.backup.as_mut().unwrap().files_unchanged = 1100;
    let v = judge_default(&h, &r);
    assert_eq!(v.status, Status::Suspect);
    assert!(
        v.reasons[0].contains("900 files (45%) deleted"),
        "{:?}",
        v.reasons
    );

    let mut r = backup(30, 0, Suspicious::default());
    let f = r.backup.as_mut().unwrap().features.as_mut().unwrap();
    f.repeated_names = vec![Count("HOW_TO_DECRYPT.txt".into(), 40)];
    let v = judge_default(&h, &r);
    assert_eq!(v.status, Status::Suspect);
    assert!(v.reasons[0].contains("HOW_TO_DECRYPT.txt appeared in 40 directories"));
}

#[test]
fn standing_anomalies_stay_out_of_the_baseline_and_dismissals_teach_it() {
    let mut h = routine(30);
    let mut attack = backup(30, 300, encrypted(300));
    let v = judge_default(&h, &attack);
    assert_eq!(v.status, Status::Suspect);
    attack.backup.as_mut().unwrap().verdict = Some(v);
    h.push(attack.clone());
    // The same again is still suspect: the flagged backup is not part of the baseline.
    let again = backup(31, 300, encrypted(300));
    assert_eq!(judge_default(&h, &again).status, Status::Suspect);
    // Once dismissed, it is, and an event of the same size passes.
    let mut d = Record::new(RunKind::Dismissal, day(31), "h");
    d.dismissal = Some(Dismissal {
        snapshot: attack.backup.as_ref().unwrap().snapshot.clone(),
        reason: Some("re-encrypted archive on purpose".into()),
        by: "ann".into(),
    });
    h.push(d);
    let v = judge_default(&h, &again);
    assert_eq!(v.status, Status::Clean, "{v:?}");
    // Other sources do not share a baseline.
    let mut other = backup(31, 300, encrypted(300));
    other.host = "elsewhere".into();
    assert_eq!(judge_default(&h, &other).status, Status::Learning);
}
