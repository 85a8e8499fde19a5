#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! `nutcracker --locate` against the routes recorded from nutcracker 0.5.0
//! (tests/data/compat): for several configurations, at least 1,000 keys
//! each, the tool must name the server 0.5.0 sent the key to.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/compat")
        .join(name)
}

/// (id, hash, distribution, tag, server lines, routes as YAML indexes)
fn config(id: &str) -> (String, String, String, Vec<String>, Vec<usize>) {
    let text = std::fs::read_to_string(data("routes.txt")).unwrap();
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with(&format!("config {id} ")));
    let head: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let mut servers = Vec::new();
    let mut routes = Vec::new();
    for l in lines {
        if let Some(s) = l.strip_prefix("server ") {
            servers.push(s.to_string());
        } else if let Some(r) = l.strip_prefix("routes ") {
            routes = r
                .chars()
                .map(|c| c.to_digit(36).unwrap() as usize)
                .collect();
            break;
        }
    }
    (
        head[2].to_string(),
        head[3].to_string(),
        head[4].to_string(),
        servers,
        routes,
    )
}

/// The printable keys of the main key set, with their row numbers.
fn ascii_keys() -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(data("keys-main.tsv")).unwrap();
    text.lines()
        .skip(1)
        .enumerate()
        .filter_map(|(i, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0] == "ascii").then(|| (i, f[1].to_string()))
        })
        .collect()
}

/// The name the server is known by (§CONF.6 rule 5).
fn server_name(line: &str) -> String {
    if let Some((_, name)) = line.rsplit_once(' ') {
        return name.to_string();
    }
    let (hp, _) = line.rsplit_once(':').unwrap();
    match hp.rsplit_once(':') {
        Some((h, "11211")) => h.to_string(),
        _ => hp.to_string(),
    }
}

fn check(id: &str) -> usize {
    let (hash, dist, tag, servers, routes) = config(id);
    assert_eq!(tag, "-");
    let tmp = common::TempDir::new("locate");
    let mut yaml = format!(
        "compat:\n  listen: 127.0.0.1:29121\n  hash: {hash}\n  distribution: {dist}\n  servers:\n"
    );
    for s in &servers {
        yaml.push_str(&format!("   - {s}\n"));
    }
    let conf = tmp.write("c.yml", &yaml);
    let keys = ascii_keys();
    assert!(keys.len() >= 1000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nutcracker"))
        .args(["-c", conf.as_str(), "--locate", "compat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for (_, k) in &keys {
            writeln!(stdin, "{k}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got.len(), keys.len());
    for ((row, key), line) in keys.iter().zip(got) {
        let (k, srv) = line.rsplit_once('\t').unwrap();
        assert_eq!(k, key);
        assert_eq!(
            srv,
            server_name(&servers[routes[*row]]),
            "{id}: key {key:?}"
        );
    }
    keys.len()
}

#[test]
fn locate_agrees_with_nutcracker_0_5_0() {
    let mut n = 0;
    for id in [
        "wu5.md5.ketama",
        "n3.fnv1a_64.ketama",
        "wu5.murmur.modula",
        "p11211.md5.ketama",
        "e25.md5.ketama",
    ] {
        n += check(id);
    }
    assert!(n >= 5000);
}

#[test]
fn locate_takes_keys_as_arguments() {
    let tmp = common::TempDir::new("locate-args");
    let conf = tmp.write(
        "c.yml",
        "p:\n  listen: 127.0.0.1:29122\n  hash: fnv1a_64\n  servers:\n   - 127.0.0.1:11211:1\n   - 127.0.0.1:11212:1\n   - 127.0.0.1:11213:1\n",
    );
    // §DIST.6 A: foo -> 127.0.0.1:11212, bar -> 127.0.0.1 (the 11211 server)
    let out = Command::new(env!("CARGO_BIN_EXE_nutcracker"))
        .args(["-c", conf.as_str(), "--locate=p", "foo", "bar"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "foo\t127.0.0.1:11212\nbar\t127.0.0.1\n"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_nutcracker"))
        .args(["-c", conf.as_str(), "--locate=nope", "foo"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}
