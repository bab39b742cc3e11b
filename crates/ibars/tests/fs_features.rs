//! File system features end to end: devices, FIFOs, long names and paths, mount points, and
//! the repository living inside the backed-up tree.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::Command as StdCommand;

use common::*;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn devices_and_fifos_round_trip() {
    let e = Env::new();
    let src = e.path("src");
    std::fs::create_dir_all(&src).unwrap();
    nix::unistd::mkfifo(
        &src.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    if is_root() {
        // /dev/null's numbers: character device 1,3.
        nix::sys::stat::mknod(
            &src.join("null"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
    }
    e.cmd().arg("backup").arg(&src).assert().success();
    let target = e.restore_latest("r");
    let r = restored(&target, &src);
    let fifo = std::fs::symlink_metadata(r.join("fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o640);
    if is_root() {
        let dev = std::fs::symlink_metadata(r.join("null")).unwrap();
        assert!(dev.file_type().is_char_device());
        assert_eq!(dev.rdev(), nix::sys::stat::makedev(1, 3));
    }
}

/// Walk `names` below `root` with openat, creating directories when `create`; plain paths
/// cannot reach that deep.
fn deep_dir(root: &std::path::Path, names: &[String], create: bool) -> std::os::fd::OwnedFd {
    use nix::fcntl::{open, openat, OFlag};
    use nix::sys::stat::Mode;
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let mut fd = open(root, flags, Mode::empty()).unwrap();
    for n in names {
        if create {
            nix::sys::stat::mkdirat(&fd, n.as_str(), Mode::from_bits_truncate(0o755)).unwrap();
        }
        fd = openat(&fd, n.as_str(), flags, Mode::empty()).unwrap();
    }
    fd
}

#[test]
fn long_names_and_paths_beyond_path_max() {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    use std::io::{Read, Write};
    let e = Env::new();
    let src = e.path("src");
    std::fs::create_dir_all(&src).unwrap();
    // Names at NAME_MAX (255 bytes), nested until the path is over 6,000 bytes: beyond the
    // kernel's PATH_MAX of 4,096.
    let names: Vec<String> = (0..24)
        .map(|i| format!("{i:02}{}", "d".repeat(253)))
        .collect();
    let fname = "f".repeat(255);
    let dir = deep_dir(&src, &names, true);
    let fd = openat(
        &dir,
        fname.as_str(),
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::fs::File::from(fd).write_all(b"deep").unwrap();
    let full: std::path::PathBuf = names
        .iter()
        .fold(src.clone(), |p, n| p.join(n))
        .join(&fname);
    assert!(full.as_os_str().len() > 6000);

    e.cmd().arg("backup").arg(&src).assert().success();
    let listing =
        String::from_utf8(e.cmd().args(["ls", "latest"]).output().unwrap().stdout).unwrap();
    assert!(listing.contains(&fname));
    let target = e.path("r");
    e.cmd()
        .args(["restore", "latest", "--verify", "--target"])
        .arg(&target)
        .assert()
        .success();
    let rdir = deep_dir(&restored(&target, &src), &names, false);
    let fd = openat(
        &rdir,
        fname.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let mut got = String::new();
    std::fs::File::from(fd).read_to_string(&mut got).unwrap();
    assert_eq!(got, "deep");
}

#[test]
fn repository_inside_the_source_is_not_backed_up() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("home");
    write(&src.join("doc.txt"), "doc");
    let repo = src.join("backups/repo");
    let ibars = |args: &[&str]| {
        let mut c = assert_cmd::Command::cargo_bin("ibars").unwrap();
        c.arg("-r")
            .arg(&repo)
            .env("IBARS_PASSWORD", "pw")
            .args(args);
        c
    };
    ibars(&["init"]).assert().success();
    ibars(&["backup", src.to_str().unwrap()]).assert().success();
    let out = ibars(&["ls", "latest"]).output().unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains("doc.txt"));
    assert!(
        listing.contains("/backups"),
        "the directory holding the repository is kept"
    );
    assert!(
        !listing.contains("backups/repo"),
        "the repository itself is not: {listing}"
    );
}

#[test]
fn one_file_system_stops_at_mount_points() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("here.txt"), "here");
    let mnt = src.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    assert!(StdCommand::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success());
    std::fs::write(mnt.join("elsewhere.txt"), "other fs").unwrap();
    let with = e.cmd().arg("backup").arg(&src).output().unwrap();
    let without = e
        .cmd()
        .args(["backup", "--one-file-system"])
        .arg(&src)
        .output()
        .unwrap();
    let _ = StdCommand::new("umount").arg(&mnt).status();
    assert!(with.status.success() && without.status.success());
    let ids = e.snapshot_ids();
    let ls =
        |id: &str| String::from_utf8(e.cmd().args(["ls", id]).output().unwrap().stdout).unwrap();
    assert!(ls(&ids[0]).contains("elsewhere.txt"));
    let second = ls(&ids[1]);
    assert!(
        second.contains("/mnt") && !second.contains("elsewhere.txt"),
        "{second}"
    );
}
