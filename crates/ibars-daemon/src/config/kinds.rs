//! Which `[[job]]` keys belong to which kinds of job.

use super::RawJob;

/// The kinds of job.
pub(super) const KINDS: &[&str] = &["backup", "check", "forget", "prune", "copy"];

/// The keys only some kinds take: whether each is set, and the kinds that take it.
pub(super) fn kind_keys(j: &RawJob) -> [(&'static str, bool, &'static [&'static str]); 26] {
    const B: &[&str] = &["backup"];
    const C: &[&str] = &["check"];
    const F: &[&str] = &["forget"];
    [
        ("paths", j.paths.is_some(), B),
        ("excludes", j.excludes.is_some(), B),
        ("exclude_if_present", j.exclude_if_present.is_some(), B),
        ("one_file_system", j.one_file_system.is_some(), B),
        ("host", j.host.is_some(), B),
        ("tags", j.tags.is_some(), B),
        ("type", j.backup_type.is_some(), B),
        ("stdin_command", j.stdin_command.is_some(), B),
        ("stdin_filename", j.stdin_filename.is_some(), B),
        ("class", j.class.is_some(), B),
        ("max_age", j.max_age.is_some(), B),
        ("read_data", j.read_data.is_some(), C),
        ("read_data_subset", j.read_data_subset.is_some(), C),
        ("keep_last", j.keep_last.is_some(), F),
        ("keep_hourly", j.keep_hourly.is_some(), F),
        ("keep_daily", j.keep_daily.is_some(), F),
        ("keep_weekly", j.keep_weekly.is_some(), F),
        ("keep_monthly", j.keep_monthly.is_some(), F),
        ("keep_yearly", j.keep_yearly.is_some(), F),
        ("keep_within", j.keep_within.is_some(), F),
        ("keep_tags", j.keep_tags.is_some(), F),
        ("prune", j.prune.is_some(), F),
        ("only_tags", j.only_tags.is_some(), F),
        ("exclude_tags", j.exclude_tags.is_some(), F),
        ("grace", j.grace.is_some(), &["forget", "prune"]),
        ("target", j.target.is_some(), &["copy"]),
    ]
}
