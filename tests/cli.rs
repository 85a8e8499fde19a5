#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The `nutcracker` command line, run as a black box (§CLI, §SIG).
//!
//! -h/-V/-D bytes, every §CLI.2 error, -t on the shipped and on broken
//! configurations, the log file and its reopen on SIGHUP, daemon mode, the pid
//! file and the signals that end the process.

mod common;

use common::*;
use nutcracker::cli;
use std::fs;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_version_and_describe_are_byte_exact() {
    let v = cli::version_block();
    let cases: [(&[&str], String); 6] = [
        (&["-V"], v.to_string()),
        (&["--version"], v.to_string()),
        (&["-h"], format!("{v}{}", cli::usage())),
        (&["--help"], format!("{v}{}", cli::usage())),
        (&["-D"], format!("{v}{}", nutcracker::stats::describe())),
        // all three: version, usage, stats — and nothing else (no -t run)
        (
            &["-D", "-t", "-h", "-V"],
            format!("{v}{}{}", cli::usage(), nutcracker::stats::describe()),
        ),
    ];
    for (args, want) in cases {
        let out = run_nutcracker(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(stderr(&out), want, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn version_block_names_this_project() {
    let out = run_nutcracker(&["-V"]);
    let first = stderr(&out).lines().next().unwrap_or_default().to_string();
    let want = format!(
        "This is nutcracker-0.5.0+rs.{v} (nutcracker-rs {v})",
        v = env!("CARGO_PKG_VERSION")
    );
    assert_eq!(first, want);
}

/// Scripts cut the word after `This is nutcracker-` and compare versions
/// (twemproxy's test harness; `sort -V`): ours sorts after 0.5.0 and its
/// predecessors, before any later upstream release.
#[test]
fn version_orders_after_0_5_0() {
    let out = run_nutcracker(&["-V"]);
    let text = stderr(&out);
    let first = text.lines().next().unwrap_or_default();
    let word = first.split_whitespace().nth(2).unwrap_or_default();
    let ours = word.strip_prefix("nutcracker-").unwrap_or_default();
    assert!(ours.starts_with("0.5.0+"), "{first}");
    let input = format!("0.5.1\n{ours}\n0.4.1\n0.5.0\n0.3.0\n");
    let mut sort = std::process::Command::new("sort")
        .arg("-V")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    sort.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let sorted = String::from_utf8(sort.wait_with_output().unwrap().stdout).unwrap();
    let order: Vec<&str> = sorted.lines().collect();
    assert_eq!(
        order,
        ["0.3.0", "0.4.1", "0.5.0", ours, "0.5.1"],
        "{sorted}"
    );
}

#[test]
fn usage_lines_end_like_0_5_0() {
    let out = run_nutcracker(&["-h"]);
    let text = stderr(&out);
    assert!(text.contains("[-m mbuf size]\r\n\nOptions:\r\n"));
    assert!(text.contains("print stats description and exit\n  -v, --verbose=N"));
    assert!(text.ends_with("(default: 16384 bytes)\r\n      --locate=POOL      : print the server of each key (arguments, else stdin lines) and exit\r\n      --batch-wait=N     : under unpipelined load, nap up to N usec before sleeping (default: 400, 0: off)\r\n\n"));
}

#[test]
fn option_errors_print_message_and_usage_and_exit_1() {
    let cases: &[(&[&str], &str)] = &[
        (&["-v", "x"], "nutcracker: option -v requires a number"),
        (&["-s", "abc"], "nutcracker: option -s requires a number"),
        (&["-i", "-5"], "nutcracker: option -i requires a number"),
        (&["-i"], "nutcracker: option -i requires a number"),
        (&["-m"], "nutcracker: option -m requires a number"),
        (
            &["-s", "0"],
            "nutcracker: option -s value 0 is not a valid port",
        ),
        (
            &["-s", "70000"],
            "nutcracker: option -s value 70000 is not a valid port",
        ),
        (
            &["-m", "0"],
            "nutcracker: option -m requires a non-zero number",
        ),
        (
            &["-m", "511"],
            "nutcracker: mbuf chunk size must be between 512 and 16777216 bytes",
        ),
        (&["-o"], "nutcracker: option -o requires a file name"),
        (&["-c"], "nutcracker: option -c requires a file name"),
        (&["-p"], "nutcracker: option -p requires a file name"),
        (&["-a"], "nutcracker: option -a requires a string"),
        (&["-x"], "nutcracker: invalid option -- 'x'"),
        (&["-?"], "nutcracker: invalid option -- '?'"),
        (&["--no-such"], "nutcracker: invalid option -- '\0'"),
        (&["--help=3"], "nutcracker: invalid option -- 'h'"),
        (
            &["--locate"],
            "nutcracker: option --locate requires a pool name",
        ),
        (
            &["--batch-wait"],
            "nutcracker: option --batch-wait requires a number",
        ),
        (
            &["--batch-wait=soon"],
            "nutcracker: option --batch-wait requires a number",
        ),
    ];
    for (args, msg) in cases {
        let out = run_nutcracker(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&out), format!("{msg}\n{}", cli::usage()), "{args:?}");
    }
}

#[test]
fn test_conf_accepts_every_shipped_config() {
    let mut files: Vec<_> = fs::read_dir(root().join("conf"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yml"));
    files.sort();
    if files.is_empty() {
        eprintln!("no conf/*.yml in this tree; nothing to test");
        return;
    }
    for f in files {
        let path = f.to_string_lossy().into_owned();
        let out = run_nutcracker(&["-t", "-c", &path]);
        assert_eq!(
            stderr(&out),
            format!("nutcracker: configuration file '{path}' syntax is ok\n")
        );
        assert_eq!(out.status.code(), Some(0), "{path}");
    }
}

#[test]
fn test_conf_rejects_bad_configs_with_a_reason() {
    let dir = TempDir::new("badconf");
    let bad = [
        ("scalar-pool.yml", "alpha: 1\n"),
        (
            "no-listen.yml",
            "alpha:\n  servers:\n   - 127.0.0.1:6379:1\n",
        ),
        (
            "no-servers.yml",
            "alpha:\n  listen: 127.0.0.1:22121\n  hash: fnv1a_64\n",
        ),
        ("tab.yml", "alpha:\n\tlisten: 127.0.0.1:22121\n"),
        ("empty.yml", ""),
        ("root-seq.yml", "- a\n- b\n"),
    ];
    for (name, text) in bad {
        let path = dir.write(name, text);
        let out = run_nutcracker(&["-t", "-c", &path]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        let invalid = format!("nutcracker: configuration file '{path}' syntax is invalid\n");
        let (reason, tail) = err.split_once('\n').unwrap_or_default();
        assert!(
            !reason.is_empty() && !reason.contains("syntax is invalid"),
            "{name}: {err}"
        );
        assert!(
            reason.contains(&path),
            "{name}: reason names the file: {reason}"
        );
        assert!(err.ends_with(&invalid.repeat(2)), "{name}: {err}");
        assert_eq!(tail.matches("\n").count(), 2, "{name}: {err}");
    }
}

#[test]
fn test_conf_on_a_missing_file_says_invalid_once() {
    let out = run_nutcracker(&["-t", "-c", "/nonexistent/nutcracker.yml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let invalid =
        "nutcracker: configuration file '/nonexistent/nutcracker.yml' syntax is invalid\n";
    assert!(err.contains("No such file or directory"), "{err}");
    assert!(err.ends_with(invalid));
    assert_eq!(err.matches("syntax is invalid").count(), 1, "{err}");
}

#[test]
fn unopenable_log_file_fails_start() {
    let out = run_nutcracker(&["-o", "/nonexistent/dir/nc.log"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "opening log file '/nonexistent/dir/nc.log' failed: No such file or directory\n"
    );
}

#[test]
fn bad_config_on_start_logs_reason_and_exits_1() {
    let dir = TempDir::new("badstart");
    let conf = dir.write("bad.yml", "alpha:\n  servers:\n   - 127.0.0.1:6379:1\n");
    let log = dir.join("nc.log");
    let pid = dir.join("nc.pid");
    let out = run_nutcracker(&["-c", &conf, "-o", &log, "-p", &pid]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("nutcracker: configuration file '{conf}' syntax is invalid\n")
    );
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("started on pid"), "{text}");
    assert!(text.contains("listen"), "the reason is logged: {text}");
    assert!(text.ends_with("done, rabbit done\n"), "{text}");
    assert!(!std::path::Path::new(&pid).exists(), "pid file removed");
}

#[test]
fn log_lines_have_the_0_5_0_header() {
    let mut p = Proxy::start(&simple_yaml(true), &[]);
    let text = p.log_text();
    let banner = text.lines().find(|l| l.contains("started on pid")).unwrap();
    // [YYYY-MM-DD HH:MM:SS.mmm] file:line message
    let b = banner.as_bytes();
    assert_eq!(
        (b[0], b[5], b[8], b[11], b[14], b[17], b[20], b[24]),
        (b'[', b'-', b'-', b' ', b':', b':', b'.', b']')
    );
    let msg = format!(
        "nutcracker-0.5.0+rs.{} built for Linux ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(banner.contains(&msg), "{banner}");
    assert!(
        banner.ends_with(&format!(" started on pid {}", p.proc.pid())),
        "{banner}"
    );
    assert!(text.contains(" run, rabbit run / dig that hole, forget the sun / and when at last the work is done / don't sit down / it's time to dig another one\n"));
    assert_eq!(p.stop().and_then(|s| s.code()), Some(0));
}

#[test]
fn sighup_reopens_a_renamed_log_file() {
    let mut p = Proxy::start(&simple_yaml(true), &[]);
    let rotated = p.dir.join("nutcracker.log.1");
    fs::rename(&p.log, &rotated).unwrap();
    p.proc.signal(libc::SIGHUP);
    assert!(
        wait_until(WAIT, || std::path::Path::new(&p.log).exists()),
        "log not reopened"
    );
    p.proc.signal(libc::SIGTTIN); // -v 11 is the maximum: no "up log level" line
    p.proc.signal(libc::SIGTTOU);
    assert!(
        wait_until(WAIT, || p.log_text().contains("down log level to 10")),
        "{}",
        p.log_text()
    );
    let old = fs::read_to_string(&rotated).unwrap();
    assert!(
        old.contains("[.......................] signal 1 (SIGHUP) received, reopening log file\n"),
        "{old}"
    );
    assert!(p
        .log_text()
        .contains("[.......................] signal 22 (SIGTTOU) received, down logging level\n"));
    assert_eq!(p.stop().and_then(|s| s.code()), Some(0));
    assert!(p
        .log_text()
        .contains("signal 15 (SIGTERM) received, exiting\n"));
    assert!(p.log_text().ends_with(" done, rabbit done\n"));
}

#[test]
fn sigint_exits_1_and_removes_the_pid_file() {
    let dir = TempDir::new("sigint");
    let pid = dir.join("nc.pid");
    let mut p = Proxy::start(&simple_yaml(false), &["-p", &pid]);
    assert_eq!(fs::read_to_string(&pid).unwrap(), p.proc.pid().to_string());
    p.proc.signal(libc::SIGUSR2);
    assert!(wait_until(WAIT, || p
        .log_text()
        .contains("signal 12 (SIGUSR2) received\n")));
    assert!(p.proc.running(), "SIGUSR2 only logs");
    p.proc.signal(libc::SIGUSR1);
    assert!(wait_until(WAIT, || p.log_text().contains(
        "signal 10 (SIGUSR1) received, reloading configuration\n"
    ) && p
        .log_text()
        .contains(": nothing changed\n")));
    assert!(p.proc.running(), "SIGUSR1 reloads");
    p.proc.signal(libc::SIGINT);
    assert_eq!(p.proc.wait_exit(WAIT).and_then(|s| s.code()), Some(1));
    assert!(p
        .log_text()
        .contains("signal 2 (SIGINT) received, exiting\n"));
    assert!(!std::path::Path::new(&pid).exists());
}

/// A fatal signal is logged (§SIG.6), then kills the process with its
/// default action, so the service manager sees the signal and a core is
/// dumped where core dumps are enabled.
#[test]
fn fatal_signals_are_logged_then_kill_with_their_default_action() {
    no_core_files();
    for (sig, line) in [
        (
            libc::SIGSEGV,
            "signal 11 (SIGSEGV) received, core dumping\n",
        ),
        (libc::SIGBUS, "signal 7 (SIGBUS) received, core dumping\n"),
        (libc::SIGABRT, "signal 6 (SIGABRT) received, core dumping\n"),
    ] {
        // -v 0: the line is written whatever the level, like 0.5.0's
        let mut p = Proxy::start(&simple_yaml(true), &["-v", "0"]);
        p.proc.signal(sig);
        let status = p.proc.wait_exit(WAIT).expect("still running");
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(sig), "{status:?}");
        let text = p.log_text();
        assert!(
            text.contains(&format!("\n[.......................] {line}")),
            "{text}"
        );
        assert!(!text.contains("done, rabbit done"), "{text}");
    }
}

/// Sets this test process's core-size limit (inherited by the proxies it
/// starts) to 0, so a test that kills a proxy with SIGSEGV leaves no core.
#[allow(unsafe_code)]
fn no_core_files() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads one live, initialised struct.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
    assert_eq!(rc, 0);
}

#[test]
fn stale_pid_file_is_replaced() {
    let dir = TempDir::new("stale");
    let pid = dir.write("nc.pid", "99999999"); // above Linux pid_max: never alive
    let mut p = Proxy::start(&simple_yaml(true), &["-p", &pid]);
    assert_eq!(fs::read_to_string(&pid).unwrap(), p.proc.pid().to_string());
    assert_eq!(p.stop().and_then(|s| s.code()), Some(0));
    assert!(!std::path::Path::new(&pid).exists());
}

#[test]
fn live_pid_file_stops_a_second_start() {
    let dir = TempDir::new("second");
    let pid = dir.join("nc.pid");
    let mut first = Proxy::start(&simple_yaml(true), &["-p", &pid]);
    let conf = dir.write("nc.yml", &simple_yaml(true));
    for extra in [&[][..], &["-d"][..]] {
        let mut args = vec!["-c", conf.as_str(), "-p", &pid];
        args.extend_from_slice(extra);
        let out = run_nutcracker(&args);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let want = format!(
            "pid file '{pid}' names running nutcracker process {}",
            first.proc.pid()
        );
        assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    }
    assert!(first.proc.running());
    assert_eq!(
        fs::read_to_string(&pid).unwrap(),
        first.proc.pid().to_string()
    );
    assert_eq!(first.stop().and_then(|s| s.code()), Some(0));
}

#[test]
fn daemon_writes_pid_file_and_sigterm_removes_it() {
    let dir = TempDir::new("daemon");
    let conf = dir.write("nc.yml", &simple_yaml(true));
    let log = dir.join("nc.log");
    let pid = dir.join("nc.pid");
    let stats = free_port().to_string();
    let out = run_nutcracker(&["-d", "-c", &conf, "-o", &log, "-p", &pid, "-s", &stats]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the invoking process exits 0 at once"
    );
    assert!(out.stderr.is_empty());
    assert!(wait_until(WAIT, || fs::read_to_string(&pid)
        .is_ok_and(|s| !s.is_empty())));
    let text = fs::read_to_string(&pid).unwrap();
    assert!(!text.ends_with('\n'), "no trailing newline");
    let daemon: u32 = text.parse().unwrap();
    let _guard = PidGuard(daemon);
    assert!(alive(daemon));
    assert_ne!(daemon, std::process::id());
    let comm = fs::read_to_string(format!("/proc/{daemon}/comm")).unwrap();
    assert_eq!(comm.trim_end(), "nutcracker");
    let cwd = fs::read_link(format!("/proc/{daemon}/cwd")).unwrap();
    assert_eq!(cwd, std::env::current_dir().unwrap(), "cwd unchanged");
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    assert!(wait_until(WAIT, || log_text()
        .contains(&format!("started on pid {daemon}\n"))));
    kill(daemon, libc::SIGTERM);
    assert!(
        wait_until(WAIT, || !std::path::Path::new(&pid).exists()),
        "pid file removed"
    );
    assert!(wait_until(WAIT, || !alive(daemon)));
    assert!(
        log_text().ends_with(" done, rabbit done\n"),
        "{}",
        log_text()
    );
}
