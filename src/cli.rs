//! Command line (twemproxy: nc.c `nc_get_options`, `nc_show_usage`).
//!
//! One table, [`OPTIONS`], lists every flag; it drives the getopts parser, and
//! the man-page test checks that each long option is documented. The flags and
//! defaults are those of twemproxy 0.5.0 (§CLI.1); options added by
//! nutcracker-rs exist only in long form.
//!
//! # Invariants
//! - Options are applied left to right; the first invalid one stops parsing
//!   with exactly the message twemproxy prints (§CLI.2).
//! - Numbers are plain unsigned decimal accumulated in a wrapping `i32`, and a
//!   negative result is rejected, so `2147483648` fails like in C.
//! - [`usage`] is byte-exact with 0.5.0 (CR LF inside a write, LF at the end
//!   of each write), plus one line per long-only option.

use std::fmt;

/// Kind of value an option takes; it also picks the §CLI.2 "missing value" text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptArg {
    Flag,   // no value
    Number, // decimal, "requires a number"
    File,   // path, "requires a file name"
    Str,    // string, "requires a string"
    Pool,   // pool name (long-only), "requires a pool name"
}

/// One row of the option table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptSpec {
    pub short: &'static str, // one letter, or "" for a long-only option
    pub long: &'static str,  // long name without the leading `--`
    pub arg: OptArg,         // what value the option takes
    pub hint: &'static str,  // value placeholder in help texts ("N", "S", "POOL")
}

const fn opt(short: &'static str, long: &'static str, arg: OptArg, hint: &'static str) -> OptSpec {
    OptSpec {
        short,
        long,
        arg,
        hint,
    }
}

/// Every command-line option: the 0.5.0 set (§CLI.1), then long-only additions.
pub const OPTIONS: &[OptSpec] = &[
    opt("h", "help", OptArg::Flag, ""),
    opt("V", "version", OptArg::Flag, ""),
    opt("t", "test-conf", OptArg::Flag, ""),
    opt("d", "daemonize", OptArg::Flag, ""),
    opt("D", "describe-stats", OptArg::Flag, ""),
    opt("v", "verbose", OptArg::Number, "N"),
    opt("o", "output", OptArg::File, "S"),
    opt("c", "conf-file", OptArg::File, "S"),
    opt("s", "stats-port", OptArg::Number, "N"),
    opt("a", "stats-addr", OptArg::Str, "S"),
    opt("i", "stats-interval", OptArg::Number, "N"),
    opt("p", "pid-file", OptArg::File, "S"),
    opt("m", "mbuf-size", OptArg::Number, "N"),
    opt("", "locate", OptArg::Pool, "POOL"),
    opt("", "batch-wait", OptArg::Number, "N"),
];

/// Compile-time defaults (§CLI.1, upstream values, not Debian's: §0.3).
pub const DEFAULT_CONF_FILE: &str = "conf/nutcracker.yml";
pub const DEFAULT_VERBOSE: u32 = 5;
pub const DEFAULT_STATS_PORT: u16 = 22222;
pub const DEFAULT_STATS_ADDR: &str = "0.0.0.0";
pub const DEFAULT_STATS_INTERVAL_MS: u64 = 30_000;
pub const DEFAULT_MBUF_SIZE: usize = 16_384;
/// `--batch-wait` default: up to 4 naps of 100 us (crate::core::Core::wait).
pub const DEFAULT_BATCH_WAIT_US: u64 = 400;
pub const MBUF_MIN_SIZE: usize = 512;
pub const MBUF_MAX_SIZE: usize = 16_777_216;

/// The parsed command line (twemproxy: the option fields of `struct instance`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub conf_file: String,        // -c, as given (printed by -t)
    pub verbose: u32,             // -v, 0..=i32::MAX; the logger clamps to 11
    pub output: Option<String>,   // -o; None (or empty) means stderr
    pub stats_port: u16,          // -s, 1..=65535
    pub stats_addr: String,       // -a, resolved at startup
    pub stats_interval_ms: u64,   // -i, 0 accepted
    pub pid_file: Option<String>, // -p; None means no pid file
    pub mbuf_size: usize,         // -m, MBUF_MIN_SIZE..=MBUF_MAX_SIZE
    pub daemonize: bool,          // -d
    pub test_conf: bool,          // -t
    pub describe_stats: bool,     // -D
    pub show_help: bool,          // -h
    pub show_version: bool,       // -V
    pub locate: Option<String>,   // --locate=POOL (nutcracker-rs only)
    pub batch_wait_us: u64,       // --batch-wait=N (nutcracker-rs only), 0: off
    pub free: Vec<String>,        // positional arguments (keys for --locate)
}

impl Default for Options {
    fn default() -> Self {
        Options {
            conf_file: DEFAULT_CONF_FILE.to_string(),
            verbose: DEFAULT_VERBOSE,
            output: None,
            stats_port: DEFAULT_STATS_PORT,
            stats_addr: DEFAULT_STATS_ADDR.to_string(),
            stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
            pid_file: None,
            mbuf_size: DEFAULT_MBUF_SIZE,
            daemonize: false,
            test_conf: false,
            describe_stats: false,
            show_help: false,
            show_version: false,
            locate: None,
            batch_wait_us: DEFAULT_BATCH_WAIT_US,
            free: Vec::new(),
        }
    }
}

/// An option error; `Display` is the exact §CLI.2 line (without the newline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CliError {
    NeedNumber(char),            // -v/-s/-i not a number, or -v/-s/-i/-m without value
    BadPort(i32),                // -s outside 1..65535
    NeedNonZero,                 // -m not a number or 0
    MbufRange,                   // -m outside [512, 16777216]
    NeedFile(char),              // -o/-c/-p without value
    NeedString(char),            // -a without value
    Invalid(char),               // unknown option; '\0' for an unknown long option
    NeedValue(&'static OptSpec), // a long-only option without its value
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nutcracker: ")?;
        match self {
            CliError::NeedNumber(c) => write!(f, "option -{c} requires a number"),
            CliError::BadPort(n) => write!(f, "option -s value {n} is not a valid port"),
            CliError::NeedNonZero => f.write_str("option -m requires a non-zero number"),
            CliError::MbufRange => write!(
                f,
                "mbuf chunk size must be between {MBUF_MIN_SIZE} and {MBUF_MAX_SIZE} bytes"
            ),
            CliError::NeedFile(c) => write!(f, "option -{c} requires a file name"),
            CliError::NeedString(c) => write!(f, "option -{c} requires a string"),
            CliError::Invalid(c) => write!(f, "invalid option -- '{c}'"),
            CliError::NeedValue(o) => write!(f, "option --{} requires a {}", o.long, what(o.arg)),
        }
    }
}

impl std::error::Error for CliError {}

fn what(arg: OptArg) -> &'static str {
    match arg {
        OptArg::Flag => "value",
        OptArg::Number => "number",
        OptArg::File => "file name",
        OptArg::Str => "string",
        OptArg::Pool => "pool name",
    }
}

/// The version this binary reports (`-V`, the log banner): 0.5.0 with
/// nutcracker-rs's own version as a build label, so that scripts which cut
/// the text after `This is nutcracker-` and compare versions (`sort -V`, PEP
/// 440, twemproxy's test harness) order it after 0.5.0 and before any 0.5.1.
macro_rules! version {
    () => {
        concat!("0.5.0+rs.", env!("CARGO_PKG_VERSION"))
    };
}

/// The version this binary reports, e.g. `0.5.0+rs.0.1.0` (see `version!`).
pub const VERSION: &str = version!();

/// Version block printed by -V, -h and -D (§CLI.3): 0.5.0's first line with
/// [`VERSION`], this project's name and version after it.
pub fn version_block() -> &'static str {
    concat!(
        "This is nutcracker-",
        version!(),
        " (nutcracker-rs ",
        env!("CARGO_PKG_VERSION"),
        ")\n",
        "async event backend: epoll\n",
        "\n"
    )
}

/// Usage text (§CLI.3): the 0.5.0 bytes, long-only options after the 0.5.0 ones.
pub fn usage() -> &'static str {
    concat!(
        "Usage: nutcracker [-?hVdDt] [-v verbosity level] [-o output file]\r\n",
        "                  [-c conf file] [-s stats port] [-a stats addr]\r\n",
        "                  [-i stats interval] [-p pid file] [-m mbuf size]\r\n",
        "\n",
        "Options:\r\n",
        "  -h, --help             : this help\r\n",
        "  -V, --version          : show version and exit\r\n",
        "  -t, --test-conf        : test configuration for syntax errors and exit\r\n",
        "  -d, --daemonize        : run as a daemon\r\n",
        "  -D, --describe-stats   : print stats description and exit\n",
        "  -v, --verbose=N        : set logging level (default: 5, min: 0, max: 11)\r\n",
        "  -o, --output=S         : set logging file (default: stderr)\r\n",
        "  -c, --conf-file=S      : set configuration file (default: conf/nutcracker.yml)\r\n",
        "  -s, --stats-port=N     : set stats monitoring port (default: 22222)\r\n",
        "  -a, --stats-addr=S     : set stats monitoring ip (default: 0.0.0.0)\r\n",
        "  -i, --stats-interval=N : set stats aggregation interval in msec (default: 30000 msec)\r\n",
        "  -p, --pid-file=S       : set pid file (default: off)\r\n",
        "  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: 16384 bytes)\r\n",
        "      --locate=POOL      : print the server of each key (arguments, else stdin lines) and exit\r\n",
        "      --batch-wait=N     : under unpipelined load, nap up to N usec before sleeping (default: 400, 0: off)\r\n",
        "\n"
    )
}

/// Parses the arguments after the program name (§CLI.1, §CLI.2).
pub fn parse(args: &[String]) -> Result<Options, CliError> {
    let table = getopts_table();
    match table.parse(args) {
        Ok(m) => apply(&m),
        Err(fail) => Err(first_error(&table, args, &fail)),
    }
}

fn getopts_table() -> getopts::Options {
    let mut t = getopts::Options::new();
    for o in OPTIONS {
        match o.arg {
            OptArg::Flag => t.optflagmulti(o.short, o.long, ""),
            _ => t.optmulti(o.short, o.long, "", o.hint),
        };
    }
    t
}

/// getopts stops at its own first error, but a bad value given earlier must
/// win (C getopt validates as it goes): find the longest prefix that parses
/// and validate its values first.
fn first_error(table: &getopts::Options, args: &[String], fail: &getopts::Fail) -> CliError {
    let mut last_ok = None;
    for k in 0..=args.len() {
        match table.parse(&args[..k]) {
            Ok(m) => last_ok = Some(m),
            Err(getopts::Fail::ArgumentMissing(_)) if k < args.len() => {}
            Err(_) => break,
        }
    }
    if let Some(Err(e)) = last_ok.as_ref().map(apply) {
        return e;
    }
    from_fail(args, fail)
}

fn from_fail(args: &[String], fail: &getopts::Fail) -> CliError {
    match fail {
        getopts::Fail::ArgumentMissing(nm) => match find(nm) {
            Some(o) => missing(o),
            None => CliError::Invalid('\0'),
        },
        getopts::Fail::UnrecognizedOption(nm) => {
            let long = nm.chars().count() > 1
                || args.iter().any(|a| {
                    a.strip_prefix("--")
                        .is_some_and(|t| t.split('=').next() == Some(nm))
                });
            match nm.chars().next() {
                Some(c) if !long => CliError::Invalid(c),
                _ => CliError::Invalid('\0'),
            }
        }
        // `--help=3`: getopt_long reports the option's short letter.
        getopts::Fail::UnexpectedArgument(nm) => {
            CliError::Invalid(find(nm).map_or('\0', |o| o.short.chars().next().unwrap_or('\0')))
        }
        getopts::Fail::OptionMissing(_) | getopts::Fail::OptionDuplicated(_) => {
            CliError::Invalid('\0')
        }
    }
}

fn find(name: &str) -> Option<&'static OptSpec> {
    OPTIONS.iter().find(|o| o.short == name || o.long == name)
}

fn missing(o: &'static OptSpec) -> CliError {
    let c = o.short.chars().next();
    match (o.arg, c) {
        (OptArg::Number, Some(c)) => CliError::NeedNumber(c),
        (OptArg::File, Some(c)) => CliError::NeedFile(c),
        (OptArg::Str, Some(c)) => CliError::NeedString(c),
        _ => CliError::NeedValue(o),
    }
}

/// Applies the matched options in command-line order.
fn apply(m: &getopts::Matches) -> Result<Options, CliError> {
    let mut opts = Options::default();
    let mut vals: Vec<(usize, &'static OptSpec, String)> = Vec::new();
    for o in OPTIONS {
        if o.arg == OptArg::Flag {
            if m.opt_present(o.long) {
                set_flag(&mut opts, o.long);
            }
        } else {
            vals.extend(m.opt_strs_pos(o.long).into_iter().map(|(p, v)| (p, o, v)));
        }
    }
    vals.sort_by_key(|(p, _, _)| *p);
    for (_, o, v) in vals {
        set_value(&mut opts, o, v)?;
    }
    opts.free = m.free.clone();
    Ok(opts)
}

fn set_flag(opts: &mut Options, long: &str) {
    match long {
        "help" => opts.show_help = true,
        "version" => opts.show_version = true,
        "test-conf" => opts.test_conf = true,
        "daemonize" => opts.daemonize = true,
        "describe-stats" => opts.describe_stats = true,
        _ => {}
    }
}

fn set_value(opts: &mut Options, o: &'static OptSpec, v: String) -> Result<(), CliError> {
    match o.long {
        "verbose" => opts.verbose = nc_atoi(&v).ok_or(CliError::NeedNumber('v'))?.unsigned_abs(),
        "output" => opts.output = Some(v).filter(|s| !s.is_empty()),
        "conf-file" => opts.conf_file = v,
        "stats-port" => {
            let n = nc_atoi(&v).ok_or(CliError::NeedNumber('s'))?;
            opts.stats_port = u16::try_from(n)
                .ok()
                .filter(|p| *p != 0)
                .ok_or(CliError::BadPort(n))?;
        }
        "stats-addr" => opts.stats_addr = v,
        "stats-interval" => {
            opts.stats_interval_ms =
                u64::from(nc_atoi(&v).ok_or(CliError::NeedNumber('i'))?.unsigned_abs())
        }
        "pid-file" => opts.pid_file = Some(v),
        "mbuf-size" => {
            let n = nc_atoi(&v)
                .filter(|n| *n != 0)
                .ok_or(CliError::NeedNonZero)?;
            let n = n.unsigned_abs() as usize;
            if !(MBUF_MIN_SIZE..=MBUF_MAX_SIZE).contains(&n) {
                return Err(CliError::MbufRange);
            }
            opts.mbuf_size = n;
        }
        "locate" => opts.locate = Some(v),
        "batch-wait" => {
            opts.batch_wait_us =
                u64::from(nc_atoi(&v).ok_or(CliError::NeedValue(o))?.unsigned_abs())
        }
        _ => {}
    }
    Ok(())
}

/// twemproxy `nc_atoi`: digits only, wrapping `i32` accumulation, negative
/// (wrapped) results rejected.
pub fn nc_atoi(s: &str) -> Option<i32> {
    if s.is_empty() {
        return None;
    }
    let mut n: i32 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.wrapping_mul(10).wrapping_add(i32::from(b - b'0'));
    }
    (n >= 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, CliError> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&v)
    }

    fn err(args: &[&str]) -> String {
        p(args).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let o = p(&[]).unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(o.conf_file, "conf/nutcracker.yml");
        assert_eq!(
            (o.verbose, o.stats_port, o.stats_interval_ms),
            (5, 22222, 30000)
        );
        assert_eq!((o.stats_addr.as_str(), o.mbuf_size), ("0.0.0.0", 16384));
        assert_eq!((o.output, o.pid_file, o.locate), (None, None, None));
        assert_eq!(o.batch_wait_us, 400);
    }

    #[test]
    fn batch_wait_takes_microseconds_and_zero_turns_it_off() {
        assert_eq!(p(&["--batch-wait=0"]).unwrap().batch_wait_us, 0);
        assert_eq!(p(&["--batch-wait", "250"]).unwrap().batch_wait_us, 250);
        let want = "nutcracker: option --batch-wait requires a number";
        assert_eq!(err(&["--batch-wait=-1"]), want);
        assert_eq!(err(&["--batch-wait=2147483648"]), want);
    }

    #[test]
    fn every_flag_short_and_long() {
        let short = p(&[
            "-h", "-V", "-t", "-d", "-D", "-v", "7", "-o", "l", "-c", "c.yml", "-s", "1", "-a",
            "::1", "-i", "0", "-p", "pid", "-m", "512",
        ])
        .unwrap();
        let long = p(&[
            "--help",
            "--version",
            "--test-conf",
            "--daemonize",
            "--describe-stats",
            "--verbose=7",
            "--output=l",
            "--conf-file",
            "c.yml",
            "--stats-port=1",
            "--stats-addr=::1",
            "--stats-interval=0",
            "--pid-file=pid",
            "--mbuf-size=512",
        ])
        .unwrap();
        assert_eq!(short, long);
        assert!(short.show_help && short.show_version && short.test_conf);
        assert!(short.daemonize && short.describe_stats);
        assert_eq!(short.verbose, 7);
        assert_eq!(short.output.as_deref(), Some("l"));
        assert_eq!(short.conf_file, "c.yml");
        assert_eq!(
            (short.stats_port, short.stats_interval_ms, short.mbuf_size),
            (1, 0, 512)
        );
        assert_eq!(short.stats_addr, "::1");
        assert_eq!(short.pid_file.as_deref(), Some("pid"));
    }

    #[test]
    fn attached_values_clusters_and_overrides() {
        let o = p(&["-dtv9", "-s65535", "-s", "80", "pos", "-m16777216"]).unwrap();
        assert!(o.daemonize && o.test_conf);
        assert_eq!((o.verbose, o.stats_port, o.mbuf_size), (9, 80, 16_777_216));
        assert_eq!(p(&["-o", ""]).unwrap().output, None);
        assert_eq!(p(&["-v", "100"]).unwrap().verbose, 100);
        assert_eq!(p(&["-c", "-d"]).unwrap().conf_file, "-d");
        assert_eq!(
            p(&["--locate=alpha"]).unwrap().locate.as_deref(),
            Some("alpha")
        );
    }

    #[test]
    fn number_rules() {
        assert_eq!(nc_atoi("0"), Some(0));
        assert_eq!(nc_atoi("2147483647"), Some(i32::MAX));
        assert_eq!(nc_atoi("2147483648"), None); // wraps negative
        assert_eq!(nc_atoi("4294967296"), Some(0)); // wraps to 0, accepted like C
        for bad in ["", "+1", "-1", " 1", "1 ", "1k", "0x10"] {
            assert_eq!(nc_atoi(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn messages_numbers() {
        for c in ["v", "s", "i"] {
            let msg = format!("nutcracker: option -{c} requires a number");
            assert_eq!(err(&[&format!("-{c}"), "x"]), msg);
            assert_eq!(err(&[&format!("-{c}"), "-1"]), msg);
            assert_eq!(err(&[&format!("-{c}")]), msg);
        }
        assert_eq!(err(&["-m"]), "nutcracker: option -m requires a number");
        assert_eq!(
            err(&["--verbose"]),
            "nutcracker: option -v requires a number"
        );
    }

    #[test]
    fn messages_port_and_mbuf() {
        assert_eq!(
            err(&["-s", "0"]),
            "nutcracker: option -s value 0 is not a valid port"
        );
        assert_eq!(
            err(&["-s", "65536"]),
            "nutcracker: option -s value 65536 is not a valid port"
        );
        let nz = "nutcracker: option -m requires a non-zero number";
        assert_eq!(err(&["-m", "0"]), nz);
        assert_eq!(err(&["-m", "abc"]), nz);
        let range = "nutcracker: mbuf chunk size must be between 512 and 16777216 bytes";
        assert_eq!(err(&["-m", "511"]), range);
        assert_eq!(err(&["-m", "16777217"]), range);
    }

    #[test]
    fn messages_missing_values() {
        for c in ["o", "c", "p"] {
            let msg = format!("nutcracker: option -{c} requires a file name");
            assert_eq!(err(&[&format!("-{c}")]), msg);
        }
        assert_eq!(err(&["-a"]), "nutcracker: option -a requires a string");
        assert_eq!(
            err(&["--pid-file"]),
            "nutcracker: option -p requires a file name"
        );
        assert_eq!(
            err(&["--locate"]),
            "nutcracker: option --locate requires a pool name"
        );
    }

    #[test]
    fn messages_invalid_options() {
        assert_eq!(err(&["-x"]), "nutcracker: invalid option -- 'x'");
        assert_eq!(err(&["-?"]), "nutcracker: invalid option -- '?'");
        assert_eq!(err(&["-dx"]), "nutcracker: invalid option -- 'x'");
        assert_eq!(err(&["--nope"]), "nutcracker: invalid option -- '\0'");
        assert_eq!(err(&["--help=3"]), "nutcracker: invalid option -- 'h'");
        assert_eq!(
            err(&["--describe-stats=1"]),
            "nutcracker: invalid option -- 'D'"
        );
    }

    #[test]
    fn first_error_wins() {
        assert_eq!(
            err(&["-s", "x", "-q"]),
            "nutcracker: option -s requires a number"
        );
        assert_eq!(err(&["-q", "-s", "x"]), "nutcracker: invalid option -- 'q'");
        assert_eq!(
            err(&["-m", "1", "-s", "0"]),
            "nutcracker: mbuf chunk size must be between 512 and 16777216 bytes"
        );
        assert_eq!(
            err(&["-s", "0", "-m", "1"]),
            "nutcracker: option -s value 0 is not a valid port"
        );
        assert_eq!(
            err(&["-v", "x", "-c"]),
            "nutcracker: option -v requires a number"
        );
    }

    #[test]
    fn usage_is_0_5_0_plus_long_only_lines() {
        let upstream = "Usage: nutcracker [-?hVdDt] [-v verbosity level] [-o output file]\r\n                  [-c conf file] [-s stats port] [-a stats addr]\r\n                  [-i stats interval] [-p pid file] [-m mbuf size]\r\n\nOptions:\r\n  -h, --help             : this help\r\n  -V, --version          : show version and exit\r\n  -t, --test-conf        : test configuration for syntax errors and exit\r\n  -d, --daemonize        : run as a daemon\r\n  -D, --describe-stats   : print stats description and exit\n  -v, --verbose=N        : set logging level (default: 5, min: 0, max: 11)\r\n  -o, --output=S         : set logging file (default: stderr)\r\n  -c, --conf-file=S      : set configuration file (default: conf/nutcracker.yml)\r\n  -s, --stats-port=N     : set stats monitoring port (default: 22222)\r\n  -a, --stats-addr=S     : set stats monitoring ip (default: 0.0.0.0)\r\n  -i, --stats-interval=N : set stats aggregation interval in msec (default: 30000 msec)\r\n  -p, --pid-file=S       : set pid file (default: off)\r\n  -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: 16384 bytes)\r\n";
        let u = usage();
        assert!(u.starts_with(upstream));
        let extra = &u[upstream.len()..];
        assert!(extra.ends_with("\r\n\n"));
        let long_only: Vec<_> = OPTIONS.iter().filter(|o| o.short.is_empty()).collect();
        assert_eq!(extra.matches("\r\n").count(), long_only.len());
        for o in long_only {
            let head = format!("      --{}={}", o.long, o.hint);
            assert!(extra.contains(&format!("{head:<25}: ")), "{head}");
        }
    }

    #[test]
    fn version_block_shape() {
        let v = version_block();
        assert!(v.starts_with("This is nutcracker-0.5.0+rs."));
        assert!(v.ends_with(")\nasync event backend: epoll\n\n"));
        assert_eq!(v.lines().count(), 3);
    }
}
