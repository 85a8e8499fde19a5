//! Logging (twemproxy: nc_log.c): a `log::Log` sink writing to stderr or a
//! reopenable file.
//!
//! Lines are `[YYYY-MM-DD HH:MM:SS.mmm] <file>:<line> <message>\n` in local
//! time (§SIG.1), built in a 256-byte stack buffer and written with one
//! `write(2)`, so concurrent writers (the event loop and the stats thread) never
//! interleave inside a line. Signal lines use a prefix of 23 dots instead of
//! the timestamp and location.
//!
//! twemproxy's `-v 0..11` levels (§SIG.2) map onto `log` levels:
//!
//! | -v     | enabled `log` levels           |
//! |--------|--------------------------------|
//! | 0      | none                           |
//! | 1..=3  | error                          |
//! | 4      | + warn                         |
//! | 5..=6  | + info (twemproxy NOTICE/INFO) |
//! | 7..=8  | + debug                        |
//! | 9..=11 | + trace                        |
//!
//! The event loop batches its lines ([`batch_begin`]): they collect in a
//! per-thread buffer written with one `write(2)` per loop iteration
//! ([`flush`]) or when 64 KiB have piled up, so a flood of logged events
//! (rejected requests, `-v 11`) costs formatting, not a system call per line.
//! Lines of other threads, and everything when no batch is open, are written
//! at once. A crash loses at most the current iteration's lines.
//!
//! # Invariants
//! - `log::max_level()` always equals `filter(level)`, so a disabled
//!   `log::debug!` costs one compare and never formats.
//! - A line is at most [`LOG_MAX_LEN`] bytes including its `\n`.
//! - `LOG_FD` is the descriptor of the current sink (2 for stderr); a new
//!   file's descriptor is published before the old file is closed, so the
//!   fatal-signal handler ([`write_raw`]) never writes to a stale one.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest log line in bytes, newline included (twemproxy: LOG_MAX_LEN).
pub const LOG_MAX_LEN: usize = 256;
/// Highest `-v` level (twemproxy: LOG_PVERB).
pub const LOG_LEVEL_MAX: u32 = 11;

/// Where log lines go.
#[derive(Debug)]
enum Sink {
    Stderr,                            // no -o, or -o ""
    File { path: String, file: File }, // -o <path>, reopened on SIGHUP
}

/// The process logger (twemproxy: `struct logger`).
#[derive(Debug)]
pub struct Logger {
    level: AtomicU32,  // twemproxy level 0..=11
    sink: Mutex<Sink>, // shared by the event loop and the stats thread
}

/// A logger start-up failure.
#[derive(Debug)]
pub enum LogError {
    Open { path: String, err: io::Error }, // §SIG.3 step 1
    AlreadyInstalled,                      // `init` called twice in one process
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Open { path, err } => {
                write!(f, "opening log file '{path}' failed: {}", strerror(err))
            }
            LogError::AlreadyInstalled => f.write_str("logger already installed"),
        }
    }
}

impl std::error::Error for LogError {}

static LOGGER: OnceLock<Logger> = OnceLock::new();
/// Bytes of batched lines that trigger a write before the iteration ends.
const BATCH_MAX: usize = 64 * 1024;

thread_local! {
    /// This thread's lines not yet written, while a batch is open.
    static BATCH: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Descriptor of the current sink, for [`write_raw`] (see the invariants).
static LOG_FD: AtomicI32 = AtomicI32::new(libc::STDERR_FILENO);

/// Installs the process logger (§SIG.3 step 1). `output` None or empty means stderr.
pub fn init(level: u32, output: Option<&str>) -> Result<(), LogError> {
    let sink = match output.filter(|p| !p.is_empty()) {
        None => Sink::Stderr,
        Some(path) => match open_log(path) {
            Ok(file) => Sink::File {
                path: path.to_string(),
                file,
            },
            Err(err) => {
                return Err(LogError::Open {
                    path: path.to_string(),
                    err,
                })
            }
        },
    };
    let level = level.min(LOG_LEVEL_MAX);
    if let Sink::File { file, .. } = &sink {
        LOG_FD.store(file.as_raw_fd(), Ordering::Release);
    }
    let logger = LOGGER.get_or_init(|| Logger {
        level: AtomicU32::new(level),
        sink: Mutex::new(sink),
    });
    ::log::set_logger(logger).map_err(|_| LogError::AlreadyInstalled)?;
    ::log::set_max_level(filter(level));
    Ok(())
}

fn open_log(path: &str) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
}

/// The `log` filter for a twemproxy level (table in the module doc).
pub fn filter(level: u32) -> ::log::LevelFilter {
    use ::log::LevelFilter as F;
    match level {
        0 => F::Off,
        1..=3 => F::Error,
        4 => F::Warn,
        5..=6 => F::Info,
        7..=8 => F::Debug,
        _ => F::Trace,
    }
}

/// The current `-v` level (0..=11); 0 before `init`.
pub fn level() -> u32 {
    LOGGER.get().map_or(0, |l| l.level.load(Ordering::Relaxed))
}

/// Raises the level by one (SIGTTIN); returns the new level if it changed.
pub fn level_up() -> Option<u32> {
    set_level_by(|l| (l < LOG_LEVEL_MAX).then(|| l + 1))
}

/// Lowers the level by one (SIGTTOU); returns the new level if it changed.
pub fn level_down() -> Option<u32> {
    set_level_by(|l| l.checked_sub(1))
}

fn set_level_by(step: impl Fn(u32) -> Option<u32>) -> Option<u32> {
    let logger = LOGGER.get()?;
    let new = step(logger.level.load(Ordering::Relaxed))?;
    logger.level.store(new, Ordering::Relaxed);
    ::log::set_max_level(filter(new));
    Some(new)
}

/// Reopens the log file (SIGHUP, for logrotate); a no-op for stderr. On
/// failure the old file stays in use and the reason goes to stderr.
pub fn reopen() {
    flush(); // lines logged before the signal belong to the old file
    let Some(logger) = LOGGER.get() else { return };
    let Ok(mut sink) = logger.sink.lock() else {
        return;
    };
    if let Sink::File { path, file } = &mut *sink {
        match open_log(path) {
            Ok(f) => {
                LOG_FD.store(f.as_raw_fd(), Ordering::Release);
                *file = f; // closes the old file only now
            }
            Err(e) => {
                let _ = writeln!(
                    io::stderr(),
                    "reopening log file '{path}' failed, ignored: {}",
                    strerror(&e)
                );
            }
        }
    }
}

/// Writes a line whatever the level, with the normal header (twemproxy: `loga`):
/// the banner and `done, rabbit done`.
#[track_caller]
pub fn always(args: fmt::Arguments<'_>) {
    let loc = std::panic::Location::caller();
    let mut line = Line::new();
    header(
        &mut line,
        SystemTime::now(),
        basename(loc.file()),
        loc.line(),
    );
    let _ = line.write_fmt(args);
    emit(&mut line);
}

/// Writes a signal line `[.......................] <message>` whatever the level
/// (twemproxy: `log_safe`).
pub fn signal_line(args: fmt::Arguments<'_>) {
    let mut line = Line::new();
    let _ = line.write_str("[.......................] ");
    let _ = line.write_fmt(args);
    emit(&mut line);
}

/// Writes `bytes` to the log with one `write(2)` and nothing else:
/// async-signal-safe, for the fatal-signal handler (twemproxy: `log_safe`
/// from `signal_handler`). No lock is taken, so the line may land between
/// two lines of a thread that was writing, never inside one (each line is
/// one `write` on an `O_APPEND` file).
#[allow(unsafe_code)]
pub fn write_raw(bytes: &[u8]) {
    let fd = LOG_FD.load(Ordering::Acquire);
    // SAFETY: write(2) reads `bytes.len()` bytes from a live slice; a stale
    // or closed descriptor only makes it fail, which is ignored.
    let _ = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

/// Opens a batch on this thread (the event loop): lines wait for [`flush`].
pub fn batch_begin() {
    BATCH.with(|b| *b.borrow_mut() = Some(Vec::with_capacity(BATCH_MAX)));
}

/// Writes this thread's batched lines, and closes the batch.
pub fn batch_end() {
    flush();
    BATCH.with(|b| *b.borrow_mut() = None);
}

/// Writes this thread's batched lines with one `write(2)`; the batch stays
/// open.
pub fn flush() {
    BATCH.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            if let Some(buf) = b.as_mut().filter(|buf| !buf.is_empty()) {
                write_now(buf);
                buf.clear();
            }
        }
    });
}

/// Adds a whole line to this thread's batch, or writes it if none is open.
fn put(line: &[u8]) {
    let batched = BATCH.with(|b| {
        let Ok(mut b) = b.try_borrow_mut() else {
            return false;
        };
        let Some(buf) = b.as_mut() else {
            return false;
        };
        if buf.len() + line.len() > BATCH_MAX {
            write_now(buf);
            buf.clear();
        }
        buf.extend_from_slice(line); // within the capacity: no allocation
        true
    });
    if !batched {
        write_now(line);
    }
}

fn write_now(bytes: &[u8]) {
    match LOGGER.get() {
        Some(logger) => logger.write_line(bytes),
        None => {
            let _ = io::stderr().write_all(bytes);
        }
    }
}

fn emit(line: &mut Line) {
    put(line.finish());
}

impl Logger {
    fn write_line(&self, bytes: &[u8]) {
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        // A failed log write has nowhere better to be reported.
        let _ = match &mut *sink {
            Sink::Stderr => io::stderr().write_all(bytes),
            Sink::File { file, .. } => file.write_all(bytes),
        };
    }
}

impl ::log::Log for Logger {
    fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
        metadata.level() <= ::log::max_level()
    }

    fn log(&self, record: &::log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = Line::new();
        let file = basename(record.file().unwrap_or("?"));
        header(
            &mut line,
            SystemTime::now(),
            file,
            record.line().unwrap_or(0),
        );
        let _ = line.write_fmt(*record.args());
        put(line.finish());
    }

    fn flush(&self) {}
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// One log line being built; silently truncated to `LOG_MAX_LEN - 1` bytes
/// before the newline (twemproxy: `nc_scnprintf` into `buf[LOG_MAX_LEN]`).
struct Line {
    buf: [u8; LOG_MAX_LEN], // line bytes, room kept for the '\n'
    len: usize,             // bytes used, < LOG_MAX_LEN until finish()
}

impl Line {
    fn new() -> Self {
        Line {
            buf: [0; LOG_MAX_LEN],
            len: 0,
        }
    }

    fn finish(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..=self.len]
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = LOG_MAX_LEN - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            return Err(fmt::Error); // full: stop formatting early
        }
        Ok(())
    }
}

/// Writes `[YYYY-MM-DD HH:MM:SS.mmm] file:line ` for `now` in local time.
fn header(line: &mut Line, now: SystemTime, file: &str, lineno: u32) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let ms = since.subsec_millis();
    let t = localtime(secs);
    let _ = write!(
        line,
        "[{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}] {}:{} ",
        t.year, t.mon, t.mday, t.hour, t.min, t.sec, ms, file, lineno
    );
}

/// Broken-down local time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tm {
    year: i32, // e.g. 2024
    mon: i32,  // 1..=12
    mday: i32, // 1..=31
    hour: i32, // 0..=23
    min: i32,  // 0..=59
    sec: i32,  // 0..=60
}

#[allow(unsafe_code)]
fn localtime(secs: i64) -> Tm {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: `tm` is plain old data, so all-zero is a valid value;
    // localtime_r only reads `t` and writes `tm`, both live locals, and is
    // thread-safe (unlike localtime).
    let (ok, tm) = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let ok = !libc::localtime_r(&t, &mut tm).is_null();
        (ok, tm)
    };
    if !ok {
        return Tm::default();
    }
    Tm {
        year: tm.tm_year + 1900,
        mon: tm.tm_mon + 1,
        mday: tm.tm_mday,
        hour: tm.tm_hour,
        min: tm.tm_min,
        sec: tm.tm_sec,
    }
}

/// The C `strerror` text of an I/O error: std's message without its
/// ` (os error N)` suffix (e.g. `No such file or directory`).
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn level_mapping() {
        use ::log::LevelFilter as F;
        let want = [
            F::Off,
            F::Error,
            F::Error,
            F::Error,
            F::Warn,
            F::Info,
            F::Info,
            F::Debug,
            F::Debug,
            F::Trace,
            F::Trace,
            F::Trace,
        ];
        for (lvl, f) in want.iter().enumerate() {
            assert_eq!(filter(lvl as u32), *f, "level {lvl}");
        }
        assert_eq!(filter(100), F::Trace);
    }

    #[test]
    fn header_shape() {
        let mut l = Line::new();
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        header(&mut l, t, "main.rs", 42);
        let s = String::from_utf8(l.finish().to_vec()).unwrap();
        // [2023-11-14 22:13:20.123] in UTC; the hour depends on the local zone.
        assert_eq!(s.len(), "[YYYY-MM-DD HH:MM:SS.mmm] main.rs:42 \n".len());
        assert!(s.starts_with("[2023-11-1"), "{s}");
        assert!(s.ends_with(".123] main.rs:42 \n"), "{s}");
        assert_eq!(&s[5..8], "-11");
    }

    #[test]
    fn lines_truncate_to_256_bytes() {
        let mut l = Line::new();
        let long = "x".repeat(1000);
        let _ = write!(l, "{long}");
        let b = l.finish();
        assert_eq!(b.len(), LOG_MAX_LEN);
        assert_eq!(b[LOG_MAX_LEN - 1], b'\n');
        assert!(b[..LOG_MAX_LEN - 1].iter().all(|c| *c == b'x'));
    }

    #[test]
    fn signal_prefix_has_23_dots() {
        let mut l = Line::new();
        let _ = l.write_str("[.......................] ");
        assert_eq!(l.buf[1..24].iter().filter(|c| **c == b'.').count(), 23);
        assert_eq!(l.buf[24], b']');
    }

    #[test]
    fn strerror_drops_os_error_suffix() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
        assert_eq!(
            strerror(&io::Error::from_raw_os_error(libc::EACCES)),
            "Permission denied"
        );
    }

    #[test]
    fn batched_lines_wait_for_flush() {
        let pending = || BATCH.with(|b| b.borrow().as_ref().map(Vec::len));
        assert_eq!(pending(), None);
        put(b""); // no batch: written at once
        batch_begin();
        put(b"");
        assert_eq!(pending(), Some(0));
        // Lines pile up to BATCH_MAX, then are written whole.
        let line = [b'\n'; 200];
        for _ in 0..BATCH_MAX / 200 {
            put(&line);
        }
        assert_eq!(pending(), Some(BATCH_MAX / 200 * 200));
        put(&line);
        assert_eq!(pending(), Some(200));
        flush();
        assert_eq!(pending(), Some(0));
        batch_end();
        assert_eq!(pending(), None);
    }

    #[test]
    fn basename_of_source_paths() {
        assert_eq!(basename("src/conn/client.rs"), "client.rs");
        assert_eq!(basename("main.rs"), "main.rs");
    }
}
