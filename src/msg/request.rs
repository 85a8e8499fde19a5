//! Requests (twemproxy: nc_request.c).
//!
//! `req_recv_done` decides what happens to each complete request: answered
//! locally (PING, AUTH, QUIT, rejected commands), fragmented over servers
//! (MGET, DEL, get k1 k2 ...) or forwarded whole to the server of its key.
//!
//! # Invariants
//! - a request enters the client's `omsg_q` in parse order, before it is
//!   forwarded, so replies keep request order (§CONN.7);
//! - a parent's `frag` lists every child before any child is forwarded, so
//!   coalescing never starts early.

use crate::conn::server;
use crate::conn::Errno;
use crate::core::Core;
use crate::msg::done::{reply_local, req_fail};
use crate::msg::fragment::{build_fragment, groups};
use crate::msg::{Expect, Frag, Owner, ReqError, State};
use crate::proto::{memcache, redis, span_bytes, Cmd, Proto, Reject};
use crate::token::{ClientId, ConnRef, MsgId, PoolId, ServerId};
use bytes::Bytes;

/// What to do with a parsed request.
enum Action {
    Forward,
    Fragment,
    Local(Bytes),
    Quit(Option<Bytes>),
    Drop, // no reply: an empty request (`*0`), or a rejected memcache noreply
}

/// A request is complete (twemproxy: req_recv_done + req_filter).
pub fn req_recv_done(core: &mut Core, cid: ClientId, mid: MsgId) {
    let Some(c) = core.client(cid) else {
        core.msgs.free(mid);
        return;
    };
    let (p, client_auth) = (c.pool, c.authed);
    // Read at every request: a reload may set, change or drop the password.
    let pool = &core.pools[p];
    let authed = pool.conf.redis_auth.is_none() || client_auth == Some(pool.auth_epoch);
    let action = match core.pools[p].proto {
        Proto::Redis => redis_filter(core, cid, mid, p, authed),
        Proto::Memcache => memcache_filter(core, mid),
    };
    let stamp = core.ls.stamp();
    if let Some(m) = core.msgs.get_mut(mid) {
        m.owner = Owner::Client(cid);
        m.pool = p;
        m.stamp = stamp;
    }
    match action {
        Action::Forward => req_forward(core, cid, mid, p),
        Action::Fragment => req_fragment(core, cid, mid, p),
        Action::Local(b) => reply_local(core, cid, mid, b),
        Action::Drop => core.msgs.free(mid),
        Action::Quit(reply) => {
            if let Some(c) = core.client(cid) {
                c.eof = true;
            }
            match reply {
                Some(b) => {
                    if let Some(m) = core.msgs.get_mut(mid) {
                        m.quit = true;
                    }
                    reply_local(core, cid, mid, b)
                }
                None => {
                    core.msgs.free(mid);
                    let drained = core.client(cid).is_some_and(|c| c.omsg_q.is_empty());
                    if drained {
                        core.close_later(ConnRef::Client(cid), crate::conn::Close::Eof);
                    }
                }
            }
        }
    }
}

fn redis_filter(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId, authed: bool) -> Action {
    let Some(m) = core.msgs.get(mid) else {
        return Action::Quit(None);
    };
    let meta = &m.meta;
    if meta.narg == 0 {
        return Action::Drop;
    }
    let mut scratch = Vec::new();
    let reject = match (meta.reject, meta.cmd) {
        (Some(r), _) => Some(r),
        (None, Cmd::Redis(_)) => None,
        (None, _) => Some(Reject::UnknownCommand),
    };
    if let Some(r) = reject {
        let name = span_bytes(&m.data, meta.name, &mut scratch);
        return Action::Local(Bytes::from(redis_reject(r, name)));
    }
    let Cmd::Redis(cmd) = meta.cmd else {
        return Action::Drop;
    };
    match cmd {
        redis::Cmd::Quit => return Action::Quit(Some(Bytes::from_static(redis::reply::OK))),
        redis::Cmd::Auth => {
            let pw = meta
                .keys
                .first()
                .map(|k| span_bytes(&m.data, *k, &mut scratch).to_vec());
            let want = core.pools[p].conf.redis_auth.clone();
            let epoch = core.pools[p].auth_epoch;
            let (ok, reply): (bool, &'static [u8]) = match (want, pw) {
                (None, _) => (true, redis::reply::NO_PASSWORD),
                (Some(w), Some(pw)) if w.as_bytes() == pw.as_slice() => (true, redis::reply::OK),
                _ => (false, redis::reply::INVALID_PASSWORD),
            };
            if let Some(c) = core.client(cid) {
                c.authed = ok.then_some(epoch);
            }
            return Action::Local(Bytes::from_static(reply));
        }
        _ => {}
    }
    if !authed {
        return Action::Local(Bytes::from_static(redis::reply::NOAUTH));
    }
    match cmd {
        redis::Cmd::Ping => match meta.keys.first().or(meta.vals.first()) {
            None => Action::Local(Bytes::from_static(redis::reply::PONG)),
            Some(k) => {
                let arg = span_bytes(&m.data, *k, &mut scratch);
                let mut out = Vec::with_capacity(arg.len() + 16);
                redis::reply::ping_msg(arg, &mut out);
                Action::Local(Bytes::from(out))
            }
        },
        _ if cmd.fragmented() && meta.keys.len() >= 2 => Action::Fragment,
        _ => Action::Forward,
    }
}

fn redis_reject(r: Reject, name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match r {
        Reject::UnknownCommand => redis::reply::err_unsupported(name, &mut out),
        Reject::WrongArity => redis::reply::err_arity(name, &mut out),
        Reject::BadKey | Reject::BadFormat => {
            redis::reply::err_protocol("invalid argument", &mut out)
        }
        Reject::TooLarge => redis::reply::err_protocol("request too large", &mut out),
    }
    out
}

fn memcache_filter(core: &mut Core, mid: MsgId) -> Action {
    let Some(m) = core.msgs.get(mid) else {
        return Action::Quit(None);
    };
    if let Some(r) = m.meta.reject {
        // memcached reads noreply before it checks the fields: silence,
        // unless the token count was wrong (then it never saw noreply)
        if m.meta.noreply && r != Reject::WrongArity && r != Reject::UnknownCommand {
            return Action::Drop;
        }
        return Action::Local(Bytes::from_static(memcache::reply::reject_reply(r)));
    }
    match m.meta.cmd {
        Cmd::Memcache(memcache::Cmd::Quit) => Action::Quit(None),
        Cmd::Memcache(c) if c.fragmented() && m.meta.keys.len() >= 2 => Action::Fragment,
        _ => Action::Forward,
    }
}

/// Forwards a request whole to the server of its first key (twemproxy:
/// req_forward).
fn req_forward(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId) {
    let route = {
        let Core {
            msgs,
            pools,
            scratch,
            now,
            ..
        } = core;
        let Some(m) = msgs.get(mid) else { return };
        let key: &[u8] = match m.meta.keys.first() {
            Some(&k) => span_bytes(&m.data, k, scratch),
            None => b"placeholder",
        };
        pools[p].route(key, *now)
    };
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    m.expect = if m.meta.noreply {
        Expect::None
    } else {
        Expect::One
    };
    if m.expect != Expect::None {
        if let Some(c) = core.client(cid) {
            c.omsg_q.push_back(mid);
        }
    }
    let route = route.ok_or(ReqError::NoServer);
    if let Err(e) = route.and_then(|s| req_enqueue(core, p, s, mid)) {
        req_fail(core, mid, e);
    }
}

/// Queues a request on a connection of server `s` of pool `p`.
pub fn req_enqueue(core: &mut Core, p: PoolId, s: ServerId, mid: MsgId) -> Result<(), ReqError> {
    let sid = server::conn_for(core, p, s).map_err(ReqError::Connect)?;
    let Some(conn) = core.server(sid) else {
        return Err(ReqError::Connect(Errno(libc::ECONNREFUSED)));
    };
    let idle = conn.imsg_q.is_empty() && conn.omsg_q.is_empty();
    conn.imsg_q.push_back(mid);
    let Some(m) = core.msgs.get_mut(mid) else {
        return Ok(());
    };
    debug_assert_eq!(m.state, State::New, "a request is queued once");
    m.state = State::Queued;
    m.server = Some((s, sid));
    let len = i64::from(m.mlen);
    let sm = core.metrics.server(p, s);
    sm.requests += 1;
    sm.request_bytes += len;
    sm.in_queue += 1;
    sm.in_queue_bytes += len;
    if idle {
        // Nothing in flight there: wake the backend now, not after the
        // rest of the batch is read.
        core.want_send_now(ConnRef::Server(sid));
    } else {
        core.want_send(ConnRef::Server(sid));
    }
    Ok(())
}

/// Where a key of a fragmented request goes; keys no server takes sort
/// last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Server(ServerId),
    NoServer, // every server of the pool is ejected
}

/// Splits a multi-key request into one child per server (twemproxy:
/// redis_fragment / memcache_fragment), in increasing server id order.
fn req_fragment(core: &mut Core, cid: ClientId, mid: MsgId, p: PoolId) {
    // Route every key, group them (`fragment::groups`), then build each
    // server's sub-request.
    let mut targets: Vec<(Target, Vec<u8>, u32)> = Vec::new();
    let mut key_child: Vec<u16> = Vec::new();
    {
        let Core {
            msgs, pools, now, ..
        } = core;
        let Some(m) = msgs.get(mid) else { return };
        let mut scratch = Vec::new();
        let mut key_srv: Vec<Target> = Vec::with_capacity(m.meta.keys.len());
        for &k in &m.meta.keys {
            let key = span_bytes(&m.data, k, &mut scratch);
            key_srv.push(
                pools[p]
                    .route(key, *now)
                    .map_or(Target::NoServer, Target::Server),
            );
        }
        let mut order = Vec::new();
        groups(&key_srv, &mut order, &mut key_child);
        for (i, t) in order.into_iter().enumerate() {
            let idx: Vec<usize> = (0..key_child.len())
                .filter(|&k| usize::from(key_child[k]) == i)
                .collect();
            let buf = build_fragment(m, &idx, &mut scratch);
            targets.push((t, buf, idx.len() as u32));
        }
    }
    // Create every child before forwarding any.
    let mut children = Vec::with_capacity(targets.len());
    for (_, buf, nkeys) in &mut targets {
        let c = core.msgs.alloc(Owner::Child(mid));
        if let Some(ch) = core.msgs.get_mut(c) {
            ch.pool = p;
            ch.mlen = buf.len() as u32;
            ch.meta.narg = *nkeys;
            ch.data.push(Bytes::from(std::mem::take(buf)));
        }
        children.push(c);
    }
    let nchild = children.len();
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    let f = m.frag.get_or_insert_with(Box::<Frag>::default);
    f.children.clear();
    f.children.extend_from_slice(&children);
    f.key_child = key_child;
    f.ndone = 0;
    m.owner = Owner::Parent(cid);
    if let Some(c) = core.client(cid) {
        c.omsg_q.push_back(mid);
    }
    core.metrics.pool(p).fragments += nchild as i64;
    for (i, (t, _, _)) in targets.into_iter().enumerate() {
        let child = children[i];
        let r = match t {
            Target::Server(s) => req_enqueue(core, p, s, child),
            Target::NoServer => Err(ReqError::NoServer),
        };
        if let Err(e) = r {
            req_fail(core, child, e);
        }
    }
}
