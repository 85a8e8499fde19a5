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
//! SIGSEGV keeps its default disposition (a core dump, no log backtrace).
//!
//! # Invariants
//! - The handler touches nothing but the `PENDING` atomics (async-signal-safe).
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

extern "C" fn on_signal(signo: libc::c_int) {
    // Only atomics here: async-signal-safe.
    if let Some(i) = SIGNALS.iter().position(|s| s.signo == signo) {
        PENDING[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Installs the handlers and ignores SIGPIPE (§SIG.3 step 3).
pub fn init() -> io::Result<()> {
    for s in &SIGNALS {
        install(s.signo, on_signal as *const () as libc::sighandler_t)?;
    }
    install(libc::SIGPIPE, libc::SIG_IGN)
}

#[allow(unsafe_code)]
fn install(signo: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: `sa` is plain old data, zero-initialised then filled in; the
    // handler is either SIG_IGN or `on_signal`, an `extern "C" fn(c_int)` that
    // only touches atomics. SA_RESTART keeps blocking syscalls in other threads
    // (the stats thread) from failing with EINTR.
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
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
