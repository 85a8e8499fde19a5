//! Applying a reload to the running core (see `crate::reload`).
//!
//! Runs between two loop iterations, after every check passed, so nothing
//! here can fail half-way. Pools keep their `PoolId` and servers their
//! `ServerId` as long as their name stays (with their connections and, at
//! the same address, their ejection state); `ServerPool::apply` rebuilds what the pool derives
//! from its configuration. What cannot stop at once is left to [`Draining`]:
//!
//! ```text
//!   removed pool ──> listeners closed, clients stop reading ─┐
//!   removed or re-addressed server ──> out of routing        ├─> sweep(): close what is idle,
//!   connection over server_connections, or of an old auth ──┘   free what has nothing left
//! ```
//!
//! # Invariants
//! - a connection in `Draining::conns` is in no `Server::conns`: nothing
//!   routes a new request to it;
//! - a pool in `Draining::pools` is in no `Core::pool_order`, a server in
//!   `Draining::servers` in no `ServerPool::order`; each stays in its
//!   `Slots` until no connection or client refers to it.

use super::{Plan, PoolDiff};
use crate::conf::PoolConf;
use crate::conn::listener::{self, ListenSock};
use crate::conn::{client, sentinel, Close};
use crate::core::{self, Core};
use crate::token::{ClientId, ConnRef, Id, ListenerId, PoolId, ServerConnId, ServerId};
use slab::Slab;

/// What a reload left to finish (`Core::draining`).
#[derive(Debug, Default)]
pub struct Draining {
    conns: Vec<ServerConnId>, // no new requests; closed once both queues are empty
    servers: Vec<(PoolId, ServerId)>, // out of routing; freed once no connection is theirs
    pools: Vec<PoolId>,       // out of pool_order; freed once no client or connection is theirs
}

impl Draining {
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty() && self.servers.is_empty() && self.pools.is_empty()
    }
}

/// Applies a checked plan: removed pools first (their addresses are not
/// reused in the same reload), then kept pools, then added ones.
pub(super) fn apply(core: &mut Core, plan: Plan) {
    let Plan {
        new,
        diff,
        mut socks,
    } = plan;
    debug_assert!(socks.len() == diff.added.len() + diff.moved().count());
    let order: Vec<String> = new.pools.iter().map(|p| p.name.clone()).collect();
    for name in &diff.removed {
        if let Some(p) = find(core, name) {
            remove_pool(core, p);
        }
    }
    let mut confs = new.pools;
    for pd in &diff.kept {
        let (Some(p), Some(pc)) = (find(core, &pd.name), take_conf(&mut confs, &pd.name)) else {
            continue;
        };
        let sock = take(&mut socks, &pd.name);
        update_pool(core, p, pc, pd, sock);
    }
    for name in &diff.added {
        if let Some(pc) = take_conf(&mut confs, name) {
            let sock = take(&mut socks, name);
            add_pool(core, pc, sock);
        }
    }
    let Core {
        pool_order, pools, ..
    } = core;
    pool_order.sort_by_key(|&p| order.iter().position(|n| *n == pools[p].conf.name));
    core.max_clients = core::max_clients(core.pool_order.iter().map(|&p| &core.pools[p]));
    core.relayout();
}

/// The live pool named `name`.
fn find(core: &Core, name: &str) -> Option<PoolId> {
    core.pool_named(name)
}

fn take_conf(confs: &mut Vec<PoolConf>, name: &str) -> Option<PoolConf> {
    let i = confs.iter().position(|p| p.name == name)?;
    Some(confs.swap_remove(i))
}

/// The socket `bind_first` bound for pool `name`, if any.
fn take(socks: &mut Vec<(String, ListenSock)>, name: &str) -> Option<ListenSock> {
    let i = socks.iter().position(|(n, _)| n == name)?;
    Some(socks.swap_remove(i).1)
}

/// A new pool, listening on `sock` (bound by `bind_first`) or, when its
/// protocol changed, on the listeners of the pool it replaces.
fn add_pool(core: &mut Core, pc: PoolConf, sock: Option<ListenSock>) -> PoolId {
    let preconnect = pc.preconnect;
    let p = core.add_pool(pc);
    if let Some(sock) = sock {
        if let Err(e) = listener::add(core, p, sock) {
            log::error!("{e}");
        }
    }
    if preconnect {
        core.preconnect(p);
    }
    p
}

/// A pool out of the configuration: it stops accepting at once, its
/// clients and server connections drain, then it goes (`sweep`).
fn remove_pool(core: &mut Core, p: PoolId) {
    sentinel::stop(core, p);
    close_listeners(core, p);
    stop_clients(core, p);
    for s in std::mem::take(&mut core.pools[p].order) {
        retire_server(core, p, s);
    }
    core.pool_order.retain(|&x| x != p);
    core.draining.pools.push(p);
}

/// A kept pool takes its new configuration in place; one whose protocol
/// changed is replaced (see [`replace_pool`]).
fn update_pool(core: &mut Core, p: PoolId, pc: PoolConf, pd: &PoolDiff, sock: Option<ListenSock>) {
    if pd.proto_changed {
        return replace_pool(core, p, pc, sock);
    }
    let changed = |k: &str| pd.settings.contains(&k);
    let (backlog, preconnect) = (pc.backlog, pc.preconnect);
    let keep = if changed("redis_auth") || changed("redis_db") {
        0 // connections authenticated or SELECTed under the old values
    } else {
        pc.server_connections as usize
    };
    let applied = core.pools[p].apply(pc);
    if applied.sentinels_changed {
        sentinel::restart(core, p);
    }
    for s in applied.retired {
        retire_server(core, p, s);
    }
    for s in applied.readdressed {
        drain_conns(core, p, s, 0);
    }
    for s in core.pools[p].order.clone() {
        drain_conns(core, p, s, keep);
    }
    match sock {
        Some(sock) => {
            close_listeners(core, p);
            if let Err(e) = listener::add(core, p, sock) {
                log::error!("{e}");
            }
        }
        None if changed("backlog") => {
            for (_, l) in core.listeners.iter().filter(|(_, l)| l.pool == p) {
                if let Err(e) = listener::set_backlog(&l.sock, backlog) {
                    log::warn!("backlog of pool '{}' not changed: {e}", pd.name);
                }
            }
        }
        None => {}
    }
    if preconnect {
        core.preconnect(p);
    }
}

/// A pool whose protocol changed: its clients and servers drain like a
/// removed pool's, and a new pool (new id, counters from zero) takes over
/// its listening sockets, or the new one if its address moved too.
fn replace_pool(core: &mut Core, old: PoolId, pc: PoolConf, sock: Option<ListenSock>) {
    let moved = sock.is_some();
    let new = add_pool(core, pc, sock);
    if !moved {
        for (_, l) in core.listeners.iter_mut().filter(|(_, l)| l.pool == old) {
            l.pool = new;
        }
    }
    remove_pool(core, old);
}

/// A server out of routing: its connections finish what they have, then
/// `sweep` frees it.
fn retire_server(core: &mut Core, p: PoolId, s: ServerId) {
    drain_conns(core, p, s, 0);
    core.draining.servers.push((p, s));
}

/// Takes the connections of lanes `keep..` off server `s`: no new request
/// goes to them; they close once idle (`sweep`).
fn drain_conns(core: &mut Core, p: PoolId, s: ServerId, keep: usize) {
    let Some(srv) = core.pools[p].servers.get_mut(s) else {
        return;
    };
    // RESP2 and RESP3 (redis: clients after HELLO 3) lanes alike
    for conns in [&mut srv.conns, &mut srv.conns3] {
        if conns.len() > keep {
            let lanes = conns.split_off(keep);
            core.draining.conns.extend(lanes.into_iter().flatten());
        }
    }
}

/// Closes the pool's listening sockets: it stops accepting at once.
fn close_listeners(core: &mut Core, p: PoolId) {
    for id in ids::<_, ListenerId>(&core.listeners, |l| (l.pool == p).then_some(l.gen)) {
        listener::close(core, id);
    }
}

/// The pool's clients read nothing more: each gets the replies to the
/// requests it sent, then closes (the EOF path).
fn stop_clients(core: &mut Core, p: PoolId) {
    for id in ids::<_, ClientId>(&core.clients, |c| (c.pool == p).then_some(c.gen)) {
        client::stop_reading(core, id);
    }
}

/// The ids of the entries of `slab` for which `gen_if` gives a generation.
fn ids<T, I: Id>(slab: &Slab<T>, gen_if: impl Fn(&T) -> Option<u32>) -> Vec<I> {
    slab.iter()
        .filter_map(|(k, x)| gen_if(x).map(|gen| I::new(k as u32, gen)))
        .collect()
}

/// Closes idle draining connections and frees the servers and pools that
/// nothing refers to any more; the loop calls it after every iteration
/// while a reload has something left to finish.
pub fn sweep(core: &mut Core) {
    let mut d = std::mem::take(&mut core.draining);
    d.conns.retain(|&id| {
        let idle = match core.server(id) {
            None => return false,
            Some(c) => c.imsg_q.is_empty() && c.omsg_q.is_empty(),
        };
        if idle {
            core.close_later(ConnRef::Server(id), Close::Reconfigured);
        }
        !idle
    });
    d.servers.retain(|&(p, s)| {
        let busy = core
            .servers
            .iter()
            .any(|(_, c)| c.pool == p && c.server == s);
        if !busy {
            if let Some(pool) = core.pools.get_mut(p) {
                pool.free_server(s);
            }
        }
        busy
    });
    // Server connections are few (pools x servers x server_connections);
    // clients are counted by their pool.
    d.pools.retain(|&p| {
        let busy = core.pools.get(p).is_some_and(|x| x.nclients > 0)
            || core.servers.iter().any(|(_, c)| c.pool == p);
        if !busy {
            core.pools.remove(p);
        }
        busy
    });
    core.draining = d;
}

#[cfg(test)]
mod tests {
    use crate::core::{Core, CoreOpts};
    use std::net::TcpStream;
    use std::time::Duration;

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    fn pool(name: &str, port: u16, servers: &[&str]) -> String {
        let mut y = format!("{name}:\n  listen: 127.0.0.1:{port}\n  redis: true\n  servers:\n");
        for s in servers {
            y.push_str(&format!("   - {s}\n"));
        }
        y
    }

    fn accepts(port: u16) -> bool {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }

    /// A started core on configuration `yaml` (read from `path`).
    fn started(yaml: &str, path: &str) -> Core {
        let opts = CoreOpts {
            mbuf_size: 16384,
            stats_interval: Duration::from_secs(1),
            batch_wait: Duration::ZERO,
        };
        let mut core = Core::new(crate::conf::parse(yaml, path).unwrap(), opts, None).unwrap();
        core.start().unwrap();
        core
    }

    /// Runs the loop (at most ~2 s) until `done` holds.
    fn settle(core: &mut Core, done: impl Fn(&Core) -> bool) {
        let mut events = mio::Events::with_capacity(64);
        for _ in 0..200 {
            if done(core) {
                return;
            }
            core.step(&mut events).unwrap();
        }
    }

    /// A connection the kernel completed but the loop had not accepted yet
    /// when a reload moved its pool's listen address is accepted and
    /// served, not reset with the old socket (chaos seed
    /// 1796315865479522683: a client reset before its first reply).
    #[test]
    fn queued_connection_survives_a_listen_move() {
        let [p1, p2] = [0; 2].map(|_| free_port());
        let dir = std::env::temp_dir().join(format!("nc-queued-{}-{p1}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.yml").to_str().unwrap().to_owned();
        let a = pool("alpha", p1, &["127.0.0.1:7001:1 s1"]);
        let mut core = started(&a, &path);
        let queued = TcpStream::connect(("127.0.0.1", p1)).unwrap(); // not accepted yet
        std::fs::write(&path, pool("alpha", p2, &["127.0.0.1:7001:1 s1"])).unwrap();
        super::super::reload(&mut core, &path);
        assert_eq!(core.clients.len(), 1, "the queued connection was accepted");
        let alpha = super::find(&core, "alpha").unwrap();
        assert!(core.clients.iter().all(|(_, c)| c.pool == alpha));
        drop(queued);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Pools added, removed and moved, on a started core: ids of what stays
    /// are kept, listeners follow, a removed pool drains then goes.
    #[test]
    fn pools_come_go_and_move() {
        let [p1, p2, p3, p4] = [0; 4].map(|_| free_port());
        let dir = std::env::temp_dir().join(format!("nc-apply-{}-{p1}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.yml").to_str().unwrap().to_owned();
        let a = pool("alpha", p1, &["127.0.0.1:7001:1 s1", "127.0.0.1:7002:1 s2"])
            + &pool("beta", p2, &["127.0.0.1:7003:1 t"]);
        let mut core = started(&a, &path);
        let alpha = super::find(&core, "alpha").unwrap();
        let beta = super::find(&core, "beta").unwrap();
        let [s1, s2] = [0, 1].map(|i| core.pools[alpha].order[i]);
        assert!(accepts(p1) && accepts(p2));
        let b = pool("alpha", p3, &["127.0.0.1:7001:1 s1", "127.0.0.1:7009:1 s2"])
            + &pool("gamma", p4, &["127.0.0.1:7005:1 u"]);
        std::fs::write(&path, &b).unwrap();
        super::super::reload(&mut core, &path);
        let names: Vec<&str> = core
            .pool_order
            .iter()
            .map(|&p| core.pools[p].conf.name.as_str())
            .collect();
        assert_eq!(names, ["alpha", "gamma"]);
        assert_eq!(
            super::find(&core, "alpha"),
            Some(alpha),
            "alpha kept its id"
        );
        assert_eq!(core.pools[alpha].order[0], s1, "s1 kept its id");
        assert_eq!(core.pools[alpha].order[1], s2, "s2 re-addressed, same id");
        let moved = crate::conf::ServerAddr::Tcp {
            host: "127.0.0.1".into(),
            port: 7009,
        };
        assert_eq!(core.pools[alpha].servers[s2].addr, moved);
        assert!(!accepts(p1) && !accepts(p2), "old addresses closed");
        assert!(accepts(p3) && accepts(p4), "new addresses listening");
        assert_eq!(core.listeners.len(), 2);
        assert!(core.pools.contains(beta), "beta drains first");
        // the connections `accepts` queued were accepted before the old
        // listeners closed; beta's close (EOF) in the loop, then it goes
        settle(&mut core, |c| !c.pools.contains(beta));
        assert!(!core.pools.contains(beta), "nothing left of beta");
        assert!(core.draining.is_empty());
        // the same file again changes nothing
        super::super::reload(&mut core, &path);
        assert_eq!(core.pool_order.len(), 2);
        assert!(accepts(p3) && accepts(p4));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A pool whose protocol changes is a new pool (new id, fresh stats)
    /// on the same listening socket; the old one drains.
    #[test]
    fn protocol_change_replaces_the_pool_on_the_same_socket() {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("nc-proto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.yml").to_str().unwrap().to_owned();
        let a = pool("alpha", port, &["127.0.0.1:7001:1 s1"]);
        let mut core = started(&a, &path);
        let old = super::find(&core, "alpha").unwrap();
        let (lkey, _) = core.listeners.iter().next().unwrap();
        std::fs::write(&path, a.replace("  redis: true\n", "")).unwrap();
        super::super::reload(&mut core, &path);
        let new = super::find(&core, "alpha").unwrap();
        assert_ne!(new, old);
        assert!(!core.pools[new].conf.redis);
        assert_eq!(core.listeners.len(), 1);
        assert_eq!(core.listeners[lkey].pool, new, "same socket, new pool");
        assert!(accepts(port));
        super::sweep(&mut core);
        assert!(!core.pools.contains(old) && core.draining.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
