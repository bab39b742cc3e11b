//! `key` subcommands and `unlock`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use super::open::new_password;
use super::output::local_time;
use super::{code, GlobalArgs};

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List keys.
    List,
    /// Add a key with a new password.
    Add {
        /// Read the new password from this file instead of prompting.
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// Remove a key (not the one in use, and never the last).
    Remove {
        /// Key id or prefix.
        id: String,
    },
    /// Change the password of the key in use.
    Passwd {
        /// Read the new password from this file instead of prompting.
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
}

pub fn run(g: &GlobalArgs, cmd: KeyCommand) -> Result<u8> {
    let mut repo = g.open()?;
    match cmd {
        KeyCommand::List => {
            let keys = repo.list_keys()?;
            if g.json {
                outln!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                outln!(" {:<8}  {:<16}  {:<12}  Created", "ID", "Host", "User");
                for k in keys {
                    outln!(
                        "{}{:<8}  {:<16}  {:<12}  {}",
                        if k.current { "*" } else { " " },
                        k.id.short(),
                        k.host,
                        k.username,
                        local_time(k.created)
                    );
                }
            }
        }
        KeyCommand::Add { new_password_file } => {
            let pw = new_password(g, new_password_file.as_ref())?;
            let id = repo.add_key(&pw)?;
            report(g, "added", &id.to_hex());
        }
        KeyCommand::Remove { id } => {
            let _lock = repo.lock(ibars_core::repo::LockMode::Exclusive)?;
            let key = repo.find_key(&id)?;
            repo.remove_key(&key)?;
            report(g, "removed", &key.to_hex());
        }
        KeyCommand::Passwd { new_password_file } => {
            let pw = new_password(g, new_password_file.as_ref())?;
            let id = repo.change_password(&pw)?;
            report(g, "changed", &id.to_hex());
        }
    }
    Ok(code::OK)
}

fn report(g: &GlobalArgs, what: &str, id: &str) {
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"message_type": "key", "action": what, "id": id})
        );
    } else if !g.quiet {
        outln!("key {} {what}", &id[..8]);
    }
}

/// `unlock`: remove stale locks, or all with `--remove-all`.
pub fn unlock(g: &GlobalArgs, all: bool) -> Result<u8> {
    let repo = g.open()?;
    let n = repo.remove_locks(all)?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"message_type": "unlock", "removed": n})
        );
    } else if !g.quiet {
        outln!("removed {n} lock(s)");
    }
    Ok(code::OK)
}
