//! Building and changing the proxy's shape (twemproxy: server_pool_init,
//! server_pool_deinit).
//!
//! `Core::apply` takes a whole configuration: once at start (from
//! `Core::new`), and again whenever a reload asks. The building blocks it
//! uses change one pool or one server each and keep every other id; each
//! ends with `relayout`, so the metrics and the stats thread follow.
//!
//! A pool owns everything derived from its configuration (`ServerPool::apply`
//! rebuilds it, `ServerPool::stats_layout` describes it to the stats);
//! what lives outside the pool is only its connections, which these
//! functions close with `Close::Reconfigured` before the pool or server
//! they belong to goes.
//!
//! # Invariants
//! - `pool_order` lists every id of `pools` exactly once, in configuration
//!   (stats) order;
//! - a pool or server leaves `pools` only after its connections are closed
//!   and reaped, so no live connection or message names a removed id;
//! - these run between event batches (a reload, a failover decision), not
//!   in the middle of one: they reap at once.

use super::Core;
use crate::conf::{Conf, PoolConf, ServerAddr, ServerConf};
use crate::conn::{listener, sentinel, Close};
use crate::pool::ServerPool;
use crate::token::{ClientId, ConnRef, ListenerId, PoolId, ServerConnId, ServerId};

/// Most client connections the process can hold (§CONN.9): the open-file
/// limit minus the backend connections and a reserve of 32.
pub fn max_clients<'a>(pools: impl Iterator<Item = &'a ServerPool>) -> usize {
    let nofile = crate::sock::nofile_limit();
    let backends: u64 = pools
        .map(|p| u64::from(p.conf.server_connections) * p.servers.len() as u64 + 1)
        .sum();
    nofile.saturating_sub(backends + 32).max(1) as usize
}

/// Whether a pool can take `new` in place, or must be replaced (a new id,
/// its clients closed): a client cannot follow a change of protocol, nor
/// of the address it connected to.
fn in_place(old: &PoolConf, new: &PoolConf) -> bool {
    old.redis == new.redis && old.listen == new.listen && old.reuseport == new.reuseport
}

impl Core {
    /// Makes the running proxy match `conf` (at start and on reload).
    ///
    /// Pools are matched by name. A pool that stays takes its new
    /// configuration in place (`ServerPool::apply`: servers matched by
    /// name keep their ids, state and connections; connections of servers
    /// that left or moved are closed), unless its protocol or listen
    /// address changed: then it is replaced. New pools are added (and
    /// bound, once the proxy has started); pools no longer configured are
    /// removed. Stats keep the counters of every pool and server that
    /// stays. The first bind failure is returned; the other pools are
    /// applied all the same.
    pub fn apply(&mut self, conf: Conf) -> Result<(), String> {
        let mut order = Vec::with_capacity(conf.pools.len());
        let mut fresh = Vec::new();
        for pc in conf.pools {
            let id = match self.pool_named(&pc.name) {
                Some(id) if in_place(&self.pools[id].conf, &pc) => {
                    self.reconfigure_pool(id, pc);
                    id
                }
                old => {
                    if let Some(id) = old {
                        self.remove_pool(id);
                    }
                    let id = self.add_pool(pc);
                    fresh.push(id);
                    id
                }
            };
            order.push(id);
        }
        for id in self.pool_order.clone() {
            if !order.contains(&id) {
                self.remove_pool(id);
            }
        }
        self.pool_order = order;
        self.max_clients = max_clients(self.pools.iter().map(|(_, p)| p));
        self.relayout();
        let mut result = Ok(());
        if self.started {
            for id in fresh {
                if let Err(e) = listener::bind(self, id) {
                    result = result.and(Err(e));
                }
            }
        }
        result
    }

    /// The pool called `name`, if any.
    pub fn pool_named(&self, name: &str) -> Option<PoolId> {
        self.pool_order
            .iter()
            .copied()
            .find(|&p| self.pools[p].conf.name == name)
    }

    /// Adds a pool (after the others in stats order). Nothing is bound:
    /// `listener::bind` does that once the proxy runs. A pool with
    /// sentinels added to a running proxy connects to them at once.
    pub fn add_pool(&mut self, conf: PoolConf) -> PoolId {
        let id = self.pools.insert_with(|id| ServerPool::new(id, conf));
        self.pool_order.push(id);
        self.relayout();
        if self.started {
            sentinel::restart(self, id);
        }
        id
    }

    /// Removes a pool: its listener, clients and server connections close
    /// first (`Close::Reconfigured`). False when `p` is stale.
    pub fn remove_pool(&mut self, p: PoolId) -> bool {
        if !self.pools.contains(p) {
            return false;
        }
        let listeners: Vec<_> = self.listeners_of(p);
        for l in listeners {
            listener::close(self, l);
        }
        sentinel::stop(self, p);
        let clients: Vec<_> = self
            .clients
            .iter()
            .filter(|(_, c)| c.pool == p)
            .map(|(k, c)| ClientId {
                idx: k as u32,
                gen: c.gen,
            })
            .collect();
        for c in clients {
            self.close_later(ConnRef::Client(c), Close::Reconfigured);
        }
        let conns: Vec<ServerConnId> = self.pools[p]
            .servers
            .iter()
            .flat_map(|(_, s)| s.open_conns())
            .collect();
        self.close_now(&conns, Close::Reconfigured);
        self.pools.remove(p);
        self.pool_order.retain(|&x| x != p);
        self.relayout();
        true
    }

    /// Adds a server to pool `p`; no other id changes.
    pub fn add_server(&mut self, p: PoolId, conf: ServerConf) -> Option<ServerId> {
        let s = self.pools.get_mut(p)?.add_server(conf);
        self.relayout();
        Some(s)
    }

    /// Removes a server from pool `p`, closing its connections first
    /// (`Close::Reconfigured`; their requests fail). False when stale.
    pub fn remove_server(&mut self, p: PoolId, s: ServerId) -> bool {
        let Some(conns) = self.conns_of(p, s) else {
            return false;
        };
        self.close_now(&conns, Close::Reconfigured);
        self.pools[p].remove_server(s);
        self.relayout();
        true
    }

    /// Replaces a server of pool `p` by another (a new id), closing the old
    /// one's connections first.
    pub fn replace_server(&mut self, p: PoolId, s: ServerId, conf: ServerConf) -> Option<ServerId> {
        let conns = self.conns_of(p, s)?;
        self.close_now(&conns, Close::Reconfigured);
        let (id, _) = self.pools[p].replace_server(s, conf)?;
        self.relayout();
        Some(id)
    }

    /// Points server `s` of pool `p` at `addr` (Sentinel: `MasterMoved`;
    /// reload: `Reconfigured`); its open connections close with `why`
    /// after this batch and new ones go to the new address.
    pub fn set_server_addr(
        &mut self,
        p: PoolId,
        s: ServerId,
        addr: ServerAddr,
        why: Close,
    ) -> bool {
        if !self.pools.get_mut(p).is_some_and(|x| x.set_addr(s, addr)) {
            return false;
        }
        self.retire_conns(p, s, why);
        true
    }

    /// Closes the connections of server `s` after this batch and takes
    /// them off the server at once, so no request that follows is queued
    /// on one of them: the next opens a connection to the current address.
    fn retire_conns(&mut self, p: PoolId, s: ServerId, why: Close) {
        let Some(srv) = self.pools.get_mut(p).and_then(|x| x.servers.get_mut(s)) else {
            return;
        };
        let dedicated = std::mem::take(&mut srv.dedicated);
        let (c2, c3) = (
            std::mem::take(&mut srv.conns),
            std::mem::take(&mut srv.conns3),
        );
        for c in c2.into_iter().chain(c3).flatten() {
            self.close_later(ConnRef::Server(c), why);
        }
        for c in dedicated {
            self.close_later(ConnRef::Server(c), why);
        }
    }

    /// Hands the current pools and servers to the metrics (and, with the
    /// next hand-off, to the stats thread).
    pub fn relayout(&mut self) {
        let layout = self.stats_layout();
        self.metrics.set_layout(&layout);
    }

    /// Takes a new configuration of pool `id` in place.
    fn reconfigure_pool(&mut self, id: PoolId, pc: PoolConf) {
        let gone: Vec<ServerId> = self.pools[id]
            .order
            .iter()
            .copied()
            .filter(|&s| {
                !pc.servers
                    .iter()
                    .any(|w| w.name == self.pools[id].servers[s].name)
            })
            .collect();
        let conns: Vec<ServerConnId> = gone
            .iter()
            .filter_map(|&s| self.conns_of(id, s))
            .flatten()
            .collect();
        self.close_now(&conns, Close::Reconfigured);
        let applied = self.pools[id].apply(pc);
        for s in applied.retired {
            self.pools[id].free_server(s); // its connections closed above
        }
        for s in applied.readdressed {
            self.retire_conns(id, s, Close::Reconfigured);
        }
        if applied.sentinels_changed && self.started {
            sentinel::restart(self, id);
        }
        self.relayout();
    }

    fn conns_of(&self, p: PoolId, s: ServerId) -> Option<Vec<ServerConnId>> {
        Some(self.pools.get(p)?.servers.get(s)?.open_conns().collect())
    }

    fn listeners_of(&self, p: PoolId) -> Vec<ListenerId> {
        self.listeners
            .iter()
            .filter(|(_, l)| l.pool == p)
            .map(|(k, l)| ListenerId {
                idx: k as u32,
                gen: l.gen,
            })
            .collect()
    }

    /// Closes server connections (and whatever else is queued to close)
    /// at once, so their pool or server can go.
    fn close_now(&mut self, conns: &[ServerConnId], why: Close) {
        for &c in conns {
            self.close_later(ConnRef::Server(c), why);
        }
        self.reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::CoreOpts;
    use std::time::Duration;

    fn conf(pools: &[(&str, u16, &[&str])]) -> Conf {
        let mut yaml = String::new();
        for (name, port, servers) in pools {
            yaml.push_str(&format!(
                "{name}:\n  listen: 127.0.0.1:{port}\n  redis: true\n  servers:\n"
            ));
            for s in *servers {
                yaml.push_str(&format!("   - {s}\n"));
            }
        }
        crate::conf::parse(&yaml, "t.yml").unwrap()
    }

    fn core(c: Conf) -> Core {
        let opts = CoreOpts {
            mbuf_size: 16384,
            stats_interval: Duration::from_secs(1),
            batch_wait: Duration::ZERO,
        };
        Core::new(c, opts, None).unwrap()
    }

    fn names(core: &Core, p: PoolId) -> Vec<(ServerId, String)> {
        let pool = &core.pools[p];
        pool.order
            .iter()
            .map(|&s| (s, pool.servers[s].name.clone()))
            .collect()
    }

    #[test]
    fn apply_keeps_ids_of_what_stays() {
        let mut core = core(conf(&[
            ("a", 1, &["127.0.0.1:7001:1 s1", "127.0.0.1:7002:1 s22"]),
            ("b", 2, &["127.0.0.1:7003:1 t"]),
        ]));
        let (a, b) = (core.pool_order[0], core.pool_order[1]);
        let before = names(&core, a);
        core.apply(conf(&[
            ("c", 3, &["127.0.0.1:7005:1 u"]),
            (
                "a",
                1,
                &[
                    "127.0.0.1:7002:1 s22",
                    "127.0.0.1:7009:1 s333",
                    "127.0.0.1:7001:1 s1",
                ],
            ),
        ]))
        .unwrap();
        assert!(!core.pools.contains(b), "b removed");
        let c = core.pool_named("c").unwrap();
        // conf sorts pools (length-first listen) and servers (length-first name)
        assert_eq!(core.pool_order.len(), 2);
        assert!(core.pool_order.contains(&a) && core.pool_order.contains(&c));
        let after = names(&core, a);
        assert_eq!(&after[..2], &before[..], "s1 and s22 keep their ids");
        assert_eq!(after[2].1, "s333");
        let layout = core.stats_layout();
        let la = layout.iter().find(|l| l.id == a).unwrap();
        assert_eq!(la.servers, after);
        assert!(layout.iter().all(|l| l.id != b));
    }

    #[test]
    fn apply_spreads_keys_over_a_new_server() {
        let mut core = core(conf(&[("a", 1, &["127.0.0.1:7001:1 s0"])]));
        let a = core.pool_order[0];
        core.apply(conf(&[(
            "a",
            1,
            &["127.0.0.1:7001:1 s0", "127.0.0.1:7002:1 s1"],
        )]))
        .unwrap();
        let s1 = core.pools[a].order[1];
        let now = core.now;
        let hits = (0..1000)
            .filter(|i| core.pools[a].route(format!("key:{i}").as_bytes(), now) == Some(s1))
            .count();
        assert!((300..700).contains(&hits), "{hits}");
    }

    #[test]
    fn apply_replaces_a_pool_whose_protocol_changes() {
        let mut core = core(conf(&[("a", 1, &["127.0.0.1:7001:1"])]));
        let a = core.pool_order[0];
        let mut next = conf(&[("a", 1, &["127.0.0.1:7001:1"])]);
        next.pools[0].redis = false;
        core.apply(next).unwrap();
        let a2 = core.pool_named("a").unwrap();
        assert_ne!(a, a2);
        assert!(!core.pools.contains(a));
    }

    #[test]
    fn building_blocks_keep_other_ids() {
        let mut core = core(conf(&[
            ("a", 1, &["127.0.0.1:7001:1 s1", "127.0.0.1:7002:1 s2"]),
            ("b", 2, &["127.0.0.1:7003:1 t"]),
        ]));
        let (a, b) = (core.pool_order[0], core.pool_order[1]);
        let [s1, s2] = [core.pools[a].order[0], core.pools[a].order[1]];
        let server = |name: &str, port: u16| ServerConf {
            name: name.into(),
            pname: format!("127.0.0.1:{port}:1"),
            addr: ServerAddr::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            weight: 1,
            naming: crate::conf::Naming::Given,
        };
        let s0 = core.add_server(a, server("s0", 7000)).unwrap();
        assert_eq!(core.pools[a].order, vec![s0, s1, s2], "length-first place");
        let long = core.add_server(a, server("s100", 7100)).unwrap();
        assert_eq!(core.pools[a].order, vec![s0, s1, s2, long]);
        assert!(core.remove_server(a, s1));
        assert!(!core.remove_server(a, s1), "stale");
        assert_eq!(core.pools[a].order, vec![s0, s2, long]);
        let s3 = core.replace_server(a, s2, server("s3", 7003)).unwrap();
        assert_ne!(s3, s2);
        assert_eq!(core.pools[a].order, vec![s0, s3, long]);
        let moved = ServerAddr::Tcp {
            host: "127.0.0.1".into(),
            port: 7777,
        };
        assert!(core.set_server_addr(a, s0, moved.clone(), Close::MasterMoved));
        assert_eq!(core.pools[a].servers[s0].addr, moved);
        // the router follows: every key goes to a server of the pool
        for k in 0..50 {
            let s = core.pools[a].route(format!("k{k}").as_bytes(), core.now);
            assert!(s.is_some_and(|s| core.pools[a].order.contains(&s)));
        }
        let c = core.add_pool(conf(&[("c", 3, &["127.0.0.1:7005:1"])]).pools.remove(0));
        assert_eq!(core.pool_order, vec![a, b, c]);
        assert!(core.remove_pool(b));
        assert!(!core.remove_pool(b), "stale");
        assert_eq!(core.pool_order, vec![a, c]);
        let names: Vec<_> = core.stats_layout().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(core.metrics.layout.pools.len(), 2);
    }
}
