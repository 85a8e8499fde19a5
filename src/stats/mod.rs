//! Statistics (twemproxy: nc_stats.c).
//!
//! The event loop owns a [`Metrics`]: plain `i64` fields it bumps directly
//! (`m.pool(p).client_eof += 1`), no locks or atomics. After every loop
//! iteration it calls [`StatsHandle::swap`], which hands the accumulated
//! deltas to the stats thread through a `sync_channel(1)` with `try_send`
//! and continues with a zeroed buffer. If the aggregator has not taken the
//! previous hand-off yet, nothing happens and the loop keeps accumulating
//! (twemproxy's "aggregate" flag). The loop never blocks on the stats thread.
//!
//! ```text
//!   event loop                          stats thread
//!   Metrics.cur --try_send(deltas)-->   fold into sum (counters and gauges
//!        ^                              add, timestamps overwrite if != 0)
//!        +------- zeroed buffer <-----  serve JSON / Prometheus from sum
//! ```
//!
//! Exactly two delta buffers exist: one in `Metrics`, the other in flight
//! (channel, aggregator, or the handle's spare). So the hand-off allocates
//! nothing. The stats thread (`aggregator`) wakes every `-i` ms or on a
//! connection, folds pending deltas, and answers every stats client.
//!
//! The tables below are the single source of the metric names, kinds and
//! descriptions: the structs, `-D` ([`describe`]), the JSON field order,
//! the Prometheus families and [`metric_names`] are all generated from them.
//!
//! # Beyond twemproxy 0.5.0 (issue 7.6)
//! - Request→response latency per server (a fixed log-linear histogram,
//!   recorded by the loop with [`Metrics::response`], in µs of the batch
//!   clock [`Metrics::micros`]). The JSON carries five EXTRA fields,
//!   appended AFTER twemproxy's own so existing parsers keep working: `latency_p50_us`, `latency_p90_us`,
//!   `latency_p99_us`, `latency_p999_us`, `latency_max_us` (µs since start,
//!   percentiles at most 6.25% high). Each server object has them after its
//!   13 metrics; each pool object has the same five over all its servers,
//!   after its 6 metrics and before its first server object.
//! - Prometheus text exposition (format 0.0.4): a stats client that sends
//!   `GET /metrics HTTP/1.x` gets an HTTP/1.0 200 reply with every metric
//!   labelled by `pool` and `server`, and the latencies as summaries. Any
//!   other client (or one that sends nothing within 100 ms) gets the JSON.
//! - Resource-limit counters (issue 8.4), EXTRA pool rows appended after
//!   the six of 0.5.0 (so they precede the pool's latency extras in JSON):
//!   `requests_too_large`, `requests_too_many_args`, `client_throttled`,
//!   `client_pending_closed`.
//! - `dedicated_connections` (issue 15), an EXTRA server row after the 13
//!   of 0.5.0 and `sentinel_switches`: connections the proxy holds for one
//!   client each.
//! - The `--batch-wait` counters (issue 18), proxy-wide EXTRA header
//!   fields after `reloads_failed`: `batch_waits`, `batch_wait_naps`,
//!   `batch_wait_misses` ([`BatchWaits`]). The loop owns them and
//!   publishes their running totals every iteration
//!   ([`StatsHandle::set_batch_waits`]), as it does the buffer counts.
//! - `-D` stays byte-exact with 0.5.0 and does not list the extras;
//!   [`metric_names`] does (for the man page).
//!
//! # Layout changes
//! The pools and servers (the layout) may change while the proxy runs
//! (reload): [`Metrics::set_layout`] reshapes the loop's deltas, and the
//! next hand-off carries the new layout, so the stats thread reshapes its
//! sums before folding them. Pools and servers are matched by id: those
//! that stay keep their counters, new ones start at zero, removed ones
//! disappear from the documents.
//!
//! # Invariants
//! - the JSON layout (order, separators) is byte-exact §STATS.3, extras aside;
//! - the deltas in [`Metrics`] have the shape of its layout; a buffer in
//!   flight has the shape of the layout it carries, or else of the
//!   aggregator's current one.

mod aggregator;
mod histogram;
mod render;

pub use aggregator::{hostname, spawn, StatsError, StatsHandle};
pub use histogram::Histogram;

use crate::token::{PoolId, ServerId};
use std::ops::Range;
use std::time::Instant;

/// How a metric is aggregated (twemproxy: `stats_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,   // monotonic; the loop adds deltas
    Gauge,     // a level; the loop adds signed deltas
    Timestamp, // µs since the epoch; the last non-zero value wins
}

impl MetricKind {
    /// Folds a delta into a sum (§STATS.5).
    fn fold(self, sum: i64, delta: i64) -> i64 {
        match self {
            MetricKind::Timestamp if delta == 0 => sum,
            MetricKind::Timestamp => delta,
            MetricKind::Counter | MetricKind::Gauge => sum.saturating_add(delta),
        }
    }
}

/// One row of a stats table (twemproxy: `struct stats_desc` + type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDesc {
    pub name: &'static str, // JSON key and `-D` name
    pub kind: MetricKind,
    pub desc: &'static str, // `-D` text, also the Prometheus HELP
}

/// Generates a metrics struct from a table of `name: Kind, "description";`.
macro_rules! stats_table {
    ($(#[$meta:meta])* $ty:ident { $($name:ident: $kind:ident, $desc:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $ty {
            $(#[doc = $desc] pub $name: i64,)+
        }

        impl $ty {
            /// The table, in `-D` and JSON order.
            pub const TABLE: &'static [MetricDesc] = &[
                $(MetricDesc { name: stringify!($name), kind: MetricKind::$kind, desc: $desc },)+
            ];

            /// Each row with its value, in table order.
            pub fn values(&self) -> impl Iterator<Item = (&'static MetricDesc, i64)> {
                Self::TABLE.iter().zip([$(self.$name),+])
            }

            /// Adds the deltas `d` into `self` (timestamps overwrite when non-zero).
            pub fn fold(&mut self, d: &Self) {
                $(self.$name = MetricKind::$kind.fold(self.$name, d.$name);)+
            }
        }
    };
}

/// The pool table (twemproxy: `STATS_POOL_CODEC`).
macro_rules! pool_stats {
    ($($rows:tt)+) => {
        stats_table! {
            /// Per-pool metrics; in [`Metrics`] these are deltas since the last hand-off.
            PoolMetrics { $($rows)+ }
        }
    };
}

/// The server table (twemproxy: `STATS_SERVER_CODEC`).
macro_rules! server_stats {
    ($($rows:tt)+) => {
        stats_table! {
            /// Per-server metrics; in [`Metrics`] these are deltas since the last hand-off.
            ServerMetrics { $($rows)+ }
        }
    };
}

pool_stats! {
    client_eof:         Counter,   "# eof on client connections";
    client_err:         Counter,   "# errors on client connections";
    client_connections: Gauge,     "# active client connections";
    server_ejects:      Counter,   "# times backend server was ejected";
    forward_error:      Counter,   "# times we encountered a forwarding error";
    fragments:          Counter,   "# fragments created from a multi-vector request";
    // Extras (issue 8.4), after twemproxy's rows; `-D` omits them.
    requests_too_large:     Counter, "# requests refused for exceeding max_request_bytes";
    requests_too_many_args: Counter, "# requests refused for exceeding max_request_args";
    client_throttled:       Counter, "# times reading from a client paused on unread replies";
    client_pending_closed:  Counter, "# clients closed for unread replies over client_max_pending_bytes";
}

/// Pool rows of twemproxy 0.5.0, which `-D` prints; the extras follow them.
pub const POOL_ROWS_0_5_0: usize = 6;

server_stats! {
    server_eof:         Counter,   "# eof on server connections";
    server_err:         Counter,   "# errors on server connections";
    server_timedout:    Counter,   "# timeouts on server connections";
    server_connections: Gauge,     "# active server connections";
    server_ejected_at:  Timestamp, "timestamp when server was ejected in usec since epoch";
    requests:           Counter,   "# requests";
    request_bytes:      Counter,   "total request bytes";
    responses:          Counter,   "# responses";
    response_bytes:     Counter,   "total response bytes";
    in_queue:           Gauge,     "# requests in incoming queue";
    in_queue_bytes:     Gauge,     "current request bytes in incoming queue";
    out_queue:          Gauge,     "# requests in outgoing queue";
    out_queue_bytes:    Gauge,     "current request bytes in outgoing queue";
    // Extra (issue 13), after twemproxy's rows; `-D` omits it.
    sentinel_switches:  Counter,   "# times Sentinel moved this server to a new master address";
    dedicated_connections: Gauge,  "# server connections held by one client (transaction, blocking command, Pub/Sub)";
}

/// Server rows of twemproxy 0.5.0, which `-D` prints; the extras follow them.
pub const SERVER_ROWS_0_5_0: usize = 13;

/// The latency extras (issue 7.6): JSON key, percentile in 1/10000 (None =
/// max), Prometheus quantile label, description.
pub(crate) const LATENCY: [(&str, Option<u64>, &str, &str); 5] = [
    (
        "latency_p50_us",
        Some(5000),
        "0.5",
        "median request latency in usec",
    ),
    (
        "latency_p90_us",
        Some(9000),
        "0.9",
        "90th percentile request latency in usec",
    ),
    (
        "latency_p99_us",
        Some(9900),
        "0.99",
        "99th percentile request latency in usec",
    ),
    (
        "latency_p999_us",
        Some(9990),
        "0.999",
        "99.9th percentile request latency in usec",
    ),
    (
        "latency_max_us",
        None,
        "",
        "maximum request latency in usec",
    ),
];

/// The `-D` description (§CLI.4), printed after the version block.
pub fn describe() -> String {
    let mut out = String::from("pool stats:\n");
    for row in &PoolMetrics::TABLE[..POOL_ROWS_0_5_0] {
        out.push_str(&format!("  {:<20}\"{}\"\n", row.name, row.desc));
    }
    out.push_str("\nserver stats:\n");
    for row in &ServerMetrics::TABLE[..SERVER_ROWS_0_5_0] {
        out.push_str(&format!("  {:<20}\"{}\"\n", row.name, row.desc));
    }
    out
}

/// Every metric as (name, description): the pool table, the server table,
/// then the latency extras (which `-D` does not print).
pub fn metric_names() -> Vec<(&'static str, &'static str)> {
    let tables = PoolMetrics::TABLE.iter().chain(ServerMetrics::TABLE);
    let mut names: Vec<_> = tables.map(|row| (row.name, row.desc)).collect();
    names.extend(LATENCY.iter().map(|&(name, _, _, desc)| (name, desc)));
    names
}

/// One pool as the stats see it: the ids the loop counts under, and the
/// names in stats order (§CONF.9, length-first; §STATS.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolLayout {
    pub id: PoolId,
    pub name: String,
    pub servers: Vec<(ServerId, String)>, // in stats order
}

/// Pool and server names, and where each pool's servers sit in the flat
/// per-server vectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    pub pools: Vec<(String, Range<usize>)>, // pool name, its servers' indices
    pub servers: Vec<String>,               // server names, pool after pool
    pub pool_ids: Vec<PoolId>,              // by pool position
    pub server_ids: Vec<ServerId>,          // by flat server index
}

impl Layout {
    pub fn new(layout: &[PoolLayout]) -> Layout {
        let mut out = Layout::default();
        for p in layout {
            let start = out.servers.len();
            for (id, name) in &p.servers {
                out.servers.push(name.clone());
                out.server_ids.push(*id);
            }
            out.pools.push((p.name.clone(), start..out.servers.len()));
            out.pool_ids.push(p.id);
        }
        out
    }
}

/// Where each id's counters sit in a `Snapshot`: two vector lookups on the
/// loop's hot path, generation-checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Positions {
    pools: Vec<Option<(u32, usize)>>, // by PoolId.idx: (gen, pool position)
    servers: Vec<Vec<Option<(u32, usize)>>>, // by PoolId.idx, ServerId.idx: (gen, flat index)
}

impl Positions {
    fn new(l: &Layout) -> Positions {
        let mut out = Positions::default();
        for (pos, (&p, (_, range))) in l.pool_ids.iter().zip(&l.pools).enumerate() {
            let pi = p.idx as usize;
            if out.pools.len() <= pi {
                out.pools.resize(pi + 1, None);
                out.servers.resize(pi + 1, Vec::new());
            }
            out.pools[pi] = Some((p.gen, pos));
            let slots = &mut out.servers[pi];
            for flat in range.clone() {
                let s = l.server_ids[flat];
                let si = s.idx as usize;
                if slots.len() <= si {
                    slots.resize(si + 1, None);
                }
                slots[si] = Some((s.gen, flat));
            }
        }
        out
    }

    fn pool(&self, p: PoolId) -> Option<usize> {
        match self.pools.get(p.idx as usize) {
            Some(&Some((gen, pos))) if gen == p.gen => Some(pos),
            _ => None,
        }
    }

    fn server(&self, p: PoolId, s: ServerId) -> Option<usize> {
        self.pool(p)?;
        match self.servers.get(p.idx as usize)?.get(s.idx as usize) {
            Some(&Some((gen, flat))) if gen == s.gen => Some(flat),
            _ => None,
        }
    }
}

/// What `Core::wait` did with `--batch-wait` since start (issue 18):
/// running totals, bumped by the loop only, never reset.
///
/// Every nap path ends either in events (a hit: `waits - misses` of them)
/// or, after its whole budget of naps, in a block in epoll_wait (a miss),
/// so `misses <= waits` and `misses <= naps` (a budget is at least one nap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchWaits {
    pub waits: u64,     // nap paths entered (batch_waits)
    pub naps: u64,      // naps slept (batch_wait_naps)
    pub misses: u64,    // nap paths that found nothing and blocked (batch_wait_misses)
    pub probes: u64,    // batching probes finished (batch_probes, core::Batching)
    pub probes_on: u64, // of which turned batching on (batch_probes_on)
}

/// One copy of every pool and server metric: the loop's deltas, a hand-off
/// in flight, or the aggregator's sum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub pools: Vec<PoolMetrics>,     // by pool position (Layout)
    pub servers: Vec<ServerMetrics>, // by flat server index (Layout)
    pub latency: Vec<Histogram>,     // by flat server index
    pub layout: Option<Box<Layout>>, // a hand-off shaped by a new layout carries it
}

impl Snapshot {
    pub fn new(layout: &Layout) -> Snapshot {
        let nservers = layout.servers.len();
        Snapshot {
            pools: vec![PoolMetrics::default(); layout.pools.len()],
            servers: vec![ServerMetrics::default(); nservers],
            latency: vec![Histogram::default(); nservers],
            layout: None,
        }
    }

    /// The same metrics in the shape of layout `to` (from `from`'s): pools
    /// and servers that stay (same ids) keep their values, new ones start
    /// at zero, removed ones disappear.
    pub fn remap(&self, from: &Layout, to: &Layout) -> Snapshot {
        let mut out = Snapshot::new(to);
        let old = Positions::new(from);
        for (i, &p) in to.pool_ids.iter().enumerate() {
            if let (Some(j), Some(m)) = (old.pool(p), out.pools.get_mut(i)) {
                *m = self.pools.get(j).copied().unwrap_or_default();
            }
            let Some((_, range)) = to.pools.get(i) else {
                continue;
            };
            for flat in range.clone() {
                let Some(j) = to.server_ids.get(flat).and_then(|&s| old.server(p, s)) else {
                    continue;
                };
                if let (Some(m), Some(v)) = (out.servers.get_mut(flat), self.servers.get(j)) {
                    *m = *v;
                }
                if let (Some(h), Some(v)) = (out.latency.get_mut(flat), self.latency.get(j)) {
                    h.merge(v);
                }
            }
        }
        out
    }

    /// Zeroes every metric and takes the shape of `layout` (a buffer that
    /// comes back after a layout change).
    pub fn reshape(&mut self, layout: &Layout) {
        self.reset();
        self.layout = None;
        let nservers = layout.servers.len();
        self.pools
            .resize(layout.pools.len(), PoolMetrics::default());
        self.servers.resize(nservers, ServerMetrics::default());
        self.latency.resize(nservers, Histogram::default());
    }

    /// Whether this has the shape of `layout`.
    pub fn fits(&self, layout: &Layout) -> bool {
        self.pools.len() == layout.pools.len() && self.servers.len() == layout.servers.len()
    }

    /// Adds the deltas `d` into `self` (§STATS.5).
    pub fn fold(&mut self, d: &Snapshot) {
        debug_assert_eq!(self.servers.len(), d.servers.len(), "same layout");
        for (sum, delta) in self.pools.iter_mut().zip(&d.pools) {
            sum.fold(delta);
        }
        for (sum, delta) in self.servers.iter_mut().zip(&d.servers) {
            sum.fold(delta);
        }
        for (sum, delta) in self.latency.iter_mut().zip(&d.latency) {
            sum.merge(delta);
        }
    }

    /// Zeroes every metric, keeping the allocation.
    pub fn reset(&mut self) {
        self.pools.fill(PoolMetrics::default());
        self.servers.fill(ServerMetrics::default());
        self.latency.iter_mut().for_each(Histogram::reset);
    }
}

/// The event loop's metrics: deltas since the last hand-off to the stats
/// thread (twemproxy: `stats->current`).
#[derive(Debug)]
pub struct Metrics {
    pub(crate) cur: Snapshot,   // deltas since the last hand-off
    pub(crate) layout: Layout,  // the shape of `cur`
    pub(crate) relaid: bool,    // layout changed since the last hand-off
    pos: Positions,             // ids to positions in `cur`
    pub(crate) modified: bool,  // cur changed since the last hand-off
    pool_sink: PoolMetrics,     // absorbs writes to an unknown pool
    server_sink: ServerMetrics, // absorbs writes to an unknown server
    epoch: Instant,             // zero of `micros`
    tick_at: Instant,           // the batch time `tick` was computed for
    tick: u64,                  // µs from `epoch` to `tick_at`
}

impl Metrics {
    /// Metrics for the pools of `layout`, in stats order (§CONF.9).
    pub fn new(layout: &[PoolLayout]) -> Metrics {
        let layout = Layout::new(layout);
        Metrics {
            cur: Snapshot::new(&layout),
            pos: Positions::new(&layout),
            layout,
            relaid: false,
            modified: false,
            pool_sink: PoolMetrics::default(),
            server_sink: ServerMetrics::default(),
            epoch: Instant::now(),
            tick_at: Instant::now(),
            tick: 0,
        }
    }

    /// The loop's batch time `now` in µs on the latency clock: converted
    /// once per batch, not once per request (an `Instant` subtraction costs
    /// more than the rest of a latency's recording).
    pub fn micros(&mut self, now: Instant) -> u64 {
        if now != self.tick_at {
            self.tick_at = now;
            self.tick = now.saturating_duration_since(self.epoch).as_micros() as u64;
        }
        self.tick
    }

    /// A request of `mlen` bytes to server `s` of pool `p` left the out
    /// queue with its reply; `reply`: the reply counts as a response of
    /// that many bytes, with its latency in µs if known. One id lookup
    /// for the gauges, the counters and the histogram.
    pub fn response(
        &mut self,
        p: PoolId,
        s: ServerId,
        mlen: i64,
        reply: Option<(i64, Option<u64>)>,
    ) {
        self.modified = true;
        let at = self.pos.server(p, s);
        let sm = match at.and_then(|i| self.cur.servers.get_mut(i)) {
            Some(m) => m,
            None => &mut self.server_sink,
        };
        sm.out_queue -= 1;
        sm.out_queue_bytes -= mlen;
        let Some((bytes, latency)) = reply else {
            return;
        };
        sm.responses += 1;
        sm.response_bytes += bytes;
        if let (Some(us), Some(h)) = (latency, at.and_then(|i| self.cur.latency.get_mut(i))) {
            h.record(us);
        }
    }

    /// Takes a new layout (pools or servers added or removed): deltas of
    /// those that stay are kept, and the next hand-off carries the layout
    /// to the stats thread, which reshapes its sums the same way.
    pub fn set_layout(&mut self, layout: &[PoolLayout]) {
        let layout = Layout::new(layout);
        if layout == self.layout {
            return;
        }
        self.cur = self.cur.remap(&self.layout, &layout);
        self.pos = Positions::new(&layout);
        self.layout = layout;
        self.relaid = true;
        self.modified = true;
    }

    /// The deltas of pool `p`; marks the metrics modified.
    pub fn pool(&mut self, p: PoolId) -> &mut PoolMetrics {
        self.modified = true;
        // A pool or server removed by a reload may still be counted
        // against while its connections close: the sink absorbs that.
        match self.pos.pool(p).and_then(|i| self.cur.pools.get_mut(i)) {
            Some(m) => m,
            None => &mut self.pool_sink,
        }
    }

    /// The deltas of server `s` of pool `p`; marks the metrics modified.
    pub fn server(&mut self, p: PoolId, s: ServerId) -> &mut ServerMetrics {
        self.modified = true;
        match self
            .pos
            .server(p, s)
            .and_then(|i| self.cur.servers.get_mut(i))
        {
            Some(m) => m,
            None => &mut self.server_sink,
        }
    }

    /// Records one request→response latency of server `s` of pool `p`.
    pub fn record_latency(&mut self, p: PoolId, s: ServerId, micros: u64) {
        let Some(h) = self
            .pos
            .server(p, s)
            .and_then(|i| self.cur.latency.get_mut(i))
        else {
            return;
        };
        h.record(micros);
        self.modified = true;
    }

    /// Whether anything changed since the last hand-off.
    pub fn modified(&self) -> bool {
        self.modified
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// §CLI.4, byte for byte.
    const DESCRIBE: &str = "pool stats:
  client_eof          \"# eof on client connections\"
  client_err          \"# errors on client connections\"
  client_connections  \"# active client connections\"
  server_ejects       \"# times backend server was ejected\"
  forward_error       \"# times we encountered a forwarding error\"
  fragments           \"# fragments created from a multi-vector request\"

server stats:
  server_eof          \"# eof on server connections\"
  server_err          \"# errors on server connections\"
  server_timedout     \"# timeouts on server connections\"
  server_connections  \"# active server connections\"
  server_ejected_at   \"timestamp when server was ejected in usec since epoch\"
  requests            \"# requests\"
  request_bytes       \"total request bytes\"
  responses           \"# responses\"
  response_bytes      \"total response bytes\"
  in_queue            \"# requests in incoming queue\"
  in_queue_bytes      \"current request bytes in incoming queue\"
  out_queue           \"# requests in outgoing queue\"
  out_queue_bytes     \"current request bytes in outgoing queue\"
";

    /// A layout of pools `(name, server names)`, with the ids a fresh
    /// `Core` would give them (slot = position).
    pub(crate) fn named(pools: &[(&str, &[&str])]) -> Vec<PoolLayout> {
        let id = |i: usize| (i as u32, 1);
        pools
            .iter()
            .enumerate()
            .map(|(p, (name, servers))| PoolLayout {
                id: PoolId {
                    idx: id(p).0,
                    gen: id(p).1,
                },
                name: name.to_string(),
                servers: servers
                    .iter()
                    .enumerate()
                    .map(|(s, n)| {
                        let (idx, gen) = id(s);
                        (ServerId { idx, gen }, n.to_string())
                    })
                    .collect(),
            })
            .collect()
    }

    pub(crate) fn two_pools() -> Vec<PoolLayout> {
        named(&[
            ("beta", &["127.0.0.1:11311", "127.0.0.1:11312"]),
            ("alpha", &["127.0.0.1:16379", "127.0.0.1:16380"]),
        ])
    }

    /// Pool `p`, server `s` of a `named` layout.
    pub(crate) fn pid(p: u32) -> PoolId {
        PoolId { idx: p, gen: 1 }
    }

    pub(crate) fn sid(s: u32) -> ServerId {
        ServerId { idx: s, gen: 1 }
    }

    #[test]
    fn describe_is_byte_exact() {
        assert_eq!(describe(), DESCRIBE);
    }

    #[test]
    fn tables_have_kinds_and_order() {
        assert_eq!(PoolMetrics::TABLE.len(), POOL_ROWS_0_5_0 + 4);
        assert_eq!(PoolMetrics::TABLE[POOL_ROWS_0_5_0 - 1].name, "fragments");
        assert_eq!(ServerMetrics::TABLE.len(), SERVER_ROWS_0_5_0 + 2);
        assert_eq!(
            ServerMetrics::TABLE[SERVER_ROWS_0_5_0 - 1].name,
            "out_queue_bytes"
        );
        assert_eq!(
            ServerMetrics::TABLE[SERVER_ROWS_0_5_0 + 1].name,
            "dedicated_connections"
        );
        let kind = |name| {
            let rows = PoolMetrics::TABLE.iter().chain(ServerMetrics::TABLE);
            rows.into_iter().find(|r| r.name == name).map(|r| r.kind)
        };
        assert_eq!(kind("client_connections"), Some(MetricKind::Gauge));
        assert_eq!(kind("server_ejected_at"), Some(MetricKind::Timestamp));
        assert_eq!(kind("out_queue_bytes"), Some(MetricKind::Gauge));
        assert_eq!(kind("fragments"), Some(MetricKind::Counter));
        let names = metric_names();
        assert_eq!(names.len(), 6 + 4 + 13 + 2 + 5);
        assert_eq!(names[0], ("client_eof", "# eof on client connections"));
        assert_eq!(names[6].0, "requests_too_large");
        assert_eq!(names[23].0, "sentinel_switches");
        assert_eq!(names[24].0, "dedicated_connections");
        assert_eq!(names[29].0, "latency_max_us");
    }

    #[test]
    fn values_follow_fields() {
        let m = ServerMetrics {
            server_eof: 1,
            out_queue_bytes: 13,
            requests: 6,
            ..Default::default()
        };
        let v: Vec<_> = m.values().map(|(row, v)| (row.name, v)).collect();
        assert_eq!(v[0], ("server_eof", 1));
        assert_eq!(v[5], ("requests", 6));
        assert_eq!(v[12], ("out_queue_bytes", 13));
    }

    #[test]
    fn fold_adds_and_overwrites_timestamps() {
        let mut sum = ServerMetrics {
            requests: 5,
            in_queue: 2,
            server_ejected_at: 111,
            ..Default::default()
        };
        sum.fold(&ServerMetrics {
            requests: 3,
            in_queue: -2,
            ..Default::default()
        });
        assert_eq!(
            (sum.requests, sum.in_queue, sum.server_ejected_at),
            (8, 0, 111)
        );
        sum.fold(&ServerMetrics {
            server_ejected_at: 222,
            ..Default::default()
        });
        assert_eq!(sum.server_ejected_at, 222);
    }

    #[test]
    fn metrics_index_by_pool_and_server() {
        let mut m = Metrics::new(&two_pools());
        assert!(!m.modified());
        m.pool(pid(1)).client_eof += 1;
        assert!(m.modified());
        m.server(pid(1), sid(1)).requests += 2;
        m.server(pid(0), sid(0)).requests += 5;
        m.record_latency(pid(1), sid(0), 40);
        let stale = PoolId { idx: 1, gen: 2 };
        assert!(m.pos.pool(stale).is_none(), "stale pool id");
        assert_eq!(m.cur.pools[1].client_eof, 1);
        assert_eq!(m.cur.servers[3].requests, 2);
        assert_eq!(m.cur.servers[0].requests, 5);
        assert_eq!(m.cur.latency[2].count(), 1);
        assert_eq!(
            Layout::new(&two_pools()).pools[1],
            ("alpha".to_string(), 2..4)
        );
    }

    #[test]
    fn set_layout_keeps_staying_counters() {
        let mut m = Metrics::new(&two_pools());
        m.server(pid(0), sid(1)).requests += 3;
        m.server(pid(1), sid(0)).requests += 7;
        m.pool(pid(1)).fragments += 2;
        m.modified = false;
        // pool 0 loses server 0 and gains server 2; pool 1 goes; pool 2 comes
        let mut next = named(&[("beta", &["x", "b", "c"]), ("gamma", &["g"])]);
        next[0].servers.remove(0);
        next[0].servers[0].0 = sid(1);
        next[1].id = pid(2);
        m.set_layout(&next);
        assert!(m.modified() && m.relaid);
        assert_eq!(m.cur.servers.len(), 3);
        assert_eq!(m.cur.servers[0].requests, 3, "server 1 of pool 0 stays");
        assert_eq!(m.cur.servers[1].requests, 0, "server 2 is new");
        assert_eq!(m.cur.pools[1].fragments, 0, "pool 2 is new");
        m.server(pid(1), sid(0)).requests += 1; // gone: absorbed
        m.server(pid(0), sid(2)).requests += 4;
        assert_eq!(m.cur.servers[1].requests, 4);
        m.relaid = false;
        m.set_layout(&next);
        assert!(!m.relaid, "same layout: nothing to do");
    }

    #[test]
    fn snapshot_fold_and_reset() {
        let layout = Layout::new(&two_pools());
        let (mut sum, mut d) = (Snapshot::new(&layout), Snapshot::new(&layout));
        d.pools[0].client_connections = 3;
        d.servers[1].server_ejected_at = 9;
        d.latency[1].record(10);
        sum.fold(&d);
        sum.fold(&d);
        assert_eq!(sum.pools[0].client_connections, 6);
        assert_eq!(sum.servers[1].server_ejected_at, 9);
        assert_eq!(sum.latency[1].count(), 2);
        d.reset();
        assert_eq!(d, Snapshot::new(&layout));
    }
}
