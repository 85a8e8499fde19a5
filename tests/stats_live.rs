#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The stats subsystem on a live proxy (§STATS, §CLI.4, issue 7.4–7.6):
//! known traffic through two pools, then every counter of the JSON
//! document (parsed by python3's strict `json`), its byte-exact layout,
//! the `-D` table order and the Prometheus exposition on the same port.

mod common;

use common::{free_port, parse_stats_json, stats_text, wait_stats, Proxy};
use nutcracker::hashkit::{Distribution, HashKind, Router};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Sends `args` and reads exactly `want.len()` bytes, which must be `want`.
/// Returns the request size in bytes.
fn call(s: &mut TcpStream, args: &[&str], want: &str) -> i64 {
    let req = encode(args);
    s.write_all(&req).unwrap();
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want, "reply to {args:?}");
    req.len() as i64
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the proxy closes the connection.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// `n` keys owned by server `idx` of (aa, bb, cc).
fn keys_of(idx: usize, prefix: &str, n: usize) -> Vec<String> {
    let r = Router::new(
        HashKind::Fnv1a_64,
        None,
        Distribution::Ketama,
        &[(b"aa", 1), (b"bb", 1), (b"cc", 1)],
    );
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|k| r.server_index(k.as_bytes()) == Some(idx))
        .take(n)
        .collect()
}

/// Field order of a server object / pool object (the 0.5.0 tables, then
/// the latency extras).
/// nutcracker-rs pool counters, after twemproxy's own (limits, issue 8).
const POOL_EXTRA_FIELDS: [&str; 4] = [
    "requests_too_large",
    "requests_too_many_args",
    "client_throttled",
    "client_pending_closed",
];

const POOL_FIELDS: [&str; 6] = [
    "client_eof",
    "client_err",
    "client_connections",
    "server_ejects",
    "forward_error",
    "fragments",
];
const SERVER_FIELDS: [&str; 13] = [
    "server_eof",
    "server_err",
    "server_timedout",
    "server_connections",
    "server_ejected_at",
    "requests",
    "request_bytes",
    "responses",
    "response_bytes",
    "in_queue",
    "in_queue_bytes",
    "out_queue",
    "out_queue_bytes",
];
/// nutcracker-rs server fields, after twemproxy's own (Sentinel, issue 13;
/// dedicated connections, issue 15).
const SERVER_EXTRA_FIELDS: [&str; 2] = ["sentinel_switches", "dedicated_connections"];
const LATENCY_FIELDS: [&str; 5] = [
    "latency_p50_us",
    "latency_p90_us",
    "latency_p99_us",
    "latency_p999_us",
    "latency_max_us",
];

/// Rebuilds the document from the parsed values with the §STATS.3
/// construction rule (every value followed by `, `; a close turns `, `
/// into `},` and `},` into `}},`; the footer turns the last `,` into `}`).
fn rebuild(v: &HashMap<String, i64>, source: &str, pools: &[(&str, &[&str])]) -> String {
    fn close(out: &mut String, with: &str) {
        if out.ends_with(", ") {
            out.truncate(out.len() - 2);
        } else if out.ends_with(',') {
            out.truncate(out.len() - 1);
        }
        out.push_str(with);
    }
    let mut out =
        format!("{{\"service\":\"nutcracker\", \"source\":\"{source}\", \"version\":\"0.5.0\", ");
    for k in [
        "uptime",
        "timestamp",
        "total_connections",
        "curr_connections",
        "reloads",
        "reloads_failed",
        "batch_waits",
        "batch_wait_naps",
        "batch_wait_misses",
        "batch_probes",
        "batch_probes_on",
    ] {
        out.push_str(&format!("\"{k}\":{}, ", v[k]));
    }
    for (pool, servers) in pools {
        out.push_str(&format!("\"{pool}\": {{"));
        for f in POOL_FIELDS
            .iter()
            .chain(&POOL_EXTRA_FIELDS)
            .chain(&LATENCY_FIELDS)
        {
            out.push_str(&format!("\"{f}\":{}, ", v[&format!("{pool}/{f}")]));
        }
        for s in *servers {
            out.push_str(&format!("\"{s}\": {{"));
            for f in SERVER_FIELDS
                .iter()
                .chain(&SERVER_EXTRA_FIELDS)
                .chain(&LATENCY_FIELDS)
            {
                out.push_str(&format!("\"{f}\":{}, ", v[&format!("{pool}/{s}/{f}")]));
            }
            close(&mut out, "},");
        }
        close(&mut out, "},");
    }
    close(&mut out, "}\n");
    out
}

/// Parses a Prometheus text exposition: sample name with labels → value;
/// checks every sample has a `# TYPE` line before it.
fn parse_prometheus(body: &str) -> HashMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut out = HashMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            typed.insert(it.next().unwrap().to_string());
            let ty = it.next().unwrap();
            assert!(
                ["counter", "gauge", "summary"].contains(&ty),
                "bad type: {line}"
            );
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (sample, value) = line.rsplit_once(' ').unwrap();
        let family = sample.split('{').next().unwrap();
        let base = family
            .strip_suffix("_sum")
            .or(family.strip_suffix("_count"))
            .unwrap_or(family);
        assert!(
            typed.contains(family) || typed.contains(base),
            "no TYPE: {line}"
        );
        out.insert(sample.to_string(), value.parse().unwrap());
    }
    out
}

#[test]
fn counters_layout_describe_and_prometheus_match_known_traffic() {
    let a = common::start_redis();
    let b = common::start_redis();
    let dead = free_port();
    let hole = TcpListener::bind("127.0.0.1:0").unwrap(); // accepts, never answers
    let hole_port = hole.local_addr().unwrap().port();
    let (alpha, beta) = (free_port(), free_port());
    let yaml = format!(
        "alpha:\n  listen: 127.0.0.1:{alpha}\n  redis: true\n  hash: fnv1a_64\n  \
         auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 60000\n  \
         servers:\n   - 127.0.0.1:{}:1 aa\n   - 127.0.0.1:{}:1 bb\n   - 127.0.0.1:{dead}:1 cc\n\
         beta:\n  listen: 127.0.0.1:{beta}\n  redis: true\n  timeout: 100\n  \
         servers:\n   - 127.0.0.1:{hole_port}:1 hole\n",
        a.port, b.port
    );
    let proxy = Proxy::start(&yaml, &["-i", "100"]);
    assert!(common::wait_tcp(alpha) && common::wait_tcp(beta));
    // wait_tcp's probe connections were clients too: let them settle.
    let (ok, _) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/client_eof") == Some(&1) && m.get("beta/client_eof") == Some(&1)
    });
    assert!(ok);

    let (ka, kb, kc) = (keys_of(0, "a", 3), keys_of(1, "b", 2), keys_of(2, "c", 1));
    let mut req: HashMap<&str, (i64, i64, i64, i64)> = HashMap::new(); // requests, bytes, responses, bytes
    let mut add = |s: &'static str, qb: i64, rb: i64| {
        let e = req.entry(s).or_default();
        *e = (e.0 + 1, e.1 + qb, e.2 + 1, e.3 + rb);
    };
    let mut c1 = connect(alpha);
    for k in &ka {
        add("aa", call(&mut c1, &["SET", k, "val"], "+OK\r\n"), 5);
    }
    for k in &kb {
        add("bb", call(&mut c1, &["SET", k, "val"], "+OK\r\n"), 5);
    }
    add("aa", call(&mut c1, &["GET", &ka[0]], "$3\r\nval\r\n"), 9);
    call(
        &mut c1,
        &["MGET", &ka[1], &kb[0], &ka[2]],
        "*3\r\n$3\r\nval\r\n$3\r\nval\r\n$3\r\nval\r\n",
    );
    add("aa", encode(&["MGET", &ka[1], &ka[2]]).len() as i64, 22);
    add("bb", encode(&["MGET", &kb[0]]).len() as i64, 13);
    call(&mut c1, &["PING"], "+PONG\r\n"); // local: no server counts
    drop(c1); // client_eof

    let mut c2 = connect(alpha); // request and FIN in one go
    c2.write_all(&encode(&["PING"])).unwrap();
    c2.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut c2), b"+PONG\r\n"); // client_eof
    let mut c3 = connect(alpha); // framing lost: protocol error, closed
    c3.write_all(b"*x\r\n").unwrap();
    assert!(read_to_close(&mut c3).starts_with(b"-ERR Protocol error")); // client_err

    let mut c4 = connect(alpha); // stays open
    let cc_bytes = call(&mut c4, &["GET", &kc[0]], "-ERR Connection refused\r\n");
    let mut c5 = connect(beta);
    let t = std::time::Instant::now();
    let hole_bytes = call(&mut c5, &["GET", "x"], "-ERR Connection timed out\r\n");
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(99), "{waited:?}");
    drop(c5);

    let (ok, v) = wait_stats(proxy.stats_port, common::WAIT, |m| {
        m.get("alpha/client_eof") == Some(&3)
            && m.get("alpha/client_err") == Some(&1)
            && m.get("beta/client_eof") == Some(&2)
            && m.get("alpha/aa/responses") == Some(&req["aa"].2)
    });
    assert!(ok, "stats never converged: {v:?}");
    // let a late (wrong) update show up, then read once more
    std::thread::sleep(Duration::from_millis(250));
    let doc = stats_text(proxy.stats_port);
    let v = parse_stats_json(&doc);

    // pools
    let p = |k: &str| v[k];
    assert_eq!(p("alpha/client_connections"), 1);
    assert_eq!(p("alpha/server_ejects"), 1);
    assert_eq!(p("alpha/forward_error"), 1);
    assert_eq!(p("alpha/fragments"), 2, "one MGET over two servers");
    assert_eq!(p("beta/client_connections"), 0);
    assert_eq!(p("beta/client_err"), 0);
    assert_eq!(p("beta/forward_error"), 1);
    assert_eq!(p("beta/server_ejects"), 0);
    assert_eq!(p("beta/fragments"), 0);
    // servers with traffic
    for s in ["aa", "bb"] {
        let (n, qb, r, rb) = req[s];
        let k = |f: &str| v[&format!("alpha/{s}/{f}")];
        assert_eq!(k("requests"), n, "{s} requests");
        assert_eq!(k("request_bytes"), qb, "{s} request_bytes");
        assert_eq!(k("responses"), r, "{s} responses");
        assert_eq!(k("response_bytes"), rb, "{s} response_bytes");
        assert_eq!(k("server_connections"), 1);
        for f in [
            "server_eof",
            "server_err",
            "server_timedout",
            "server_ejected_at",
        ] {
            assert_eq!(k(f), 0, "{s} {f}");
        }
    }
    let cc = |f: &str| v[&format!("alpha/cc/{f}")];
    assert_eq!(
        (cc("requests"), cc("request_bytes"), cc("responses")),
        (1, cc_bytes, 0)
    );
    assert_eq!((cc("server_err"), cc("server_connections")), (1, 0));
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let at = cc("server_ejected_at");
    assert!(at <= now_us && at > now_us - 60_000_000, "ejected_at {at}");
    let h = |f: &str| v[&format!("beta/hole/{f}")];
    assert_eq!(
        (h("requests"), h("request_bytes"), h("responses")),
        (1, hole_bytes, 0)
    );
    assert_eq!((h("server_timedout"), h("server_connections")), (1, 0));
    // every queue drained
    for s in ["alpha/aa", "alpha/bb", "alpha/cc", "beta/hole"] {
        for f in ["in_queue", "in_queue_bytes", "out_queue", "out_queue_bytes"] {
            assert_eq!(v[&format!("{s}/{f}")], 0, "{s}/{f}");
        }
    }
    // header: 2 listeners + 7 clients (2 wait_tcp probes, c1..c5) +
    // 4 backend connection attempts; alive: 2 listeners, c4, aa, bb
    assert_eq!(p("total_connections"), 13);
    assert_eq!(p("curr_connections"), 5);
    assert!(p("uptime") >= 0 && p("uptime") < 60);
    // latency extras: present, ordered, plausible (< 1 s on loopback)
    for s in ["alpha/aa", "alpha/bb", "alpha"] {
        let l: Vec<i64> = LATENCY_FIELDS
            .iter()
            .map(|f| v[&format!("{s}/{f}")])
            .collect();
        assert!(l[0] > 0, "{s} p50 {l:?}");
        assert!(l.windows(2).all(|w| w[0] <= w[1]), "{s} {l:?}");
        assert!(l[4] < 1_000_000, "{s} {l:?}");
    }
    assert_eq!(
        p("alpha/latency_max_us"),
        p("alpha/aa/latency_max_us").max(p("alpha/bb/latency_max_us"))
    );
    for f in LATENCY_FIELDS {
        assert_eq!(v[&format!("alpha/cc/{f}")], 0);
        assert_eq!(v[&format!("beta/{f}")], 0, "a timeout is no latency sample");
    }

    // byte-exact layout: beta before alpha (length first), separators
    let source = doc
        .split("\"source\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let layout: [(&str, &[&str]); 2] = [("beta", &["hole"]), ("alpha", &["aa", "bb", "cc"])];
    assert_eq!(doc, rebuild(&v, source, &layout));
    assert!(doc.ends_with("}}}\n"));

    // -D lists the 0.5.0 tables in the JSON's field order
    let d = common::run_nutcracker(&["-D"]);
    let text = String::from_utf8_lossy(&d.stderr); // 0.5.0 prints -D on stderr
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let expect: Vec<&str> = POOL_FIELDS.iter().chain(&SERVER_FIELDS).copied().collect();
    assert_eq!(listed, expect, "-D output:\n{text}");

    // Prometheus on the same port carries the same values
    let mut s = connect(proxy.stats_port);
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let http = String::from_utf8(read_to_close(&mut s)).unwrap();
    let (head, body) = http.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(head.contains(&format!("Content-Length: {}", body.len())));
    let prom = parse_prometheus(body);
    for (pool, servers) in layout {
        for f in POOL_FIELDS {
            let key = format!("nutcracker_{f}{{pool=\"{pool}\"}}");
            assert_eq!(prom[&key], v[&format!("{pool}/{f}")] as f64, "{key}");
        }
        for srv in servers {
            for f in SERVER_FIELDS.iter().chain(&SERVER_EXTRA_FIELDS) {
                let key = format!("nutcracker_{f}{{pool=\"{pool}\",server=\"{srv}\"}}");
                assert_eq!(prom[&key], v[&format!("{pool}/{srv}/{f}")] as f64, "{key}");
            }
            let max = format!(
                "nutcracker_server_latency_max_microseconds{{pool=\"{pool}\",server=\"{srv}\"}}"
            );
            assert_eq!(
                prom[&max],
                v[&format!("{pool}/{srv}/latency_max_us")] as f64
            );
            let q = format!(
                "nutcracker_server_latency_microseconds{{pool=\"{pool}\",server=\"{srv}\",quantile=\"0.5\"}}"
            );
            assert_eq!(prom[&q], v[&format!("{pool}/{srv}/latency_p50_us")] as f64);
        }
    }
    let count = "nutcracker_server_latency_microseconds_count{pool=\"alpha\",server=\"aa\"}";
    assert_eq!(prom[count], req["aa"].2 as f64, "one sample per response");
    assert_eq!(prom["nutcracker_curr_connections"], 5.0);
    assert_eq!(prom["nutcracker_total_connections"], 13.0);
    assert_eq!(prom["nutcracker_msgs_live"], 0.0, "nothing in flight");
    drop(c4);
    drop(hole);
}
