//! Daemon mode and pid file (twemproxy: nc.c `nc_daemonize`, `nc_create_pidfile`,
//! `nc_remove_pidfile`), plus the `uname` text of the start-up banner.
//!
//! Daemonizing follows §SIG.4: fork (the parent exits 0 at once), setsid,
//! fork again, umask 0, stdio on /dev/null; the working directory is kept so
//! relative `-c`, `-o` and `-p` paths still work.
//!
//! The pid file holds the decimal pid with no newline (§SIG.5). Beyond 0.5.0:
//! it is removed on every orderly exit, and a pid file naming a live
//! nutcracker process refuses a second start ([`check_pid_file`]).
//!
//! # Invariants
//! - `daemonize` runs while the process is single-threaded (before the stats
//!   thread starts), so fork copies a consistent process.

use crate::log::strerror;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;

/// A pid-file or daemonize failure; `Display` is the log text.
#[derive(Debug)]
pub enum DaemonError {
    Fork(io::Error),                           // fork() failed
    Setsid(io::Error),                         // setsid() failed
    DevNull(io::Error),                        // open or dup2 of /dev/null failed
    Running { path: String, pid: u32 },        // live nutcracker named by the pid file
    OpenPid { path: String, err: io::Error },  // §SIG.5 open failure
    WritePid { path: String, err: io::Error }, // §SIG.5 write failure
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Fork(e) => write!(f, "fork() failed: {}", strerror(e)),
            DaemonError::Setsid(e) => write!(f, "setsid() failed: {}", strerror(e)),
            DaemonError::DevNull(e) => {
                write!(f, "redirecting stdio to /dev/null failed: {}", strerror(e))
            }
            DaemonError::Running { path, pid } => write!(
                f,
                "pid file '{path}' names running nutcracker process {pid}; not starting"
            ),
            DaemonError::OpenPid { path, err } => {
                write!(f, "opening pid file '{path}' failed: {}", strerror(err))
            }
            DaemonError::WritePid { path, err } => {
                write!(f, "write to pid file '{path}' failed: {}", strerror(err))
            }
        }
    }
}

impl std::error::Error for DaemonError {}

/// Detaches from the terminal (§SIG.4). Only the grandchild returns.
#[allow(unsafe_code)]
pub fn daemonize() -> Result<(), DaemonError> {
    fork_and_leave_parent()?;
    // SAFETY: setsid has no memory-safety preconditions.
    if unsafe { libc::setsid() } < 0 {
        return Err(DaemonError::Setsid(io::Error::last_os_error()));
    }
    // The session leader's exit would send SIGHUP to the new child; ignore it
    // until signal::init installs the real handler.
    // SAFETY: SIG_IGN is a valid disposition for SIGHUP.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    fork_and_leave_parent()?;
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0) };
    stdio_to_dev_null()
}

#[allow(unsafe_code)]
fn fork_and_leave_parent() -> Result<(), DaemonError> {
    // SAFETY: called while single-threaded (module invariant), so the child
    // is a consistent copy; the parent only calls `_exit`, which runs no
    // destructors or atexit handlers shared with the child.
    match unsafe { libc::fork() } {
        -1 => Err(DaemonError::Fork(io::Error::last_os_error())),
        0 => Ok(()),
        _ => unsafe { libc::_exit(0) },
    }
}

#[allow(unsafe_code)]
fn stdio_to_dev_null() -> Result<(), DaemonError> {
    use std::os::fd::AsRawFd;
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(DaemonError::DevNull)?;
    for fd in [libc::STDIN_FILENO, libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: both descriptors are open (`null` lives until the end of
        // this function); dup2 atomically replaces `fd`.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(DaemonError::DevNull(io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Refuses to start when `path` names a live nutcracker process other than
/// this one. A missing, unreadable, malformed or stale pid file is fine (it
/// will be replaced).
pub fn check_pid_file(path: &str) -> Result<(), DaemonError> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Ok(());
    };
    if pid != 0 && pid != std::process::id() && is_nutcracker(pid) {
        return Err(DaemonError::Running {
            path: path.to_string(),
            pid,
        });
    }
    Ok(())
}

/// Whether `pid` is a running (not zombie) process whose name or command line
/// mentions nutcracker.
fn is_nutcracker(pid: u32) -> bool {
    let proc = format!("/proc/{pid}");
    let zombie = fs::read_to_string(format!("{proc}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(true);
    if zombie {
        return false;
    }
    let named = |f: &str| {
        fs::read(format!("{proc}/{f}"))
            .map(|b| b.windows(10).any(|w| w == b"nutcracker"))
            .unwrap_or(false)
    };
    named("comm") || named("cmdline")
}

/// A pid file this process wrote (§SIG.5).
#[derive(Debug)]
pub struct PidFile {
    path: String, // the -p argument as given
}

impl PidFile {
    /// Writes this process's pid to `path` (O_TRUNC, 0644, no newline).
    pub fn create(path: &str) -> Result<PidFile, DaemonError> {
        check_pid_file(path)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)
            .map_err(|err| DaemonError::OpenPid {
                path: path.to_string(),
                err,
            })?;
        f.write_all(std::process::id().to_string().as_bytes())
            .map_err(|err| DaemonError::WritePid {
                path: path.to_string(),
                err,
            })?;
        Ok(PidFile {
            path: path.to_string(),
        })
    }

    /// The path as given on the command line.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Removes the file on the orderly exit path; a failure is logged and ignored.
    pub fn remove(self) {
        if let Err(e) = fs::remove_file(&self.path) {
            ::log::error!(
                "unlink of pid file '{}' failed, ignored: {}",
                self.path,
                strerror(&e)
            );
        }
    }
}

/// `sysname release machine` from uname(2), for the start-up banner (§SIG.2).
#[allow(unsafe_code)]
pub fn uname() -> Option<String> {
    // SAFETY: utsname is plain old data (zero is valid); uname fills it with
    // NUL-terminated strings on success.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) < 0 {
            return None;
        }
        u
    };
    let field = |f: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some(format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("nc-daemon-{}-{name}", std::process::id()));
        dir.to_string_lossy().into_owned()
    }

    #[test]
    fn pid_file_has_no_newline_and_is_removed() {
        let path = tmp("pid");
        let pf = PidFile::create(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            std::process::id().to_string()
        );
        pf.remove();
        assert!(!std::path::Path::new(&path).exists());
    }

    #[test]
    fn stale_or_garbage_pid_files_are_replaced() {
        let path = tmp("stale");
        // pid_max is at most 2^22 on Linux, so this pid never exists.
        fs::write(&path, "99999999").unwrap();
        assert!(check_pid_file(&path).is_ok());
        fs::write(&path, "not a pid").unwrap();
        let pf = PidFile::create(&path).unwrap();
        pf.remove();
    }

    #[test]
    fn live_non_nutcracker_process_is_not_a_conflict() {
        let path = tmp("init");
        fs::write(&path, "1").unwrap(); // pid 1 is never nutcracker in tests
        let r = check_pid_file(&path);
        fs::remove_file(&path).unwrap();
        assert!(r.is_ok() || !is_nutcracker(1));
    }

    #[test]
    fn open_failure_message() {
        let e = PidFile::create("/nonexistent-dir/x.pid").unwrap_err();
        assert_eq!(
            e.to_string(),
            "opening pid file '/nonexistent-dir/x.pid' failed: No such file or directory"
        );
    }

    #[test]
    fn uname_has_three_fields() {
        let u = uname().unwrap();
        assert!(u.starts_with("Linux "), "{u}");
        assert_eq!(u.split(' ').count(), 3);
    }
}
