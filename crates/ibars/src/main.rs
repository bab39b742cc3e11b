//! The `ibars` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// glibc's allocator gives each thread that allocates its own heap arena (up to eight per
/// core) and keeps freed memory there. Restore hands read buffers between I/O and worker
/// threads, and the arenas then held 30-50 MiB more at peak than two arenas do, at no cost in
/// speed. The arena limit is read only at process start, so set it by re-executing once.
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MALLOC_ARENA_MAX";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only if it failed; then simply carry on in this process.
    let _ = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env(VAR, "2")
        .exec();
}

/// A job the daemon runs asks to be stopped (SIGTERM: it ends cleanly, exit 130) when the
/// daemon dies, so that no backup outlives it unseen; if the daemon is gone already, it does
/// not start.
fn follow_daemon() -> Option<ExitCode> {
    let parent: i32 = std::env::var("IBARS_PARENT_PID").ok()?.parse().ok()?;
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    if nix::unistd::getppid().as_raw() != parent {
        eprintln!("error: the ibars daemon that started this job is gone");
        return Some(ExitCode::from(cli::code::INTERRUPTED));
    }
    None
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    if let Some(code) = follow_daemon() {
        return code;
    }
    let args = cli::Cli::parse();
    let filter = match args.global.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IBARS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .init();
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = cli::exit_code(&e);
            eprintln!("error: {}", cli::describe(&e));
            ExitCode::from(code)
        }
    }
}
