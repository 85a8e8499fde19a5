//! Server pools (twemproxy: nc_server.c, the pool and server half).
//!
//! A pool routes keys to servers through its `Router` (hash, hash tag,
//! distribution) and keeps each server's failure state: consecutive
//! failures, ejection and the time it may come back (§FAIL.1–2). The
//! connections themselves live in `Core::servers`; a `Server` only lists
//! the ids of its own, by lane.
//!
//! # Lanes (`server_connections` > 1)
//! Each client is given a lane, round robin over the pool's clients, at its
//! first request to a server; every request of that client to server `s`
//! goes on connection `lane % server_connections` of `s`. So one client's
//! requests reach a server in the order it sent them (a redis INCR; INCR
//! pipelined reads 1 then 2; 0.5.0 spread them over the connections, which
//! could reorder them, twemproxy #368), while many clients spread over all
//! the connections. A closed connection's lane reconnects on its next
//! request; requests queued while it connects wait on it, in order.
//!
//! A pool owns everything derived from its configuration: the `PoolConf`
//! itself, the servers, the router, the request limits and the order the
//! stats list servers in. `ServerPool::apply` (re)builds all of it from a
//! `PoolConf`, at start and on reload; `add_server`, `remove_server`,
//! `replace_server` and `set_addr` change one server each.
//!
//! Servers are named by stable `ServerId`s (a generation-checked slab), so
//! adding or removing one never renames another. The length-first name
//! order of §CONF.9 survives only as the explicit list `order`, used where
//! output or routing needs it: the router's position `i` is `order[i]`,
//! and stats list servers in that order.
//!
//! # Invariants
//! - `order` lists every id in `servers` exactly once;
//! - the router's continuum is built from exactly the servers of `order`
//!   with `live()` true;
//! - `next_retry` is the earliest `retry_at` among ejected servers that
//!   are not `probing`;
//! - a `probing` server is ejected (`retry_at` set) and has exactly one
//!   probe in flight; it leaves that state through `probe_ok` (live again)
//!   or `probe_failed` (ejected for another retry period).

use crate::conf::{PoolConf, ServerAddr, ServerConf};
use crate::conn::sentinel::SentinelLink;
use crate::hashkit::{length_first, Router};
use crate::proto::{Limits, Proto};
use crate::stats::PoolLayout;
use crate::token::{PoolId, ServerConnId, ServerId, Slots};
use std::time::{Duration, Instant};

/// One backend server of a pool (twemproxy: struct server).
#[derive(Debug)]
pub struct Server {
    pub name: String,     // §CONF.6 rule 5; stats key, ketama string
    pub pname: String,    // as configured, for logs
    pub addr: ServerAddr, // resolved at every connect
    pub weight: u32,
    pub conns: Vec<Option<ServerConnId>>, // open connections by lane (< server_connections)
    pub dedicated: Vec<ServerConnId>,     // connections held by one client each (conn::dedicated)
    pub failures: u32,                    // consecutive failures
    pub retry_at: Option<Instant>,        // ejected until then
    pub probing: bool,                    // ejected, retry time passed, probe in flight
}

impl Server {
    /// The ids of its open connections, in lane order, then the dedicated
    /// ones.
    pub fn open_conns(&self) -> impl Iterator<Item = ServerConnId> + '_ {
        let dedicated = self.dedicated.iter();
        self.conns.iter().flatten().chain(dedicated).copied()
    }

    fn new(c: ServerConf) -> Server {
        Server {
            name: c.name,
            pname: c.pname,
            addr: c.addr,
            weight: c.weight,
            conns: Vec::new(),
            dedicated: Vec::new(),
            failures: 0,
            retry_at: None,
            probing: false,
        }
    }

    pub fn live(&self) -> bool {
        self.retry_at.is_none()
    }

    /// Clears the failure state: live, no failures, no probe pending.
    fn forgive(&mut self) {
        (self.failures, self.retry_at, self.probing) = (0, None, false);
    }
}

/// What a pool does (twemproxy: struct server_pool).
#[derive(Debug)]
pub struct ServerPool {
    pub id: PoolId,     // stable id (Core::pools)
    pub conf: PoolConf, // the validated configuration; its servers moved to `servers`
    pub proto: Proto,
    pub router: Router,                   // routes to positions in `order`
    pub servers: Slots<ServerId, Server>, // by stable id
    pub order: Vec<ServerId>,             // length-first name order (§CONF.9): stats, -D, routing
    pub limits: Limits,                   // request parser bounds (issue 8.4)
    pub timeout: Option<Duration>,        // per request and per connect
    pub next_retry: Option<Instant>,      // earliest retry_at of ejected servers
    pub nclients: u32,                    // client connections of this pool
    pub next_lane: u32,                   // lane of the next client to send a request
    pub auth_epoch: u32,                  // bumped when `redis_auth` changes
    pub sentinel: Option<SentinelLink>,   // with `sentinels:`, once started (`sentinel::restart`)
}

/// What `ServerPool::apply` changed that the connections must follow.
#[derive(Debug, Default)]
pub struct Applied {
    pub retired: Vec<ServerId>, // servers that left: out of `order`, in `servers` until `free_server`
    pub readdressed: Vec<ServerId>, // servers whose address changed (failure state cleared)
    pub sentinels_changed: bool, // `sentinels`, `sentinel_auth` or (with sentinels) server names
}

/// Result of a failure report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Counted,
    Ejected,
}

/// The request bounds of a pool (issue 8.4): its `max_request_bytes` and
/// `max_request_args`; no line (inline command, memcache command line) is
/// allowed to be longer than a whole request.
pub fn req_limits(p: &PoolConf) -> Limits {
    let d = Limits::default();
    Limits {
        max_msg: p.max_request_bytes,
        max_narg: p.max_request_args,
        max_line: d.max_line.min(p.max_request_bytes),
        ..d
    }
}

impl ServerPool {
    /// A pool built from `conf` (through `apply`, as a reload rebuilds it).
    pub fn new(id: PoolId, conf: PoolConf) -> ServerPool {
        let mut shell = conf.clone();
        shell.servers.clear();
        let mut pool = ServerPool {
            id,
            router: Router::new(shell.hash, shell.hash_tag, shell.distribution, &[]),
            conf: shell,
            proto: Proto::Redis,
            servers: Slots::default(),
            order: Vec::new(),
            limits: Limits::default(),
            timeout: None,
            next_retry: None,
            nclients: 0,
            next_lane: 0,
            auth_epoch: 0,
            sentinel: None,
        };
        pool.apply(conf);
        pool
    }

    /// Takes a new configuration of this pool and rebuilds everything
    /// derived from it: the one place that does. Servers are matched by
    /// name (§CONF.6, the stats key and ketama string): one that stays
    /// keeps its id, failure state and connections, with its weight and
    /// log name updated; one whose address changed keeps its id but starts
    /// fresh (no failures, not ejected). One that left is retired: out of
    /// `order` (so of routing) but still in `servers`, so that connections
    /// finishing their requests may still name it, until the caller
    /// `free_server`s it. Without `auto_eject_hosts` no server stays
    /// ejected (§FAIL.1). In a pool with `sentinels` a server that stays
    /// keeps the address in use (Sentinel's), and `Applied::sentinels_changed`
    /// says whether the sentinel session must start again (`sentinel::restart`).
    pub fn apply(&mut self, mut conf: PoolConf) -> Applied {
        let wanted = std::mem::take(&mut conf.servers);
        let mut out = Applied::default();
        for id in self.order.clone() {
            if !wanted.iter().any(|w| w.name == self.servers[id].name) {
                self.servers[id].forgive();
                out.retired.push(id);
            }
        }
        let mut order = Vec::with_capacity(wanted.len());
        let mut added = false;
        for w in wanted {
            let id = match self.server_named(&w.name) {
                // with sentinels the address in use is Sentinel's, not the file's (issue 13.5)
                Some(id) if !conf.sentinels.is_empty() => {
                    let srv = &mut self.servers[id];
                    if !conf.auto_eject_hosts {
                        srv.forgive();
                    }
                    (srv.weight, srv.pname) = (w.weight, w.pname);
                    id
                }
                Some(id) => {
                    let srv = &mut self.servers[id];
                    if srv.addr != w.addr || !conf.auto_eject_hosts {
                        srv.forgive();
                    }
                    if srv.addr != w.addr {
                        out.readdressed.push(id);
                    }
                    (srv.addr, srv.weight, srv.pname) = (w.addr, w.weight, w.pname);
                    id
                }
                None => {
                    added = true;
                    self.servers.insert(Server::new(w))
                }
            };
            order.push(id);
        }
        self.order = order;
        if conf.redis_auth != self.conf.redis_auth {
            self.auth_epoch = self.auth_epoch.wrapping_add(1);
        }
        let names_changed = added || !out.retired.is_empty();
        out.sentinels_changed = names_changed && !conf.sentinels.is_empty()
            || conf.sentinels != self.conf.sentinels
            || conf.sentinel_auth != self.conf.sentinel_auth;
        self.conf = conf;
        self.derive();
        out
    }

    /// Recomputes the state derived from `conf` and the servers: protocol,
    /// timeout, request limits, router (with the current live set) and
    /// the next retry time.
    fn derive(&mut self) {
        let c = &self.conf;
        self.proto = if c.redis {
            Proto::Redis
        } else {
            Proto::Memcache
        };
        self.timeout = c.timeout_ms.map(Duration::from_millis);
        self.limits = req_limits(c);
        let names: Vec<(&[u8], u32)> = self
            .order
            .iter()
            .map(|&s| (self.servers[s].name.as_bytes(), self.servers[s].weight))
            .collect();
        self.router = Router::new(c.hash, c.hash_tag, c.distribution, &names);
        self.update_retry();
        self.rebuild();
    }

    /// The server called `name` (§CONF.6), if any.
    pub fn server_named(&self, name: &str) -> Option<ServerId> {
        self.order
            .iter()
            .copied()
            .find(|&s| self.servers[s].name == name)
    }

    /// Adds a server in its length-first place (§CONF.9); no other id
    /// changes. The caller closes nothing: a new server has no connections.
    pub fn add_server(&mut self, conf: ServerConf) -> ServerId {
        let at = self
            .order
            .iter()
            .position(|&s| {
                length_first(self.servers[s].name.as_bytes(), conf.name.as_bytes()).is_gt()
            })
            .unwrap_or(self.order.len());
        let id = self.servers.insert(Server::new(conf));
        self.order.insert(at, id);
        self.derive();
        id
    }

    /// Removes a server; no other id changes. The caller closes the
    /// connections it returns (`Server::conns`).
    pub fn remove_server(&mut self, id: ServerId) -> Option<Server> {
        let srv = self.servers.remove(id)?;
        self.order.retain(|&s| s != id);
        self.derive();
        Some(srv)
    }

    /// Replaces a server by another (a new id: a different server starts
    /// with fresh state and counters). None when `id` is stale.
    pub fn replace_server(&mut self, id: ServerId, conf: ServerConf) -> Option<(ServerId, Server)> {
        let old = self.remove_server(id)?;
        Some((self.add_server(conf), old))
    }

    /// Server `s` moved (Sentinel): its failure count, ejection and probe
    /// start afresh.
    pub fn reset_failures(&mut self, s: ServerId) {
        let Some(srv) = self.servers.get_mut(s) else {
            return;
        };
        srv.failures = 0;
        srv.probing = false;
        if srv.retry_at.take().is_some() {
            self.update_retry();
            self.rebuild();
        }
    }

    /// Points a server at a new address (Sentinel failover, reload): the
    /// field `connect` reads is the only copy. Existing connections stay;
    /// the caller closes them if they must go. False when `id` is stale.
    pub fn set_addr(&mut self, id: ServerId, addr: ServerAddr) -> bool {
        match self.servers.get_mut(id) {
            Some(s) => {
                s.addr = addr;
                true
            }
            None => false,
        }
    }

    /// The server for `key`, re-admitting servers whose retry time has
    /// passed first (§FAIL.2.2). None when none is live.
    /// With `server_probe` nothing comes back here: `probes_due` hands the
    /// servers to a probe instead.
    pub fn route(&mut self, key: &[u8], now: Instant) -> Option<ServerId> {
        if !self.conf.server_probe && self.next_retry.is_some_and(|t| now > t) {
            self.readmit(now);
        }
        let i = self.router.server_index(key)?;
        self.order.get(i).copied()
    }

    /// This pool as the stats list it: its servers in length-first order
    /// (§CONF.9), with the ids the loop counts under.
    pub fn stats_layout(&self) -> PoolLayout {
        PoolLayout {
            id: self.id,
            name: self.conf.name.clone(),
            servers: self
                .order
                .iter()
                .map(|&s| (s, self.servers[s].name.clone()))
                .collect(),
        }
    }

    /// The name of the server `key` routes to, with the pool's current
    /// live set (`--locate`: all live); `-` when none is live.
    pub fn locate(&self, key: &[u8]) -> &str {
        self.router
            .server_index(key)
            .and_then(|i| self.order.get(i))
            .and_then(|&s| self.servers.get(s))
            .map_or("-", |s| s.name.as_str())
    }

    /// Blind re-admission (0.5.0): every server whose retry time passed is
    /// live again and the distribution is rebuilt.
    pub fn readmit(&mut self, now: Instant) {
        let mut changed = false;
        for s in self.servers.values_mut() {
            if s.retry_at.is_some_and(|t| now > t) {
                s.retry_at = None;
                s.failures = 0;
                changed = true;
            }
        }
        self.update_retry();
        if changed {
            self.rebuild();
        }
    }

    /// When the next probe is due (`server_probe: true` only), so the loop
    /// can wake up for it.
    pub fn probe_at(&self) -> Option<Instant> {
        self.next_retry.filter(|_| self.conf.server_probe)
    }

    /// The ejected servers whose retry time passed, now marked `probing`:
    /// the caller sends each one probe. They stay out of the distribution
    /// until `probe_ok`.
    pub fn probes_due(&mut self, now: Instant) -> Vec<ServerId> {
        if self.probe_at().is_none_or(|t| now <= t) {
            return Vec::new();
        }
        let mut due = Vec::new();
        for &id in &self.order {
            let s = &mut self.servers[id];
            if !s.probing && s.retry_at.is_some_and(|t| now > t) {
                s.probing = true;
                due.push(id);
            }
        }
        self.update_retry();
        due
    }

    /// A probe answered: the server is live again.
    pub fn probe_ok(&mut self, s: ServerId) {
        if let Some(srv) = self.servers.get_mut(s) {
            srv.retry_at = None;
            srv.probing = false;
            srv.failures = 0;
        }
        self.update_retry();
        self.rebuild();
    }

    /// A probe failed: stay ejected for another retry period (unless the
    /// server left the probing state meanwhile: `reset_failures`).
    pub fn probe_failed(&mut self, s: ServerId, now: Instant) {
        let retry = Duration::from_millis(self.conf.server_retry_timeout_ms);
        if let Some(srv) = self.servers.get_mut(s).filter(|srv| srv.probing) {
            srv.probing = false;
            srv.retry_at = Some(now + retry);
        }
        self.update_retry();
    }

    /// Earliest retry time of the ejected servers not already probing.
    fn update_retry(&mut self) {
        self.next_retry = self
            .servers
            .iter()
            .map(|(_, s)| s)
            .filter(|s| !s.probing)
            .filter_map(|s| s.retry_at)
            .min();
    }

    fn rebuild(&mut self) {
        let live: Vec<bool> = self.order.iter().map(|&s| self.servers[s].live()).collect();
        self.router.set_live(&live);
    }

    /// A failure of server `s` (§FAIL.1). Only tracked with auto-eject.
    pub fn failure(&mut self, s: ServerId, now: Instant) -> Option<Failure> {
        if !self.conf.auto_eject_hosts {
            return None;
        }
        let limit = self.conf.server_failure_limit.max(1);
        let retry = Duration::from_millis(self.conf.server_retry_timeout_ms);
        let srv = self.servers.get_mut(s)?;
        if !srv.live() {
            return Some(Failure::Counted);
        }
        srv.failures += 1;
        if srv.failures < limit {
            return Some(Failure::Counted);
        }
        srv.failures = 0;
        srv.retry_at = Some(now + retry);
        self.update_retry();
        self.rebuild();
        Some(Failure::Ejected)
    }

    /// A reply from server `s` matched a live request: reset its count.
    pub fn success(&mut self, s: ServerId) {
        if let Some(srv) = self.servers.get_mut(s) {
            srv.failures = 0;
        }
    }
}

/// A reload (`crate::reload`) frees retired servers once drained.
impl ServerPool {
    /// Forgets a server that [`ServerPool::apply`] retired, once nothing
    /// refers to it any more.
    pub fn free_server(&mut self, s: ServerId) {
        if !self.order.contains(&s) {
            self.servers.remove(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(extra: &str) -> ServerPool {
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:22121\n  auto_eject_hosts: true\n  \
             server_failure_limit: 2\n  server_retry_timeout: 1000\n{extra}  servers:\n   \
             - 127.0.0.1:6379:1 aa\n   - 127.0.0.1:6380:1 bb\n"
        );
        let mut conf = crate::conf::parse(&yaml, "t.yml").unwrap();
        ServerPool::new(PoolId { idx: 0, gen: 1 }, conf.pools.remove(0))
    }

    /// The two servers, in configuration order.
    fn ids(p: &ServerPool) -> (ServerId, ServerId) {
        (p.order[0], p.order[1])
    }

    /// A key of each server while both are live.
    fn keys(p: &mut ServerPool, now: Instant) -> [String; 2] {
        let mut out = [String::new(), String::new()];
        for i in 0..100 {
            let k = format!("k{i}");
            let s = p.route(k.as_bytes(), now);
            let Some(i) = p.order.iter().position(|&x| Some(x) == s) else {
                continue;
            };
            if out[i].is_empty() {
                out[i] = k;
            }
        }
        out
    }

    #[test]
    fn eject_at_limit_then_blind_readmit() {
        let now = Instant::now();
        let mut p = pool("");
        let [ka, _] = keys(&mut p, now);
        let (a, b) = ids(&p);
        assert_eq!(p.failure(a, now), Some(Failure::Counted));
        assert_eq!(p.failure(a, now), Some(Failure::Ejected));
        assert_eq!(p.route(ka.as_bytes(), now), Some(b));
        assert_eq!(p.next_retry, Some(now + Duration::from_millis(1000)));
        // not before the retry time, strictly after it
        let at = now + Duration::from_millis(1000);
        assert_eq!(p.route(ka.as_bytes(), at), Some(b));
        assert_eq!(
            p.route(ka.as_bytes(), at + Duration::from_millis(1)),
            Some(a)
        );
        assert!(p.next_retry.is_none() && p.servers[a].live());
    }

    #[test]
    fn all_ejected_refuses() {
        let now = Instant::now();
        let mut p = pool("");
        let (a, b) = ids(&p);
        for s in [a, b, a, b] {
            p.failure(s, now);
        }
        assert_eq!(p.route(b"x", now), None);
    }

    #[test]
    fn no_auto_eject_keeps_no_state() {
        let now = Instant::now();
        let mut p = pool("").with_auto_eject(false);
        let (a, _) = ids(&p);
        for _ in 0..5 {
            assert_eq!(p.failure(a, now), None);
        }
        assert!(p.servers[a].live() && p.servers[a].failures == 0);
    }

    #[test]
    fn moved_server_starts_afresh() {
        let now = Instant::now();
        let mut p = pool("  server_probe: true\n");
        let [ka, _] = keys(&mut p, now);
        let (a, _) = ids(&p);
        let later = now + Duration::from_millis(1001);
        for _ in 0..2 {
            p.failure(a, now);
        }
        assert_eq!(p.probes_due(later), vec![a]);
        let moved = ServerAddr::Tcp {
            host: "127.0.0.2".into(),
            port: 7000,
        };
        assert!(p.set_addr(a, moved.clone()));
        p.reset_failures(a);
        assert_eq!(p.servers[a].addr, moved);
        assert!(p.servers[a].live() && !p.servers[a].probing && p.servers[a].failures == 0);
        assert_eq!(p.route(ka.as_bytes(), later), Some(a));
        assert!(p.next_retry.is_none());
        // the probe that was in flight fails with the old connection: no effect now
        p.probe_failed(a, later);
        assert!(p.servers[a].live());
        p.failure(a, later);
        assert_eq!(p.servers[a].failures, 1);
        p.reset_failures(a);
        assert_eq!(p.servers[a].failures, 0);
    }

    /// A pool with sentinels: `redis: true` and two named servers `aa`, `bb`.
    fn sentinel_conf(servers: &str, extra: &str) -> PoolConf {
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:22121\n  redis: true\n{extra}  sentinels:\n   \
             - 127.0.0.1:26379\n  servers:\n{servers}"
        );
        crate::conf::parse(&yaml, "t.yml").unwrap().pools.remove(0)
    }

    #[test]
    fn apply_keeps_sentinel_addresses_of_names_that_stay() {
        let two = "   - 127.0.0.1:6379:1 aa\n   - 127.0.0.1:6380:1 bb\n";
        let mut p = ServerPool::new(PoolId { idx: 0, gen: 1 }, sentinel_conf(two, ""));
        let (a, b) = ids(&p);
        let learned = ServerAddr::Tcp {
            host: "127.0.0.9".into(),
            port: 7009,
        };
        p.set_addr(a, learned.clone());
        // same names, other file addresses and a new timeout: nothing for Sentinel to redo
        let moved = "   - 127.0.0.1:7379:1 aa\n   - 127.0.0.1:7380:1 bb\n";
        let out = p.apply(sentinel_conf(moved, "  timeout: 100\n"));
        assert!(out.readdressed.is_empty() && !out.sentinels_changed);
        assert_eq!(p.servers[a].addr, learned);
        assert_eq!((p.order[0], p.order[1]), (a, b));
        // a new name: the session must ask for it; the kept name keeps Sentinel's address
        let three =
            "   - 127.0.0.1:6379:1 aa\n   - 127.0.0.1:6380:1 bb\n   - 127.0.0.1:6381:1 cc\n";
        let out = p.apply(sentinel_conf(three, ""));
        assert!(out.sentinels_changed);
        assert_eq!(p.servers[a].addr, learned);
        // another sentinel_auth: a new session too
        let out = p.apply(sentinel_conf(three, "  sentinel_auth: pw\n"));
        assert!(out.sentinels_changed);
        assert!(
            !p.apply(sentinel_conf(three, "  sentinel_auth: pw\n"))
                .sentinels_changed
        );
        // without sentinels the file's address is the address again
        let plain = crate::conf::parse(
            "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n   - 127.0.0.1:6379:1 aa\n",
            "t.yml",
        )
        .unwrap()
        .pools
        .remove(0);
        let out = p.apply(plain);
        assert!(out.sentinels_changed && out.readdressed == vec![a]);
    }

    #[test]
    fn probe_gates_readmission() {
        let now = Instant::now();
        let mut p = pool("  server_probe: true\n");
        let [ka, _] = keys(&mut p, now);
        let (a, b) = ids(&p);
        p.failure(a, now);
        p.failure(a, now);
        let later = now + Duration::from_millis(1001);
        assert_eq!(p.probe_at(), Some(now + Duration::from_millis(1000)));
        // routing never re-admits a server that must be probed
        assert_eq!(p.route(ka.as_bytes(), later), Some(b));
        assert!(p.probes_due(now).is_empty());
        assert_eq!(p.probes_due(later), vec![a]);
        assert!(p.servers[a].probing && p.probe_at().is_none());
        assert!(p.probes_due(later).is_empty(), "one probe at a time");
        p.probe_failed(a, later);
        assert!(!p.servers[a].probing && !p.servers[a].live());
        assert_eq!(p.probe_at(), Some(later + Duration::from_millis(1000)));
        assert_eq!(p.route(ka.as_bytes(), later), Some(b));
        let again = later + Duration::from_millis(1001);
        assert_eq!(p.probes_due(again), vec![a]);
        p.probe_ok(a);
        assert!(p.servers[a].live() && !p.servers[a].probing);
        assert_eq!(p.route(ka.as_bytes(), again), Some(a));
        assert!(p.probe_at().is_none());
    }

    impl ServerPool {
        fn with_auto_eject(mut self, on: bool) -> ServerPool {
            self.conf.auto_eject_hosts = on;
            self
        }
    }

    /// The server name each key routes to.
    fn names(p: &ServerPool, ks: &[String]) -> Vec<Option<String>> {
        let name = |i: usize| p.servers[p.order[i]].name.clone();
        ks.iter()
            .map(|k| p.router.server_index(k.as_bytes()).map(name))
            .collect()
    }

    fn conf_of(servers: &str, extra: &str) -> PoolConf {
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:22121\n  server_failure_limit: 1\n{extra}  servers:\n{servers}"
        );
        crate::conf::parse(&yaml, "t.yml").unwrap().pools.remove(0)
    }

    const EJECT: &str = "  auto_eject_hosts: true\n";

    #[test]
    fn apply_routes_like_a_fresh_pool_and_keeps_what_stays() {
        let now = Instant::now();
        let a = "   - 127.0.0.1:6379:1 aa\n   - 127.0.0.1:6380:1 bb\n   - 127.0.0.1:6381:1 cc\n";
        let b = "   - 127.0.0.1:6379:1 aa\n   - 127.0.0.1:7380:1 bb\n   - 127.0.0.1:6382:3 dd\n";
        let mut p = ServerPool::new(PoolId { idx: 0, gen: 1 }, conf_of(a, EJECT));
        let [aa, bb, cc] = [0, 1, 2].map(|i| p.order[i]);
        p.servers[aa]
            .conns
            .push(Some(ServerConnId { idx: 9, gen: 1 }));
        assert_eq!(p.failure(aa, now), Some(Failure::Ejected));
        p.failure(cc, now);
        let out = p.apply(conf_of(b, &format!("{EJECT}  hash: murmur\n")));
        assert_eq!((out.retired, out.readdressed), (vec![cc], vec![bb]));
        assert_eq!(p.order[..2], [aa, bb], "aa and bb kept their ids");
        assert!(
            !p.order.contains(&cc) && p.servers.contains(cc),
            "retired, not freed"
        );
        assert!(
            p.servers[cc].live(),
            "a retired server holds no ejection state"
        );
        let kept = &p.servers[aa];
        assert!(!kept.live() && kept.conns.len() == 1, "aa kept its state");
        assert_eq!(p.next_retry, p.servers[aa].retry_at);
        let ks: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
        let mut fresh = ServerPool::new(
            PoolId { idx: 1, gen: 1 },
            conf_of(b, &format!("{EJECT}  hash: murmur\n")),
        );
        fresh.failure(fresh.order[0], now);
        assert_eq!(names(&p, &ks), names(&fresh, &ks));
        p.free_server(cc);
        p.free_server(aa);
        assert!(!p.servers.contains(cc) && p.servers.contains(aa));
        // without auto-eject no server stays ejected
        p.apply(conf_of(b, "  auto_eject_hosts: false\n"));
        assert!(p.servers[aa].live() && p.next_retry.is_none());
    }
}
