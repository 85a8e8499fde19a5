//! Signals (twemproxy: nc_signal.c).
//!
//! The handler only counts deliveries in atomics; the event loop calls
//! [`handle_pending`] after every wake-up (a signal interrupts `epoll_wait`
//! with EINTR, so the loop wakes promptly) and acts there, where logging and
//! reopening files are safe (§SIG.6).
//!
//! Differences from 0.5.0: SIGUSR1 asks the loop to re-read the configuration
//! file (`crate::reload`; 0.5.0 only logs it). SIGINT and SIGTERM both end the
//! process through the orderly path (pid file removed, `done, rabbit done`); SIGINT keeps exit
//! status 1 (§SIG.7), SIGTERM exits 0 so service managers see a clean stop.
//!
//! Fatal signals (SIGSEGV, and beyond 0.5.0 SIGBUS, SIGFPE, SIGILL and
//! SIGABRT, which a panic raises in the release build) are logged at once
//! from the handler, `signal 11 (SIGSEGV) received, core dumping`, with one
//! `write(2)` on the log file; the default action is then restored and the
//! signal raised again, so the process dies of it and dumps core as before.
//! 0.5.0 also logs a backtrace; we do not (producing one is not
//! async-signal-safe), the core has it. The handler runs on the alternate
//! signal stack std sets up, so a stack overflow is logged too (instead of
//! std's `has overflowed its stack` message).
//!
//! # Invariants
//! - `on_signal` touches nothing but the `PENDING` atomics, and `on_fatal`
//!   nothing but `write(2)`, `signal` and `raise` (async-signal-safe).
//! - SIGPIPE is ignored, so a write to a closed socket returns EPIPE instead.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// What the event loop must do after [`handle_pending`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Continue, // keep running
    Reload,   // SIGUSR1: re-read the configuration file, then keep running
    Exit,     // SIGINT or SIGTERM: leave through the orderly path
}

/// What a signal does, once the loop sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    None,      // log only
    LevelUp,   // SIGTTIN
    LevelDown, // SIGTTOU
    Reopen,    // SIGHUP
    Reload,    // SIGUSR1
    Exit,      // SIGINT, SIGTERM
}

/// One handled signal (twemproxy: `struct signal`).
struct Sig {
    signo: libc::c_int, // Linux number
    name: &'static str, // for the log line
    info: &'static str, // suffix of the log line
    effect: Effect,     // applied by handle_pending
}

const SIGNALS: [Sig; 7] = [
    sig(
        libc::SIGUSR1,
        "SIGUSR1",
        ", reloading configuration",
        Effect::Reload,
    ),
    sig(libc::SIGUSR2, "SIGUSR2", "", Effect::None),
    sig(
        libc::SIGTTIN,
        "SIGTTIN",
        ", up logging level",
        Effect::LevelUp,
    ),
    sig(
        libc::SIGTTOU,
        "SIGTTOU",
        ", down logging level",
        Effect::LevelDown,
    ),
    sig(
        libc::SIGHUP,
        "SIGHUP",
        ", reopening log file",
        Effect::Reopen,
    ),
    sig(libc::SIGINT, "SIGINT", ", exiting", Effect::Exit),
    sig(libc::SIGTERM, "SIGTERM", ", exiting", Effect::Exit),
];

const fn sig(signo: libc::c_int, name: &'static str, info: &'static str, effect: Effect) -> Sig {
    Sig {
        signo,
        name,
        info,
        effect,
    }
}

/// Deliveries not yet handled, one counter per row of `SIGNALS`.
static PENDING: [AtomicU32; SIGNALS.len()] = [const { AtomicU32::new(0) }; SIGNALS.len()];
/// The signal that asked to exit (0 if none yet).
static EXIT_SIGNO: AtomicU8 = AtomicU8::new(0);

/// A signal that kills the process after one log line (`on_fatal`).
struct Fatal {
    signo: libc::c_int,  // Linux number
    line: &'static [u8], // the whole log line, prefix and newline included
}

macro_rules! fatal {
    ($sig:ident, $n:literal) => {
        Fatal {
            signo: libc::$sig,
            line: concat!(
                "[.......................] signal ",
                $n,
                " (",
                stringify!($sig),
                ") received, core dumping\n"
            )
            .as_bytes(),
        }
    };
}

const FATAL: [Fatal; 5] = [
    fatal!(SIGSEGV, 11),
    fatal!(SIGBUS, 7),
    fatal!(SIGFPE, 8),
    fatal!(SIGILL, 4),
    fatal!(SIGABRT, 6),
];

#[allow(unsafe_code)]
extern "C" fn on_fatal(signo: libc::c_int) {
    if let Some(f) = FATAL.iter().find(|f| f.signo == signo) {
        crate::log::write_raw(f.line);
    }
    // SAFETY: signal(2) and raise(3) are async-signal-safe. SA_RESETHAND
    // already restored SIG_DFL; the signal is blocked while we run, so it is
    // delivered, with the default action (core), as the handler returns. A
    // real fault also simply recurs when the faulting instruction reruns.
    unsafe {
        libc::signal(signo, libc::SIG_DFL);
        libc::raise(signo);
    }
}

extern "C" fn on_signal(signo: libc::c_int) {
    // Only atomics here: async-signal-safe.
    if let Some(i) = SIGNALS.iter().position(|s| s.signo == signo) {
        PENDING[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Installs the handlers and ignores SIGPIPE (§SIG.3 step 3).
pub fn init() -> io::Result<()> {
    for s in &SIGNALS {
        install(
            s.signo,
            on_signal as *const () as libc::sighandler_t,
            libc::SA_RESTART,
        )?;
    }
    for f in &FATAL {
        install(
            f.signo,
            on_fatal as *const () as libc::sighandler_t,
            libc::SA_RESETHAND | libc::SA_ONSTACK,
        )?;
    }
    install(libc::SIGPIPE, libc::SIG_IGN, libc::SA_RESTART)
}

#[allow(unsafe_code)]
fn install(signo: libc::c_int, handler: libc::sighandler_t, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `sa` is plain old data, zero-initialised then filled in; the
    // handler is SIG_IGN, `on_signal` (only touches atomics) or `on_fatal`
    // (only async-signal-safe calls), each an `extern "C" fn(c_int)`.
    // SA_RESTART keeps blocking syscalls in other threads (the stats thread)
    // from failing with EINTR.
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = flags;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signo, &sa, std::ptr::null_mut())
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Acts on every signal delivered since the last call: logs the §SIG.6 lines,
/// reopens the log, changes the level. Returns `Exit` for SIGINT/SIGTERM,
/// else `Reload` if SIGUSR1 came (any number of them: one reload reads the
/// file as it is now), else `Continue`.
pub fn handle_pending() -> Action {
    let mut action = Action::Continue;
    for (s, pending) in SIGNALS.iter().zip(&PENDING) {
        for _ in 0..pending.swap(0, Ordering::Relaxed) {
            crate::log::signal_line(format_args!(
                "signal {} ({}) received{}",
                s.signo, s.name, s.info
            ));
            action = action.max(apply(s));
        }
    }
    action
}

impl Action {
    /// The more urgent of two actions: Exit over Reload over Continue.
    fn max(self, other: Action) -> Action {
        match (self, other) {
            (Action::Exit, _) | (_, Action::Exit) => Action::Exit,
            (Action::Reload, _) | (_, Action::Reload) => Action::Reload,
            _ => Action::Continue,
        }
    }
}

fn apply(s: &Sig) -> Action {
    match s.effect {
        Effect::None => {}
        Effect::LevelUp => {
            if let Some(l) = crate::log::level_up() {
                crate::log::signal_line(format_args!("up log level to {l}"));
            }
        }
        Effect::LevelDown => {
            if let Some(l) = crate::log::level_down() {
                crate::log::signal_line(format_args!("down log level to {l}"));
            }
        }
        Effect::Reopen => crate::log::reopen(),
        Effect::Reload => return Action::Reload,
        Effect::Exit => {
            let _ =
                EXIT_SIGNO.compare_exchange(0, s.signo as u8, Ordering::Relaxed, Ordering::Relaxed);
            return Action::Exit;
        }
    }
    Action::Continue
}

/// Exit status for a shutdown requested by a signal (§SIG.7): 1 after SIGINT
/// (as 0.5.0), 0 after SIGTERM.
pub fn exit_status() -> u8 {
    match i32::from(EXIT_SIGNO.load(Ordering::Relaxed)) {
        libc::SIGINT => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_the_handled_signals() {
        let nums: Vec<_> = SIGNALS.iter().map(|s| s.signo).collect();
        assert_eq!(nums, [10, 12, 21, 22, 1, 2, 15]);
    }

    #[test]
    fn fatal_lines_name_the_signal() {
        let lines: Vec<_> = FATAL
            .iter()
            .map(|f| std::str::from_utf8(f.line).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            "[.......................] signal 11 (SIGSEGV) received, core dumping\n"
        );
        for (f, l) in FATAL.iter().zip(&lines) {
            assert!(l.contains(&format!("signal {} (", f.signo)), "{l}");
        }
    }

    #[test]
    fn pending_signals_are_handled_once() {
        // Deliver through the real handler path without raising a signal.
        on_signal(libc::SIGUSR2);
        assert_eq!(handle_pending(), Action::Continue);
        on_signal(libc::SIGUSR1);
        on_signal(libc::SIGUSR1);
        assert_eq!(
            handle_pending(),
            Action::Reload,
            "two deliveries, one reload"
        );
        assert_eq!(PENDING[0].load(Ordering::Relaxed), 0);
        assert_eq!(handle_pending(), Action::Continue);
        on_signal(libc::SIGUSR1);
        on_signal(libc::SIGTERM);
        assert_eq!(handle_pending(), Action::Exit, "exit wins over reload");
        assert_eq!(handle_pending(), Action::Continue);
        assert_eq!(exit_status(), 0);
    }
}
