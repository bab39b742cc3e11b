//! `ibars completions SHELL` and `ibars man DIR`: shell completions and man pages, generated
//! from the same command definitions as `--help`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

use super::{code, Cli};

/// Options of `ibars completions`.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  ibars completions bash > /etc/bash_completion.d/ibars
  ibars completions zsh > /usr/local/share/zsh/site-functions/_ibars
  ibars completions fish > ~/.config/fish/completions/ibars.fish")]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Options of `ibars man`.
#[derive(Args, Debug)]
#[command(after_help = "\
Writes ibars.1 and one page per command (ibars-backup.1, ibars-daemon.1, ...).

Example:
  ibars man /usr/local/share/man/man1 && mandb -q")]
pub struct ManArgs {
    /// The directory to write the pages into (made if missing).
    pub dir: PathBuf,
}

pub fn completions(a: &CompletionsArgs) -> Result<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "ibars", &mut out);
    use std::io::Write;
    if let Err(e) = std::io::stdout().write_all(&out) {
        super::stdout_failed(&e);
    }
    Ok(code::OK)
}

pub fn man(a: &ManArgs) -> Result<u8> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("making {}", a.dir.display()))?;
    let cmd = Cli::command();
    let mut written = 0;
    write_page(&a.dir, "ibars", cmd.clone(), &mut written)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("ibars-{}", sub.get_name());
        write_page(
            &a.dir,
            &name,
            sub.clone()
                .display_name(name.clone())
                .bin_name(format!("ibars {}", sub.get_name())),
            &mut written,
        )?;
    }
    outln!("{written} man pages written to {}", a.dir.display());
    Ok(code::OK)
}

fn write_page(dir: &Path, name: &str, cmd: clap::Command, written: &mut usize) -> Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
    *written += 1;
    Ok(())
}
