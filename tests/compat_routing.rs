//! Replays the twemproxy 0.5.0 compat routing data (tests/data/compat, from
//! shared/compat): every key of every configuration must reach the server the
//! real nutcracker sent it to. 122 configurations × 2000 keys.
// helpers outside #[test] fns: a malformed data file should fail loudly
#![allow(clippy::unwrap_used, clippy::panic)]

use std::fs;
use std::path::PathBuf;

use nutcracker::hashkit::{length_first, Distribution, HashKind, Router};

/// One configuration block of routes.txt.
struct Config {
    id: String,
    hash: HashKind,
    dist: Distribution,
    hash_tag: Option<[u8; 2]>,
    key_set: String,
    servers: Vec<String>, // YAML order, verbatim
    routes: Vec<usize>,   // YAML index per key
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/compat")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The key set `name`, in row order.
fn load_keys(name: &str) -> Vec<Vec<u8>> {
    let text = fs::read_to_string(data_dir().join(format!("keys-{name}.tsv"))).unwrap();
    let keys: Vec<Vec<u8>> = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 4, "{line:?}");
            let key = match f[0] {
                "ascii" => f[1].as_bytes().to_vec(),
                "hex" => unhex(f[1]),
                other => panic!("key format {other}"),
            };
            assert_eq!(key.len().to_string(), f[3], "{line:?}");
            key
        })
        .collect();
    assert_eq!(keys.len(), 2000, "keys-{name}.tsv");
    keys
}

fn load_configs() -> Vec<Config> {
    let text = fs::read_to_string(data_dir().join("routes.txt")).unwrap();
    let mut configs: Vec<Config> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (what, rest) = line.split_once(' ').unwrap();
        match what {
            "config" => {
                let f: Vec<&str> = rest.split(' ').collect();
                let tag = match f[3] {
                    "-" => None,
                    t => Some(<[u8; 2]>::try_from(t.as_bytes()).unwrap()),
                };
                configs.push(Config {
                    id: f[0].to_string(),
                    hash: HashKind::from_name(f[1]).unwrap(),
                    dist: Distribution::from_name(f[2]).unwrap(),
                    hash_tag: tag,
                    key_set: f[4].to_string(),
                    servers: Vec::new(),
                    routes: Vec::new(),
                });
            }
            "server" => configs.last_mut().unwrap().servers.push(rest.to_string()),
            "routes" => {
                let c = configs.last_mut().unwrap();
                c.routes = rest
                    .chars()
                    .map(|d| d.to_digit(36).unwrap() as usize)
                    .collect();
            }
            other => panic!("routes.txt: unknown line {other}"),
        }
    }
    configs
}

/// §CONF.6: the hashed name and the weight of a `servers:` entry.
fn server_name_weight(line: &str) -> (&str, u32) {
    let (addr, explicit) = match line.rsplit_once(' ') {
        Some((addr, name)) => (addr, Some(name)),
        None => (line, None),
    };
    let (host_port, weight) = addr.rsplit_once(':').unwrap();
    let (host, port) = host_port.rsplit_once(':').unwrap();
    let name = match explicit {
        Some(name) => name,
        None if port == "11211" => host,
        None => host_port,
    };
    (name, weight.parse().unwrap())
}

#[test]
fn server_names_follow_conf_rules() {
    assert_eq!(
        server_name_weight("127.0.0.1:21001:1"),
        ("127.0.0.1:21001", 1)
    );
    assert_eq!(server_name_weight("127.0.0.1:11211:3"), ("127.0.0.1", 3));
    assert_eq!(server_name_weight("127.0.0.1:21002:1 alpha"), ("alpha", 1));
    assert_eq!(server_name_weight("::1:6379:2 a:b"), ("a:b", 2));
}

/// Routes every key of `c`; returns the number that agree with nutcracker.
fn replay(c: &Config, keys: &[Vec<u8>]) -> usize {
    let parsed: Vec<(&str, u32)> = c.servers.iter().map(|s| server_name_weight(s)).collect();
    // router index -> YAML index, in length-first name order (§CONF.9)
    let mut order: Vec<usize> = (0..parsed.len()).collect();
    order.sort_by(|&a, &b| length_first(parsed[a].0.as_bytes(), parsed[b].0.as_bytes()));
    let servers: Vec<(&[u8], u32)> = order
        .iter()
        .map(|&i| (parsed[i].0.as_bytes(), parsed[i].1))
        .collect();
    let router = Router::new(c.hash, c.hash_tag, c.dist, &servers);
    let mut ok = 0;
    let mut shown = 0;
    for (key, &want) in keys.iter().zip(&c.routes) {
        let got = router.server_index(key).map(|i| order[i]);
        if got == Some(want) {
            ok += 1;
        } else if shown < 3 {
            shown += 1;
            eprintln!("{}: key {key:x?} -> {got:?}, nutcracker -> {want}", c.id);
        }
    }
    ok
}

#[test]
fn compat_routes_all_configurations() {
    let main = load_keys("main");
    let tag = load_keys("tag");
    let configs = load_configs();
    assert_eq!(configs.len(), 122);
    let (mut total, mut ok) = (0, 0);
    for c in &configs {
        assert_eq!(c.routes.len(), 2000, "{}", c.id);
        let keys = match c.key_set.as_str() {
            "main" => &main,
            "tag" => &tag,
            other => panic!("key set {other}"),
        };
        total += c.routes.len();
        ok += replay(c, keys);
    }
    println!("{ok}/{total} compat routes agree");
    assert_eq!((ok, total), (244_000, 244_000));
}
