#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The man page stays in step with the code: every option of `cli::OPTIONS`,
//! every configuration directive and every metric of `-D` is documented, and
//! groff renders the page without a warning.

mod common;

use common::root;
use nutcracker::cli::{OptArg, OPTIONS};
use std::process::Command;

#[allow(clippy::expect_used)] // test set-up: no page, no test
fn page() -> String {
    std::fs::read_to_string(root().join("man/nutcracker.8")).expect("man/nutcracker.8")
}

/// roff writes a literal minus as `\-`.
fn roff(s: &str) -> String {
    s.replace('-', "\\-")
}

#[test]
fn every_option_is_documented() {
    let man = page();
    for o in OPTIONS {
        let long = roff(&format!("--{}", o.long));
        assert!(
            man.contains(&long),
            "--{} missing from the man page",
            o.long
        );
        if !o.short.is_empty() {
            let both = format!("\\-{} \", \" {}", o.short, long);
            assert!(man.contains(&both), "-{}, --{} missing", o.short, o.long);
        }
        if o.arg != OptArg::Flag {
            assert!(
                man.contains(&format!("{long} =\\fI{}\\fR", o.hint)),
                "--{}=",
                o.long
            );
        }
    }
}

#[test]
fn every_directive_is_documented() {
    let man = page();
    let directives = [
        "listen",
        "hash",
        "hash_tag",
        "distribution",
        "timeout",
        "backlog",
        "client_connections",
        "redis",
        "redis_auth",
        "redis_db",
        "tcpkeepalive",
        "preconnect",
        "auto_eject_hosts",
        "server_connections",
        "server_retry_timeout",
        "server_failure_limit",
        "reuseport",
        "server_probe",
        "max_request_bytes",
        "max_request_args",
        "client_max_pending_bytes",
        "servers",
        "sentinels",
        "sentinel_auth",
    ];
    let conf = man.split(".SH CONFIGURATION").nth(1).unwrap_or_default();
    for d in directives {
        assert!(
            conf.contains(&format!(".TP\n.B {d}\n")),
            "directive {d} missing"
        );
    }
}

#[test]
fn every_metric_of_describe_stats_is_documented() {
    let man = page();
    let stats = man.split(".SH STATS").nth(1).unwrap_or_default();
    let describe = nutcracker::stats::describe();
    let metrics: Vec<&str> = describe
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!metrics.is_empty());
    for m in metrics {
        assert!(
            stats.contains(&format!(".TP\n.B {m}\n")),
            "metric {m} missing"
        );
    }
}

/// The REDIS COMMANDS section names every served command, in the
/// paragraph of how it is handled, and the cross-server error.
#[test]
fn every_served_redis_command_is_documented() {
    use nutcracker::proto::redis::Cmd;
    let man = page();
    let sec = man
        .split(".SH \"REDIS COMMANDS\"")
        .nth(1)
        .and_then(|s| s.split(".SH ").next())
        .unwrap_or_default();
    let para = |head: &str| -> String {
        let p = sec
            .split(&format!(".B {head}\n"))
            .nth(1)
            .unwrap_or_default();
        p.split(".TP").next().unwrap_or_default().to_string()
    };
    let (local, split) = (para("Answered by the proxy"), para("Split per server"));
    let whole = para("Forwarded whole when every key is on one server");
    let single = para("Forwarded to the server of their key");
    let own = para("On a connection of the client's own");
    let listed = |p: &str, name: &str| p.split([',', ' ', '.', ':', '\n']).any(|w| w == roff(name));
    for &c in Cmd::ALL.iter().filter(|c| c.supported()) {
        let n = c.name();
        // Without a key, only COMMAND and LOLWUT go to a server.
        let keyless = c.keys() == nutcracker::proto::redis::Keys::None;
        let p = match c {
            Cmd::Command | Cmd::Lolwut => &single,
            Cmd::Auth => &local,
            Cmd::Echo => &local,
            _ if nutcracker::conn::dedicated::on_own_connection(c) => &own,
            _ if keyless => &local,
            _ if c.fragmented() => &split,
            _ if c.keys().several() => &whole,
            _ => &single,
        };
        assert!(
            listed(p, n),
            "{n} missing from its REDIS COMMANDS paragraph"
        );
    }
    let cross = String::from_utf8_lossy(nutcracker::proto::redis::reply::CROSS_SERVER);
    let cross = roff(cross.trim_end());
    assert!(whole.contains(&cross), "{cross} not documented");
}

#[test]
fn groff_renders_without_warnings() {
    let out = Command::new("groff")
        .args(["-man", "-ww", "-z"])
        .arg(root().join("man/nutcracker.8"))
        .output()
        .expect("groff not found: install groff-base (bash .ci/run does)");
    assert!(out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text, "", "groff -man -ww -z printed something");
}
