//! Server pools (twemproxy: nc_server.c, the pool and server half).
//!
//! A pool routes keys to servers through its `Router` (hash, hash tag,
//! distribution) and keeps each server's failure state: consecutive
//! failures, ejection and the time it may come back (§FAIL.1–2). The
//! connections themselves live in `Core::servers`; a `Server` only lists
//! the ids of its own.
//!
//! # Invariants
//! - `router` is built from exactly the servers with `live()` true;
//! - `next_retry` is the earliest `retry_at` among ejected servers.

use crate::conf::{PoolConf, ServerAddr};
use crate::hashkit::Router;
use crate::proto::Proto;
use crate::token::ServerConnId;
use std::time::{Duration, Instant};

/// One backend server of a pool (twemproxy: struct server).
#[derive(Debug)]
pub struct Server {
    pub name: String,     // §CONF.6 rule 5; stats key, ketama string
    pub pname: String,    // as configured, for logs
    pub addr: ServerAddr, // resolved at every connect
    pub weight: u32,
    pub conns: Vec<ServerConnId>, // open connections, at most server_connections
    pub rr: usize,                // round-robin cursor over `conns`
    pub failures: u32,            // consecutive failures
    pub retry_at: Option<Instant>, // ejected until then
    pub probing: bool,            // ejected, retry time passed, probe in flight
}

impl Server {
    pub fn live(&self) -> bool {
        self.retry_at.is_none()
    }
}

/// What a pool does (twemproxy: struct server_pool).
#[derive(Debug)]
pub struct ServerPool {
    pub conf: PoolConf, // the validated configuration
    pub proto: Proto,
    pub router: Router,
    pub servers: Vec<Server>,        // length-first name order (§CONF.9)
    pub timeout: Option<Duration>,   // per request and per connect
    pub next_retry: Option<Instant>, // earliest retry_at of ejected servers
    pub nclients: u32,               // client connections of this pool
}

/// Result of a failure report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Counted,
    Ejected,
}

impl ServerPool {
    pub fn new(conf: PoolConf) -> ServerPool {
        let names: Vec<(&[u8], u32)> = conf
            .servers
            .iter()
            .map(|s| (s.name.as_bytes(), s.weight))
            .collect();
        let router = Router::new(conf.hash, conf.hash_tag, conf.distribution, &names);
        let servers = conf
            .servers
            .iter()
            .map(|s| Server {
                name: s.name.clone(),
                pname: s.pname.clone(),
                addr: s.addr.clone(),
                weight: s.weight,
                conns: Vec::new(),
                rr: 0,
                failures: 0,
                retry_at: None,
                probing: false,
            })
            .collect();
        ServerPool {
            proto: if conf.redis {
                Proto::Redis
            } else {
                Proto::Memcache
            },
            timeout: conf.timeout_ms.map(Duration::from_millis),
            conf,
            router,
            servers,
            next_retry: None,
            nclients: 0,
        }
    }

    /// The server for `key`, re-admitting servers whose retry time has
    /// passed first (§FAIL.2.2). `Err(ECONNREFUSED)` when none is live.
    pub fn route(&mut self, key: &[u8], now: Instant) -> Result<usize, i32> {
        if self.next_retry.is_some_and(|t| now > t) {
            self.readmit(now);
        }
        self.router.server_index(key).ok_or(libc::ECONNREFUSED)
    }

    /// Servers whose retry time passed and that need a probe before they
    /// come back (`server_probe: true`).
    pub fn readmit(&mut self, now: Instant) {
        let probe = self.conf.server_probe;
        let mut changed = false;
        for s in &mut self.servers {
            if s.retry_at.is_some_and(|t| now > t) {
                if probe {
                    s.probing = true;
                } else {
                    s.retry_at = None;
                    s.failures = 0;
                    changed = true;
                }
            }
        }
        self.update_retry();
        if changed {
            self.rebuild();
        }
    }

    /// A probe answered: the server is live again.
    pub fn probe_ok(&mut self, s: usize) {
        if let Some(srv) = self.servers.get_mut(s) {
            srv.retry_at = None;
            srv.probing = false;
            srv.failures = 0;
        }
        self.update_retry();
        self.rebuild();
    }

    /// A probe failed: stay ejected for another retry period.
    pub fn probe_failed(&mut self, s: usize, now: Instant) {
        let retry = Duration::from_millis(self.conf.server_retry_timeout_ms);
        if let Some(srv) = self.servers.get_mut(s) {
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
            .filter(|s| !s.probing)
            .filter_map(|s| s.retry_at)
            .min();
    }

    fn rebuild(&mut self) {
        let live: Vec<bool> = self.servers.iter().map(Server::live).collect();
        self.router.set_live(&live);
    }

    /// A failure of server `s` (§FAIL.1). Only tracked with auto-eject.
    pub fn failure(&mut self, s: usize, now: Instant) -> Option<Failure> {
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
    pub fn success(&mut self, s: usize) {
        if let Some(srv) = self.servers.get_mut(s) {
            srv.failures = 0;
        }
    }
}
