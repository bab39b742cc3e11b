//! The roots of a class: the fewest paths that hold exactly a class's files, so that a backup
//! of those paths holds the class and nothing else (`ibars backup --class critical`).

use std::collections::{BTreeSet, HashMap};

/// The directories above `path` (absolute), outermost first, without `/` itself.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(|(i, _)| &path[..i])
        .filter(|a| !a.is_empty())
}

/// The fewest paths covering exactly the files in the class. `files` gives every file of a
/// snapshot (absolute paths, directories left out) and whether it is in the class. A
/// directory is a root when every file below it is in the class, and the directory above it
/// is not such a one; a file in the class with no such directory above it is a root itself.
/// Sorted; empty when no file is in the class.
pub fn roots<'a>(files: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<String> {
    let mut below: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut members = Vec::new();
    for (path, inside) in files {
        for a in ancestors(path) {
            let e = below.entry(a).or_default();
            e.0 += 1;
            e.1 += u64::from(inside);
        }
        if inside {
            members.push(path);
        }
    }
    let whole = |d: &str| {
        below
            .get(d)
            .is_some_and(|(all, ins)| all == ins && *ins > 0)
    };
    members
        .into_iter()
        .map(|f| ancestors(f).find(|a| whole(a)).unwrap_or(f).to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::roots;

    #[test]
    fn whole_directories_and_lone_files_cover_the_class_exactly() {
        let files = [
            ("/home/ann/thesis/ch1.tex", true),
            ("/home/ann/thesis/figs/a.png", true),
            ("/home/ann/music/x.mp3", false),
            ("/home/ann/notes.txt", true),
            ("/etc/hosts", true),
            ("/etc/ssh/sshd_config", true),
            ("/srv/db/dump.sql", true),
            ("/srv/db/cache.bin", false),
        ];
        assert_eq!(
            roots(files),
            [
                "/etc",
                "/home/ann/notes.txt",
                "/home/ann/thesis",
                "/srv/db/dump.sql"
            ]
        );
        assert!(roots([("/a/b", false)]).is_empty());
        assert!(roots([]).is_empty());
        // Everything in the class: the top directory, never `/`.
        assert_eq!(roots([("/a/b", true), ("/a/c/d", true)]), ["/a"]);
        assert_eq!(roots([("/f", true)]), ["/f"]);
    }
}
