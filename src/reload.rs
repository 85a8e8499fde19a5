//! Live reconfiguration on SIGUSR1 (nutcracker-rs; twemproxy has none, its
//! issue #6).
//!
//! A reload reads the `-c` file again through [`conf::load`], the same
//! validation `-t` runs, so a rejected file is logged with the reason text
//! `-t` prints and changes nothing. A valid file is compared with the
//! running configuration by [`diff`], a pure function: pools are matched by
//! name, servers within a kept pool by name, then address and weight. Every
//! new listen address is bound before anything changes ([`bind_first`]).
//! Then `apply` changes the running core between two loop iterations, and
//! [`Diff::summary`] is the notice-level line that says what changed.
//!
//! ```text
//!   SIGUSR1 ─> signal::handle_pending ─> Core::run ─> reload()
//!     prepare: conf::load (as -t) ─> diff(running, new) ─> bind_first
//!        │ any error: "reload rejected: <reason>", nothing changed
//!        v
//!     apply: removed pools drain, kept pools ServerPool::apply in place,
//!            added pools listen; Core::relayout (stats); what is left to
//!            finish goes to Core::draining, which sweep() empties
//! ```
//!
//! Unlike `Core::apply` (start-up, and the topology building blocks, which
//! close what leaves at once), a reload never fails a request that was
//! already received: connections of servers and pools that leave finish
//! their requests first (`apply::Draining`).
//!
//! # Invariants
//! - `diff(a, a)` is empty for every valid `a`, and its summary says so;
//! - every pool of `old` and `new` appears exactly once in a `Diff`: as
//!   added, removed, or kept (with its listen, settings and server changes).

use crate::conf::{self, Conf, PoolConf, ServerConf};
use crate::conn::listener::{self, ListenSock};
use crate::core::Core;

mod apply;
pub use apply::{sweep, Draining};
use std::fmt::Write as _;

/// What became of one server of a kept pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerChange {
    Kept,        // same name, address and weight: connections and ejection state stay
    Reweighted,  // same name and address, another weight: only routing changes
    Readdressed, // same name, another address: drained like a removed one, starts fresh
    Added,       // only in the new file
    Removed,     // only in the old file: no new requests, in-flight ones complete
}

/// How a pool that exists under both files changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolDiff {
    pub name: String,
    pub listen: Option<(String, String)>, // (old, new) `listen:` when it moved
    pub settings: Vec<&'static str>,      // directives other than listen/servers that changed
    pub servers: Vec<(String, ServerChange)>, // by name; removed ones last
    pub proto_changed: bool,              // `redis:` flipped: old clients are drained
}

impl PoolDiff {
    /// Whether anything about the pool changed.
    pub fn is_changed(&self) -> bool {
        self.listen.is_some()
            || !self.settings.is_empty()
            || self.proto_changed
            || self.servers.iter().any(|(_, c)| *c != ServerChange::Kept)
    }

    /// Whether routing must be rebuilt (some server other than `Kept`, or
    /// a directive that routing reads).
    pub fn routing_changed(&self) -> bool {
        self.servers.iter().any(|(_, c)| *c != ServerChange::Kept)
            || self
                .settings
                .iter()
                .any(|k| matches!(*k, "hash" | "hash_tag" | "distribution"))
    }

    /// The names of the servers with change `c`.
    pub fn servers_with(&self, c: &ServerChange) -> impl Iterator<Item = &str> + '_ {
        let c = c.clone();
        self.servers
            .iter()
            .filter(move |(_, x)| *x == c)
            .map(|(n, _)| n.as_str())
    }
}

/// The difference between the running configuration and a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,   // pools only in the new file, new order
    pub removed: Vec<String>, // pools only in the old file, old order
    pub kept: Vec<PoolDiff>,  // pools in both, new order
}

impl Diff {
    /// Whether the new file changes nothing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && !self.kept.iter().any(|p| p.is_changed())
    }

    /// The pools whose listen address moved, with the new `listen:`.
    pub fn moved(&self) -> impl Iterator<Item = &PoolDiff> {
        self.kept.iter().filter(|p| p.listen.is_some())
    }

    /// The notice line after a reload: `pools added: a; pools removed: b;
    /// pool 'c': listen x -> y, settings changed (timeout), servers added
    /// s1, removed s2, re-addressed s3, re-weighted s4`, or `nothing
    /// changed`.
    pub fn summary(&self) -> String {
        let parts = self.parts();
        if parts.is_empty() {
            return "nothing changed".to_owned();
        }
        parts.join("; ")
    }

    /// The summary in parts: pools added, pools removed, then one part per
    /// kept pool that changed.
    pub fn parts(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("pools added: {}", self.added.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("pools removed: {}", self.removed.join(", ")));
        }
        for p in self.kept.iter().filter(|p| p.is_changed()) {
            parts.push(pool_summary(p));
        }
        parts
    }
}

/// Logs what a reload changed: one line, or, when that would not fit a
/// log line, a count followed by a line per part.
fn log_summary(path: &str, d: &Diff) {
    let line = format!("reloaded '{path}': {}", d.summary());
    // room for the timestamp and location prefix of a log line
    if line.len() + 64 <= crate::log::LOG_MAX_LEN {
        log::info!("{line}");
        return;
    }
    let parts = d.parts();
    log::info!("reloaded '{path}': {} changes follow", parts.len());
    for part in parts {
        log::info!("reload: {part}");
    }
}

fn pool_summary(p: &PoolDiff) -> String {
    let mut what = Vec::new();
    if p.proto_changed {
        what.push("protocol changed, old clients drained".to_owned());
    }
    if let Some((old, new)) = &p.listen {
        what.push(format!("listen {old} -> {new}"));
    }
    if !p.settings.is_empty() {
        what.push(format!("settings changed ({})", p.settings.join(", ")));
    }
    let mut servers = String::new();
    for (label, c) in [
        ("added", ServerChange::Added),
        ("removed", ServerChange::Removed),
        ("re-addressed", ServerChange::Readdressed),
        ("re-weighted", ServerChange::Reweighted),
    ] {
        let names: Vec<&str> = p.servers_with(&c).collect();
        if !names.is_empty() {
            let sep = if servers.is_empty() { "servers " } else { ", " };
            let _ = write!(servers, "{sep}{label} {}", names.join(" "));
        }
    }
    if !servers.is_empty() {
        what.push(servers);
    }
    format!("pool '{}': {}", p.name, what.join(", "))
}

/// Compares two validated configurations (pure; see the module doc).
pub fn diff(old: &Conf, new: &Conf) -> Diff {
    let find = |conf: &'_ Conf, name: &str| conf.pools.iter().position(|p| p.name == name);
    let mut d = Diff::default();
    for n in &new.pools {
        match find(old, &n.name) {
            Some(i) => d.kept.push(pool_diff(&old.pools[i], n)),
            None => d.added.push(n.name.clone()),
        }
    }
    d.removed = old
        .pools
        .iter()
        .filter(|o| find(new, &o.name).is_none())
        .map(|o| o.name.clone())
        .collect();
    d
}

fn pool_diff(old: &PoolConf, new: &PoolConf) -> PoolDiff {
    PoolDiff {
        name: new.name.clone(),
        // the address, not its spelling: `localhost:1` and `127.0.0.1:1`
        // are the same socket
        listen: (old.listen != new.listen)
            .then(|| (old.listen_str.clone(), new.listen_str.clone())),
        settings: settings_changed(old, new),
        servers: server_diff(&old.servers, &new.servers, !new.sentinels.is_empty()),
        proto_changed: old.redis != new.redis,
    }
}

/// The directives, other than `listen`, `servers` and `redis`, whose value
/// differs (names as in the file).
fn settings_changed(a: &PoolConf, b: &PoolConf) -> Vec<&'static str> {
    let rows = [
        ("hash", a.hash != b.hash),
        ("hash_tag", a.hash_tag != b.hash_tag),
        ("distribution", a.distribution != b.distribution),
        ("timeout", a.timeout_ms != b.timeout_ms),
        ("backlog", a.backlog != b.backlog),
        (
            "client_connections",
            a.client_connections != b.client_connections,
        ),
        ("tcpkeepalive", a.tcpkeepalive != b.tcpkeepalive),
        ("redis_auth", a.redis_auth != b.redis_auth),
        ("redis_db", a.redis_db != b.redis_db),
        ("preconnect", a.preconnect != b.preconnect),
        ("auto_eject_hosts", a.auto_eject_hosts != b.auto_eject_hosts),
        (
            "server_connections",
            a.server_connections != b.server_connections,
        ),
        (
            "server_retry_timeout",
            a.server_retry_timeout_ms != b.server_retry_timeout_ms,
        ),
        (
            "server_failure_limit",
            a.server_failure_limit != b.server_failure_limit,
        ),
        ("reuseport", a.reuseport != b.reuseport),
        ("sentinels", a.sentinels != b.sentinels),
        ("sentinel_auth", a.sentinel_auth != b.sentinel_auth),
        ("server_probe", a.server_probe != b.server_probe),
        (
            "max_request_bytes",
            a.max_request_bytes != b.max_request_bytes,
        ),
        ("max_request_args", a.max_request_args != b.max_request_args),
        (
            "client_max_pending_bytes",
            a.client_max_pending_bytes != b.client_max_pending_bytes,
        ),
    ];
    rows.into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(k, _)| k)
        .collect()
}

/// Servers matched by name: new order first, then the removed ones in old
/// order.
/// With `sentinel` (the new pool has sentinels) an address is Sentinel's, so a server
/// that keeps its name is never readdressed (issue 13.5).
fn server_diff(
    old: &[ServerConf],
    new: &[ServerConf],
    sentinel: bool,
) -> Vec<(String, ServerChange)> {
    let mut out: Vec<(String, ServerChange)> = new
        .iter()
        .map(|n| {
            let change = match old.iter().find(|o| o.name == n.name) {
                None => ServerChange::Added,
                Some(o) if o.addr != n.addr && !sentinel => ServerChange::Readdressed,
                Some(o) if o.weight != n.weight => ServerChange::Reweighted,
                Some(_) => ServerChange::Kept,
            };
            (n.name.clone(), change)
        })
        .collect();
    out.extend(
        old.iter()
            .filter(|o| !new.iter().any(|n| n.name == o.name))
            .map(|o| (o.name.clone(), ServerChange::Removed)),
    );
    out
}

/// Binds the listen address of every added pool and every pool whose
/// address moved, before anything changes: one failure rejects the whole
/// reload (the sockets bound so far close when the vector drops). Returns
/// the sockets by pool name, ready for `listener::add`.
pub fn bind_first(new: &Conf, d: &Diff) -> Result<Vec<(String, ListenSock)>, String> {
    let fresh = d
        .added
        .iter()
        .map(String::as_str)
        .chain(d.moved().map(|p| p.name.as_str()));
    let mut out = Vec::new();
    for name in fresh {
        let Some(pool) = new.pools.iter().find(|p| p.name == name) else {
            continue;
        };
        out.push((name.to_owned(), listener::open(pool)?));
    }
    Ok(out)
}

/// Re-reads the configuration file and applies it (SIGUSR1), or rejects
/// it with nothing changed; logs the outcome and counts it in the stats.
pub fn reload(core: &mut Core, path: &str) {
    let outcome = prepare(core, path).and_then(|plan| {
        let d = plan.diff.clone();
        apply(core, plan)?;
        Ok(d)
    });
    let applied = outcome.is_ok();
    match outcome {
        Ok(d) => log_summary(path, &d),
        Err(why) => log::error!("reload rejected: {why}"),
    }
    if let Some(st) = core.stats.as_ref() {
        st.reloaded(applied);
    }
}

/// Everything that can reject a reload, done before anything changes:
/// `-t`'s validation, the diff, and binding the new listen addresses.
fn prepare(core: &Core, path: &str) -> Result<Plan, String> {
    let new = conf::load(path).map_err(|e| e.to_string())?;
    let diff = diff(&running(core, path), &new);
    let socks = bind_first(&new, &diff)?;
    Ok(Plan { new, diff, socks })
}

/// A reload that passed every check: what `apply` does.
#[derive(Debug)]
struct Plan {
    new: Conf,                        // the validated file
    diff: Diff,                       // against the running configuration
    socks: Vec<(String, ListenSock)>, // new listen sockets, by pool name
}

/// The configuration the core runs, as a `Conf` to compare a new one with.
fn running(core: &Core, path: &str) -> Conf {
    let pools = core.pool_order.iter().map(|&p| {
        let pool = &core.pools[p];
        let servers = pool.order.iter().map(|&s| {
            let srv = &pool.servers[s];
            ServerConf {
                name: srv.name.clone(),
                pname: srv.pname.clone(),
                addr: srv.addr.clone(),
                weight: srv.weight,
                naming: conf::Naming::Given,
            }
        });
        PoolConf {
            servers: servers.collect(),
            ..pool.conf.clone()
        }
    });
    Conf {
        path: path.to_owned(),
        pools: pools.collect(),
    }
}

/// Applies a checked plan (`apply` cannot fail: everything that could
/// reject the reload happened in `prepare`).
fn apply(core: &mut Core, plan: Plan) -> Result<(), String> {
    apply::apply(core, plan);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> Conf {
        conf::parse(text, "t.yml").unwrap()
    }

    fn kept<'a>(d: &'a Diff, name: &str) -> &'a PoolDiff {
        d.kept.iter().find(|p| p.name == name).unwrap()
    }

    const BASE: &str = "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n   \
        - 127.0.0.1:6379:1 s1\n   - 127.0.0.1:6380:1 s2\n   - 127.0.0.1:6381:1 s3\n\
        beta:\n  listen: 127.0.0.1:22122\n  servers:\n   - 127.0.0.1:11211:1\n";

    #[test]
    fn same_file_changes_nothing() {
        let a = conf(BASE);
        let d = diff(&a, &a);
        assert!(d.is_empty());
        assert_eq!(d.summary(), "nothing changed");
        assert_eq!(d.kept.len(), 2);
        assert!(d.kept.iter().all(|p| !p.routing_changed()));
    }

    #[test]
    fn pools_matched_by_name() {
        let new = BASE.replace("beta:", "gamma:");
        let d = diff(&conf(BASE), &conf(&new));
        assert_eq!(d.added, ["gamma"]);
        assert_eq!(d.removed, ["beta"]);
        assert_eq!(d.kept.len(), 1);
        assert!(!d.kept[0].is_changed());
        assert_eq!(d.summary(), "pools added: gamma; pools removed: beta");
    }

    #[test]
    fn servers_added_removed_readdressed_reweighted() {
        let new = BASE
            .replace("- 127.0.0.1:6379:1 s1\n", "- 127.0.0.1:6379:2 s1\n")
            .replace("6380:1 s2", "7380:1 s2")
            .replace("6381:1 s3", "6382:1 s4");
        let d = diff(&conf(BASE), &conf(&new));
        let alpha = kept(&d, "alpha");
        assert_eq!(
            alpha.servers,
            [
                ("s1".to_owned(), ServerChange::Reweighted),
                ("s2".to_owned(), ServerChange::Readdressed),
                ("s4".to_owned(), ServerChange::Added),
                ("s3".to_owned(), ServerChange::Removed),
            ]
        );
        assert!(alpha.routing_changed() && alpha.settings.is_empty());
        assert!(!kept(&d, "beta").is_changed());
        assert_eq!(
            d.summary(),
            "pool 'alpha': servers added s4, removed s3, re-addressed s2, re-weighted s1"
        );
    }

    #[test]
    fn sentinel_pool_servers_are_never_readdressed() {
        let with = BASE.replace(
            "  redis: true\n",
            "  redis: true\n  sentinels:\n   - 127.0.0.1:26379\n",
        );
        let moved = with.replace("6380:1 s2", "7380:1 s2");
        let d = diff(&conf(&with), &conf(&moved));
        assert!(!kept(&d, "alpha").is_changed(), "{d:?}");
        let other = moved.replace(
            "   - 127.0.0.1:26379\n",
            "   - 127.0.0.1:26380\n  sentinel_auth: pw\n",
        );
        let d = diff(&conf(&with), &conf(&other));
        assert_eq!(kept(&d, "beta").settings, Vec::<&str>::new());
        assert_eq!(kept(&d, "alpha").settings, ["sentinels", "sentinel_auth"]);
        // a pool that leaves Sentinel compares addresses again
        let d = diff(&conf(&with), &conf(&BASE.replace("6380:1 s2", "7380:1 s2")));
        assert!(kept(&d, "alpha")
            .servers
            .contains(&("s2".to_owned(), ServerChange::Readdressed)));
    }

    #[test]
    fn listen_and_settings() {
        let new = BASE.replace("22122", "22123").replace(
            "  redis: true\n",
            "  redis: true\n  timeout: 400\n  hash: murmur\n  redis_auth: pw\n",
        );
        let d = diff(&conf(BASE), &conf(&new));
        let (alpha, beta) = (kept(&d, "alpha"), kept(&d, "beta"));
        assert_eq!(alpha.settings, ["hash", "timeout", "redis_auth"]);
        assert!(alpha.routing_changed() && alpha.listen.is_none());
        assert_eq!(
            beta.listen,
            Some(("127.0.0.1:22122".to_owned(), "127.0.0.1:22123".to_owned()))
        );
        assert!(!beta.routing_changed());
        assert_eq!(
            d.moved().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["beta"]
        );
        assert_eq!(
            d.summary(),
            "pool 'beta': listen 127.0.0.1:22122 -> 127.0.0.1:22123; \
             pool 'alpha': settings changed (hash, timeout, redis_auth)"
        );
    }

    #[test]
    fn the_same_address_spelt_differently_has_not_moved() {
        let old = conf(BASE);
        let mut new = old.clone();
        for p in &mut new.pools {
            p.listen_str = p.listen_str.replace("127.0.0.1", "localhost");
        }
        assert!(diff(&old, &new).is_empty());
        new.pools[0].listen = crate::conf::Listen::Tcp(([127, 0, 0, 2], 9).into());
        assert!(diff(&old, &new).moved().count() == 1);
    }

    #[test]
    fn every_directive_is_compared() {
        // One line per directive that settings_changed() covers; each must
        // show up on its own.
        let lines = [
            ("hash", "hash: md5"),
            ("hash_tag", "hash_tag: \"{}\""),
            ("distribution", "distribution: modula"),
            ("timeout", "timeout: 5"),
            ("backlog", "backlog: 7"),
            ("client_connections", "client_connections: 9"),
            ("tcpkeepalive", "tcpkeepalive: true"),
            ("redis_db", "redis_db: 3"),
            ("preconnect", "preconnect: true"),
            ("auto_eject_hosts", "auto_eject_hosts: true"),
            ("server_connections", "server_connections: 4"),
            ("server_retry_timeout", "server_retry_timeout: 5"),
            ("server_failure_limit", "server_failure_limit: 5"),
            ("reuseport", "reuseport: true"),
            ("server_probe", "server_probe: true"),
            ("max_request_bytes", "max_request_bytes: 5"),
            ("max_request_args", "max_request_args: 5"),
            ("client_max_pending_bytes", "client_max_pending_bytes: 5"),
        ];
        let old = conf(BASE);
        for (key, line) in lines {
            let new = BASE.replace("  redis: true\n", &format!("  redis: true\n  {line}\n"));
            let d = diff(&old, &conf(&new));
            assert_eq!(kept(&d, "alpha").settings, [key], "{line}");
        }
    }

    #[test]
    fn protocol_flip_is_reported() {
        let new = BASE.replace("  redis: true\n", "");
        let d = diff(&conf(BASE), &conf(&new));
        assert!(kept(&d, "alpha").proto_changed);
        assert!(d.summary().starts_with("pool 'alpha': protocol changed"));
    }

    #[test]
    fn bind_first_binds_added_and_moved_and_fails_whole() {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = |l: &std::net::TcpListener| l.local_addr().unwrap().port();
        let free = [0, 1].map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let (p1, p2) = (port(&free[0]), port(&free[1]));
        drop(free);
        let old = conf(BASE);
        let new = BASE.replace("22122", &p1.to_string())
            + &format!("gamma:\n  listen: 127.0.0.1:{p2}\n  servers:\n   - 127.0.0.1:11211:1\n");
        let new = conf(&new);
        let d = diff(&old, &new);
        let socks = bind_first(&new, &d).unwrap();
        let names: Vec<&str> = socks.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["gamma", "beta"]);
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", p2)).is_err(),
            "bound"
        );
        drop(socks);
        let taken = BASE.replace("22122", &port(&busy).to_string());
        let e = bind_first(&conf(&taken), &diff(&old, &conf(&taken))).unwrap_err();
        assert!(e.contains("failed"), "{e}");
    }

    #[test]
    fn invalid_file_fails_prepare_with_the_t_reason() {
        let dir = std::env::temp_dir().join(format!("nc-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.yml");
        let path = path.to_str().unwrap();
        std::fs::write(
            path,
            BASE.replace("redis: true", "redis: true\n  hash: nope"),
        )
        .unwrap();
        let opts = crate::core::CoreOpts {
            mbuf_size: 16384,
            stats_interval: std::time::Duration::from_secs(1),
            batch_wait: std::time::Duration::ZERO,
        };
        let core = Core::new(conf(BASE), opts, None).unwrap();
        let e = prepare(&core, path).unwrap_err();
        assert_eq!(e, conf::load(path).unwrap_err().to_string());
        assert!(e.contains("is not a valid hash"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
