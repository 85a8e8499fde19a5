//! Stats documents (twemproxy: `stats_make_rsp` and its `stats_add_*` helpers).
//!
//! Renders the aggregated sum as twemproxy's JSON (§STATS.3, byte-exact,
//! plus the latency extras) or as Prometheus text exposition format 0.0.4.
//! Pure functions over the sum: no I/O, no clock.
//!
//! # Invariants
//! - JSON separators follow the §STATS.3 construction rule exactly: every
//!   value is followed by `, `, closing a nesting turns a trailing `, ` into
//!   `},` and a trailing `},` into `}},`, and the footer turns the final `,`
//!   into `}` and appends `\n`;
//! - names are inserted raw in the JSON (as 0.5.0 does) and escaped in
//!   Prometheus label values.

use super::{
    Histogram, Layout, MetricDesc, MetricKind, PoolMetrics, ServerMetrics, Snapshot, LATENCY,
};
use std::fmt::{Display, Write};

/// The live header values of a document (§STATS.3).
#[derive(Clone, Debug)]
pub(crate) struct Header<'a> {
    pub source: &'a str,        // gethostname()
    pub uptime: i64,            // seconds since the stats module started
    pub timestamp: i64,         // seconds since the epoch, now
    pub total_connections: i64, // connection objects ever created
    pub curr_connections: i64,  // connection objects alive
    pub reloads: i64,           // configuration reloads applied (extra)
    pub reloads_failed: i64,    // configuration reloads rejected (extra)
    pub batch_waits: i64,       // --batch-wait nap paths entered (extra)
    pub batch_wait_naps: i64,   // naps slept in them (extra)
    pub batch_wait_misses: i64, // nap paths that blocked after all (extra)
    pub batch_probes: i64,      // batching probes finished (extra)
    pub batch_probes_on: i64,   // of which turned batching on (extra)
    pub msgs_live: i64,         // requests alive in the loop (Prometheus only)
    pub mbufs_free: i64,        // read chunks on the free list (Prometheus only)
    pub mbufs_allocated: i64,   // read chunks ever allocated (Prometheus only)
}

/// The twemproxy version the documents claim to be.
const VERSION: &str = "0.5.0";

/// Appends `"key":<v>, `.
fn add_num(out: &mut String, key: &str, v: i64) {
    let _ = write!(out, "\"{key}\":{v}, ");
}

/// Appends `"name": {` (twemproxy's odd space after the colon included).
fn open_obj(out: &mut String, name: &str) {
    let _ = write!(out, "\"{name}\": {{");
}

/// Replaces the trailing `, ` or `,` by `close`. With `close = "},"` this
/// closes a nesting (`, ` becomes `},`, and `},` becomes `}},`); with `"}"`
/// it is the footer.
fn close_obj(out: &mut String, close: &str) {
    if out.ends_with(", ") {
        out.truncate(out.len() - 2);
    } else if out.ends_with(',') {
        out.truncate(out.len() - 1);
    }
    out.push_str(close);
}

/// The percentile (or max) a latency extra reports.
fn latency_value(h: &Histogram, per10k: Option<u64>) -> u64 {
    per10k.map_or(h.max(), |q| h.percentile(q))
}

/// Appends the five latency extras.
fn add_latency(out: &mut String, h: &Histogram) {
    for (key, per10k, _, _) in LATENCY {
        add_num(
            out,
            key,
            i64::try_from(latency_value(h, per10k)).unwrap_or(i64::MAX),
        );
    }
}

/// All of a pool's server histograms merged.
fn pool_latency(sum: &Snapshot, servers: &std::ops::Range<usize>) -> Histogram {
    let mut h = Histogram::default();
    for s in sum.latency.get(servers.clone()).unwrap_or_default() {
        h.merge(s);
    }
    h
}

/// The JSON document (§STATS.3) with the latency extras, ending in `\n`.
pub(crate) fn json(head: &Header<'_>, layout: &Layout, sum: &Snapshot) -> String {
    let mut out = String::with_capacity(256 + 700 * layout.servers.len());
    let _ = write!(
        out,
        "{{\"service\":\"nutcracker\", \"source\":\"{}\", \"version\":\"{VERSION}\", ",
        head.source
    );
    add_num(&mut out, "uptime", head.uptime);
    add_num(&mut out, "timestamp", head.timestamp);
    add_num(&mut out, "total_connections", head.total_connections);
    add_num(&mut out, "curr_connections", head.curr_connections);
    add_num(&mut out, "reloads", head.reloads);
    add_num(&mut out, "reloads_failed", head.reloads_failed);
    add_num(&mut out, "batch_waits", head.batch_waits);
    add_num(&mut out, "batch_wait_naps", head.batch_wait_naps);
    add_num(&mut out, "batch_wait_misses", head.batch_wait_misses);
    add_num(&mut out, "batch_probes", head.batch_probes);
    add_num(&mut out, "batch_probes_on", head.batch_probes_on);
    let empty_pool = PoolMetrics::default();
    let empty_server = ServerMetrics::default();
    for (p, (pool, servers)) in layout.pools.iter().enumerate() {
        open_obj(&mut out, pool);
        for (row, v) in sum.pools.get(p).unwrap_or(&empty_pool).values() {
            add_num(&mut out, row.name, v);
        }
        add_latency(&mut out, &pool_latency(sum, servers));
        for s in servers.clone() {
            open_obj(&mut out, layout.servers.get(s).map_or("", String::as_str));
            for (row, v) in sum.servers.get(s).unwrap_or(&empty_server).values() {
                add_num(&mut out, row.name, v);
            }
            add_latency(
                &mut out,
                sum.latency.get(s).unwrap_or(&Histogram::default()),
            );
            close_obj(&mut out, "},");
        }
        close_obj(&mut out, "},");
    }
    close_obj(&mut out, "}\n");
    out
}

/// Appends a Prometheus label value, escaped (`\`, `"`, newline).
fn push_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `# HELP` and `# TYPE` of one family.
fn family(out: &mut String, name: &str, ty: &str, help: &str) {
    let _ = write!(
        out,
        "# HELP nutcracker_{name} {help}\n# TYPE nutcracker_{name} {ty}\n"
    );
}

/// Appends one sample: `nutcracker_<name>{pool="..",server="..",<extra>} <v>`.
fn sample(
    out: &mut String,
    name: &str,
    labels: (&str, Option<&str>),
    extra: &str,
    v: impl Display,
) {
    let _ = write!(out, "nutcracker_{name}{{pool=\"");
    push_label(out, labels.0);
    if let Some(server) = labels.1 {
        out.push_str("\",server=\"");
        push_label(out, server);
    }
    let _ = writeln!(out, "\"{extra}}} {v}");
}

/// Prometheus type of a table row.
fn prom_type(row: &MetricDesc) -> &'static str {
    match row.kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge | MetricKind::Timestamp => "gauge",
    }
}

/// A latency histogram with its labels: (pool, server or None for a pool total).
type Labelled<'a> = ((&'a str, Option<&'a str>), &'a Histogram);

/// Appends a latency summary family and its max gauge.
fn latency_family(out: &mut String, scope: &str, hists: &[Labelled<'_>]) {
    let name = format!("{scope}_latency_microseconds");
    family(out, &name, "summary", "request to response latency in usec");
    for &(labels, h) in hists {
        for (_, per10k, label, _) in LATENCY {
            if let Some(q) = per10k {
                let extra = format!(",quantile=\"{label}\"");
                sample(out, &name, labels, &extra, h.percentile(q));
            }
        }
        sample(out, &format!("{name}_sum"), labels, "", h.sum());
        sample(out, &format!("{name}_count"), labels, "", h.count());
    }
    let max = format!("{scope}_latency_max_microseconds");
    family(
        out,
        &max,
        "gauge",
        "maximum request to response latency in usec",
    );
    for &(labels, h) in hists {
        sample(out, &max, labels, "", h.max());
    }
}

/// Appends the header metrics (unlabelled).
fn prom_header(out: &mut String, head: &Header<'_>) {
    let _ = write!(
        out,
        "# HELP nutcracker_info nutcracker version and host\n# TYPE nutcracker_info gauge\n\
         nutcracker_info{{version=\"{VERSION}\",source=\""
    );
    push_label(out, head.source);
    out.push_str("\"} 1\n");
    let rows = [
        (
            "uptime_seconds",
            "gauge",
            "seconds since start",
            head.uptime,
        ),
        (
            "total_connections",
            "counter",
            "connections ever created",
            head.total_connections,
        ),
        (
            "curr_connections",
            "gauge",
            "connections alive",
            head.curr_connections,
        ),
        (
            "reloads",
            "counter",
            "configuration reloads applied (SIGUSR1)",
            head.reloads,
        ),
        (
            "reloads_failed",
            "counter",
            "configuration reloads rejected, old configuration kept",
            head.reloads_failed,
        ),
        (
            "batch_waits",
            "counter",
            "times the loop napped for events before blocking (--batch-wait)",
            head.batch_waits,
        ),
        (
            "batch_wait_naps",
            "counter",
            "naps of 100 usec slept waiting for events (--batch-wait)",
            head.batch_wait_naps,
        ),
        (
            "batch_wait_misses",
            "counter",
            "times a whole --batch-wait budget found no event and the loop blocked",
            head.batch_wait_misses,
        ),
        (
            "batch_probes",
            "counter",
            "probes that measured whether batching (naps, held writes) pays",
            head.batch_probes,
        ),
        (
            "batch_probes_on",
            "counter",
            "probes that found batching faster and turned it on",
            head.batch_probes_on,
        ),
        (
            "msgs_live",
            "gauge",
            "requests alive in the event loop",
            head.msgs_live,
        ),
        (
            "mbufs_free",
            "gauge",
            "read buffers on the free list",
            head.mbufs_free,
        ),
        (
            "mbufs_allocated",
            "counter",
            "read buffers ever allocated",
            head.mbufs_allocated,
        ),
    ];
    for (name, ty, help, v) in rows {
        family(out, name, ty, help);
        let _ = writeln!(out, "nutcracker_{name} {v}");
    }
}

/// The Prometheus text exposition (format 0.0.4) of the same data.
pub(crate) fn prometheus(head: &Header<'_>, layout: &Layout, sum: &Snapshot) -> String {
    let mut out = String::with_capacity(1024 + 3000 * layout.servers.len());
    prom_header(&mut out, head);
    for (i, row) in PoolMetrics::TABLE.iter().enumerate() {
        family(&mut out, row.name, prom_type(row), row.desc);
        for (p, (pool, _)) in layout.pools.iter().enumerate() {
            let v = sum
                .pools
                .get(p)
                .and_then(|m| m.values().nth(i))
                .map_or(0, |(_, v)| v);
            sample(&mut out, row.name, (pool, None), "", v);
        }
    }
    let servers: Vec<(&str, usize)> = layout
        .pools
        .iter()
        .flat_map(|(pool, servers)| servers.clone().map(move |s| (pool.as_str(), s)))
        .collect();
    let name = |s: usize| layout.servers.get(s).map_or("", String::as_str);
    for (i, row) in ServerMetrics::TABLE.iter().enumerate() {
        family(&mut out, row.name, prom_type(row), row.desc);
        for &(pool, s) in &servers {
            let v = sum
                .servers
                .get(s)
                .and_then(|m| m.values().nth(i))
                .map_or(0, |(_, v)| v);
            sample(&mut out, row.name, (pool, Some(name(s))), "", v);
        }
    }
    let merged: Vec<Histogram> = layout
        .pools
        .iter()
        .map(|(_, r)| pool_latency(sum, r))
        .collect();
    let pools: Vec<Labelled<'_>> = layout
        .pools
        .iter()
        .zip(&merged)
        .map(|((pool, _), h)| ((pool.as_str(), None), h))
        .collect();
    latency_family(&mut out, "pool", &pools);
    let empty = Histogram::default();
    let per_server: Vec<Labelled<'_>> = servers
        .iter()
        .map(|&(pool, s)| ((pool, Some(name(s))), sum.latency.get(s).unwrap_or(&empty)))
        .collect();
    latency_family(&mut out, "server", &per_server);
    out
}

/// An HTTP/1.0 200 reply carrying a Prometheus exposition.
pub(crate) fn http_ok(body: &str) -> String {
    format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::tests::{named, two_pools};

    const SERVER_ZEROS: &str = "\"server_eof\":0, \"server_err\":0, \"server_timedout\":0, \
        \"server_connections\":0, \"server_ejected_at\":0, \"requests\":0, \"request_bytes\":0, \
        \"responses\":0, \"response_bytes\":0, \"in_queue\":0, \"in_queue_bytes\":0, \
        \"out_queue\":0, \"out_queue_bytes\":0";

    /// The issue 8.4 pool extras, all zero (they follow `fragments`).
    const POOL_EXTRAS_ZERO: &str = "\"requests_too_large\":0, \"requests_too_many_args\":0, \
        \"client_throttled\":0, \"client_pending_closed\":0, ";
    const SERVER_EXTRAS_ZERO: &str = "\"sentinel_switches\":0, \"dedicated_connections\":0, ";
    const HEAD_EXTRAS_ZERO: &str = "\"reloads\":0, \"reloads_failed\":0, \"batch_waits\":0, \
        \"batch_wait_naps\":0, \"batch_wait_misses\":0, \"batch_probes\":0, \"batch_probes_on\":0, ";
    const EXTRAS_ZERO: &str = "\"latency_p50_us\":0, \"latency_p90_us\":0, \"latency_p99_us\":0, \
        \"latency_p999_us\":0, \"latency_max_us\":0, ";

    fn head() -> Header<'static> {
        Header {
            source: "vm",
            uptime: 3,
            timestamp: 1795303241,
            total_connections: 2,
            curr_connections: 2,
            reloads: 0,
            reloads_failed: 0,
            batch_waits: 0,
            batch_wait_naps: 0,
            batch_wait_misses: 0,
            batch_probes: 0,
            batch_probes_on: 0,
            msgs_live: 0,
            mbufs_free: 0,
            mbufs_allocated: 0,
        }
    }

    /// `head()` after some naps.
    fn napped_head() -> Header<'static> {
        Header {
            batch_waits: 9,
            batch_wait_naps: 20,
            batch_wait_misses: 3,
            batch_probes: 5,
            batch_probes_on: 2,
            ..head()
        }
    }

    /// The §STATS.3 example, with the `...` abbreviations expanded.
    fn spec_example() -> String {
        let pool = "\"client_eof\":0, \"client_err\":0, \"client_connections\":0, \
            \"server_ejects\":0, \"forward_error\":0, \"fragments\":0, ";
        format!(
            "{{\"service\":\"nutcracker\", \"source\":\"vm\", \"version\":\"0.5.0\", \"uptime\":3, \
             \"timestamp\":1795303241, \"total_connections\":2, \"curr_connections\":2, \
             \"beta\": {{{pool}\"127.0.0.1:11311\": {{{SERVER_ZEROS}}},\"127.0.0.1:11312\": {{{SERVER_ZEROS}}}}},\
             \"alpha\": {{{pool}\"127.0.0.1:16379\": {{{SERVER_ZEROS}}},\"127.0.0.1:16380\": {{{SERVER_ZEROS}}}}}}}\n"
        )
    }

    #[test]
    fn json_matches_spec_example_once_extras_removed() {
        let layout = Layout::new(&two_pools());
        let doc = json(&head(), &layout, &Snapshot::new(&layout));
        assert_eq!(doc.matches(POOL_EXTRAS_ZERO).count(), 2);
        let doc = doc
            .replace(POOL_EXTRAS_ZERO, "")
            .replace(HEAD_EXTRAS_ZERO, "");
        assert_eq!(doc.matches(SERVER_EXTRAS_ZERO).count(), 4);
        let doc = doc.replace(SERVER_EXTRAS_ZERO, "");
        // 2 pools + 4 servers carry the extras, each after a `, `.
        let extras = format!(", {}", EXTRAS_ZERO.trim_end_matches(", "));
        assert_eq!(doc.matches(&extras).count(), 6);
        assert_eq!(doc.replace(&extras, ""), spec_example());
        assert!(doc.ends_with("\"latency_max_us\":0}}}\n"));
        assert!(doc.contains("\"fragments\":0, \"latency_p50_us\":0, "));
        assert!(doc.contains("\"latency_max_us\":0, \"127.0.0.1:11311\": {\"server_eof\":0, "));
        assert!(doc.contains("\"latency_max_us\":0},\"127.0.0.1:11312\": {"));
        assert!(doc.contains("\"latency_max_us\":0}},\"alpha\": {\"client_eof\":0, "));
        assert_eq!(doc.matches('\n').count(), 1);
    }

    #[test]
    fn json_carries_values_and_latency() {
        let layout = Layout::new(&two_pools());
        let mut sum = Snapshot::new(&layout);
        sum.pools[1].fragments = 7;
        sum.servers[3].requests = 42;
        sum.servers[3].server_ejected_at = 1_700_000_000_000_000;
        sum.servers[2].in_queue = -1;
        sum.latency[2].record(100);
        sum.latency[3].record(2000);
        let doc = json(&napped_head(), &layout, &sum);
        assert!(doc.contains(
            "\"curr_connections\":2, \"reloads\":0, \"reloads_failed\":0, \"batch_waits\":9, \
            \"batch_wait_naps\":20, \"batch_wait_misses\":3, \"batch_probes\":5, \
            \"batch_probes_on\":2, \"beta\": {\"client_eof\":0, "
        ));
        assert!(doc.contains(
            "\"alpha\": {\"client_eof\":0, \"client_err\":0, \"client_connections\":0, \
            \"server_ejects\":0, \"forward_error\":0, \"fragments\":7, \"requests_too_large\":0, \
            \"requests_too_many_args\":0, \"client_throttled\":0, \"client_pending_closed\":0, \
            \"latency_p50_us\":103, \
            \"latency_p90_us\":2000, \"latency_p99_us\":2000, \"latency_p999_us\":2000, \
            \"latency_max_us\":2000, \"127.0.0.1:16379\": {"
        ));
        assert!(doc.contains("\"server_ejected_at\":1700000000000000, \"requests\":42, "));
        assert!(doc.contains("\"in_queue\":-1, "));
        assert!(doc.contains(
            "\"out_queue_bytes\":0, \"sentinel_switches\":0, \"dedicated_connections\":0, \"latency_p50_us\":100, "
        ));
        assert!(validate_json(&doc));
    }

    #[test]
    fn json_pool_without_servers_is_valid() {
        let layout = Layout::new(&named(&[("empty", &[]), ("one", &["s"])]));
        let doc = json(&head(), &layout, &Snapshot::new(&layout));
        assert!(doc.contains(&format!(
            "\"empty\": {{\"client_eof\":0, \"client_err\":0, \
            \"client_connections\":0, \"server_ejects\":0, \"forward_error\":0, \"fragments\":0, \
            {POOL_EXTRAS_ZERO}{}}},\"one\": {{",
            EXTRAS_ZERO.trim_end_matches(", ")
        )));
        assert!(validate_json(&doc));
        let only_empty = Layout::new(&named(&[("empty", &[])]));
        let doc = json(&head(), &only_empty, &Snapshot::new(&only_empty));
        assert!(doc.ends_with("\"latency_max_us\":0}}\n"), "{doc}");
        assert!(validate_json(&doc));
        let none = Layout::default();
        let doc = json(&head(), &none, &Snapshot::new(&none));
        assert!(doc.ends_with("\"batch_probes_on\":0}\n"), "{doc}");
        assert!(validate_json(&doc));
    }

    #[test]
    fn validator_rejects_broken_documents() {
        assert!(validate_json("{\"a\":1, \"b\": {\"c\":-2}}\n"));
        for bad in [
            "{\"a\":1, }",
            "{\"a\":1,,}",
            "{\"a\" 1}",
            "{\"a\":1",
            "{\"a\":1}}",
            "{\"a\":1}x",
        ] {
            assert!(!validate_json(bad), "{bad}");
        }
    }

    #[test]
    fn prometheus_exposition() {
        let mut pools = two_pools();
        pools[0].servers[0].1 = "we\"ird\\name".to_string();
        let layout = Layout::new(&pools);
        let mut sum = Snapshot::new(&layout);
        sum.pools[0].client_eof = 4;
        sum.servers[3].responses = 9;
        sum.latency[3].record(250);
        let text = prometheus(&napped_head(), &layout, &sum);
        for line in [
            "# TYPE nutcracker_client_eof counter\n",
            "# HELP nutcracker_client_eof # eof on client connections\n",
            "nutcracker_client_eof{pool=\"beta\"} 4\n",
            "nutcracker_client_eof{pool=\"alpha\"} 0\n",
            "# TYPE nutcracker_client_connections gauge\n",
            "# TYPE nutcracker_server_ejected_at gauge\n",
            "nutcracker_responses{pool=\"alpha\",server=\"127.0.0.1:16380\"} 9\n",
            "nutcracker_responses{pool=\"beta\",server=\"we\\\"ird\\\\name\"} 0\n",
            "# TYPE nutcracker_server_latency_microseconds summary\n",
            "nutcracker_server_latency_microseconds{pool=\"alpha\",server=\"127.0.0.1:16380\",quantile=\"0.99\"} 250\n",
            "nutcracker_server_latency_microseconds_count{pool=\"alpha\",server=\"127.0.0.1:16380\"} 1\n",
            "nutcracker_server_latency_microseconds_sum{pool=\"alpha\",server=\"127.0.0.1:16380\"} 250\n",
            "nutcracker_pool_latency_microseconds{pool=\"alpha\",quantile=\"0.5\"} 250\n",
            "nutcracker_pool_latency_max_microseconds{pool=\"beta\"} 0\n",
            "nutcracker_uptime_seconds 3\n",
            "nutcracker_curr_connections 2\n",
            "# TYPE nutcracker_reloads counter\n",
            "nutcracker_reloads_failed 0\n",
            "# TYPE nutcracker_batch_waits counter\n",
            "nutcracker_batch_waits 9\n",
            "nutcracker_batch_wait_naps 20\n",
            "nutcracker_batch_wait_misses 3\n",
            "# TYPE nutcracker_batch_probes counter\n",
            "nutcracker_batch_probes 5\n",
            "nutcracker_batch_probes_on 2\n",
            "nutcracker_info{version=\"0.5.0\",source=\"vm\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?}");
        }
        // Every line is a comment or `name{labels} value`, and each family's
        // samples are contiguous (one TYPE line per family).
        let mut types = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                assert!(
                    types.insert(rest.split(' ').next().unwrap().to_string()),
                    "{line}"
                );
            } else if !line.starts_with("# HELP ") {
                let (_, value) = line.rsplit_once(' ').unwrap();
                assert!(value.parse::<i64>().is_ok(), "{line}");
            }
        }
        assert_eq!(types.len(), 4 + 2 + 5 + 3 + 6 + 4 + 13 + 2 + 4);
        let http = http_ok("x\n");
        assert!(http.starts_with("HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"));
        assert!(http.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\nx\n"));
    }

    /// A tiny validator for the subset of JSON the stats use: objects with
    /// string keys, and string or integer values; one document, then `\n`.
    pub(crate) fn validate_json(doc: &str) -> bool {
        fn string(b: &[u8], i: &mut usize) -> bool {
            if b.get(*i) != Some(&b'"') {
                return false;
            }
            *i += 1;
            while let Some(&c) = b.get(*i) {
                *i += 1;
                if c == b'"' {
                    return true;
                }
            }
            false
        }
        fn ws(b: &[u8], i: &mut usize) {
            while b.get(*i) == Some(&b' ') {
                *i += 1;
            }
        }
        fn value(b: &[u8], i: &mut usize) -> bool {
            ws(b, i);
            match b.get(*i) {
                Some(b'{') => object(b, i),
                Some(b'"') => string(b, i),
                _ => {
                    let start = *i;
                    if b.get(*i) == Some(&b'-') {
                        *i += 1;
                    }
                    while b.get(*i).is_some_and(u8::is_ascii_digit) {
                        *i += 1;
                    }
                    *i > start && b[*i - 1].is_ascii_digit()
                }
            }
        }
        fn object(b: &[u8], i: &mut usize) -> bool {
            *i += 1; // '{'
            ws(b, i);
            if b.get(*i) == Some(&b'}') {
                *i += 1;
                return true;
            }
            loop {
                ws(b, i);
                if !string(b, i) || b.get(*i) != Some(&b':') {
                    return false;
                }
                *i += 1;
                if !value(b, i) {
                    return false;
                }
                ws(b, i);
                match b.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b'}') => {
                        *i += 1;
                        return true;
                    }
                    _ => return false,
                }
            }
        }
        let b = doc.trim_end_matches('\n').as_bytes();
        let mut i = 0;
        b.first() == Some(&b'{') && object(b, &mut i) && i == b.len()
    }
}
