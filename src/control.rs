//! How `mailbeacon reload` finds and talks to a running `mailbeacon serve`: two small files in the
//! configuration's state directory. `serve.pid` holds the server's process id while it runs;
//! `serve.reloads` holds "<count> ok" or "<count> failed: <why>" after each reload attempt, so
//! that `reload` can wait for its own attempt and report how it went.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mailbeacon_model::Model;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long `reload` waits for the server to report.
const REPORT_WAIT: Duration = Duration::from_secs(30);

/// The control files of the server using `model`'s state directory.
pub struct ControlFiles {
    pub(crate) pid: PathBuf,
    reloads: PathBuf,
    lock: PathBuf,
}

/// Held while a server uses a state directory: the kernel releases the lock when the process
/// ends in any way, so a crash never leaves a stale lock behind.
pub struct StateLock {
    _file: nix::fcntl::Flock<std::fs::File>,
}

impl ControlFiles {
    /// The files for `model`.
    pub fn of(model: &Model) -> ControlFiles {
        let dir = &model.server.state_dir;
        ControlFiles {
            pid: dir.join("serve.pid"),
            reloads: dir.join("serve.reloads"),
            lock: dir.join("serve.lock"),
        }
    }

    /// Takes the state directory for this process. `Err` says why another instance has it;
    /// `Ok(None)` means the lock file cannot be made (a read-only directory): serving goes on,
    /// unguarded, with a warning.
    pub fn lock(&self) -> Result<Option<StateLock>, String> {
        use nix::fcntl::{Flock, FlockArg};
        let opened = self
            .lock
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&self.lock)
            });
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    "cannot create {} ({e}): nothing stops a second server on this state directory",
                    self.lock.display()
                );
                return Ok(None);
            }
        };
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(StateLock { _file: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let who = read_pid(&self.pid).map_or(String::new(), |p| format!(" (process {p})"));
                let dir = self.lock.parent().unwrap_or(Path::new("."));
                Err(format!(
                    "another mailbeacon serve{who} is using the state directory {}; stop it \
                     (or `mailbeacon reload` it), or give this configuration its own `state_dir`",
                    dir.display()
                ))
            }
            Err((_, e)) => {
                tracing::warn!(
                    "cannot lock {} ({e}): serving unguarded",
                    self.lock.display()
                );
                Ok(None)
            }
        }
    }

    /// Records this process as the running server (best effort: without a writable state
    /// directory SIGHUP still works, only `mailbeacon reload` cannot find us).
    pub fn announce(&self) {
        let result = self
            .pid
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                crate::serve::write_atomically(&self.pid, &format!("{}\n", std::process::id()))
            });
        if let Err(e) = result {
            tracing::warn!(
                "cannot write {} ({e}): `mailbeacon reload` will not find this server; SIGHUP still reloads",
                self.pid.display()
            );
        }
    }

    /// Removes the pid file if it is still ours.
    pub fn withdraw(&self) {
        if read_pid(&self.pid) == Some(std::process::id()) {
            let _ = std::fs::remove_file(&self.pid);
        }
    }

    /// Records the outcome of a reload attempt (`Err` carries the reason, possibly many lines).
    pub fn report(&self, outcome: Result<(), String>) {
        let count = read_count(&self.reloads).unwrap_or(0) + 1;
        let text = match outcome {
            Ok(()) => format!("{count} ok\n"),
            Err(why) => format!("{count} failed: {why}\n"),
        };
        let _ = crate::serve::write_atomically(&self.reloads, &text);
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_count(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// `mailbeacon reload`: validates the configuration here (errors are shown and nothing is sent),
/// signals the server with SIGHUP and waits for it to report its reload.
pub fn reload(config: Option<&Path>) -> ExitCode {
    let (model, path) = match crate::load(config, false) {
        Ok(m) => m,
        Err(code) => {
            eprintln!("not reloaded: the running server keeps its configuration");
            return code;
        }
    };
    let files = ControlFiles::of(&model);
    let Some(pid) = read_pid(&files.pid) else {
        eprintln!(
            "no running server for {}: {} is missing (is `mailbeacon serve` running with this configuration?)",
            path.display(),
            files.pid.display()
        );
        return ExitCode::from(1);
    };
    if !is_mailbeacon(pid) {
        eprintln!(
            "{} names process {pid}, which is not a running mailbeacon (a stale file?)",
            files.pid.display()
        );
        return ExitCode::from(1);
    }
    let before = read_count(&files.reloads).unwrap_or(0);
    let Ok(raw) = i32::try_from(pid) else {
        eprintln!("{}: bad process id {pid}", files.pid.display());
        return ExitCode::from(1);
    };
    if let Err(e) = kill(Pid::from_raw(raw), Signal::SIGHUP) {
        eprintln!("cannot signal process {pid}: {e}");
        return ExitCode::from(1);
    }
    let deadline = Instant::now() + REPORT_WAIT;
    while Instant::now() < deadline {
        if read_count(&files.reloads).unwrap_or(0) > before {
            let text = std::fs::read_to_string(&files.reloads).unwrap_or_default();
            let status = text.split_once(' ').map_or("", |(_, s)| s).trim_end();
            return if status == "ok" {
                crate::write_stdout(format_args!(
                    "reloaded {} (process {pid})\n",
                    path.display()
                ));
                ExitCode::SUCCESS
            } else {
                eprintln!("process {pid} did not reload, it keeps its configuration: {status}");
                ExitCode::from(1)
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "sent SIGHUP to process {pid}, but it reported nothing within {}s",
        REPORT_WAIT.as_secs()
    );
    ExitCode::from(1)
}

/// Whether `pid` is alive and is mailbeacon, so that a stale pid file never makes us signal a
/// process that merely reused the number.
fn is_mailbeacon(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => comm.trim_end().starts_with("mailbeacon"),
        // No /proc (not Linux): existence is all we can check.
        Err(_) => i32::try_from(pid).is_ok_and(|p| kill(Pid::from_raw(p), None).is_ok()),
    }
}
