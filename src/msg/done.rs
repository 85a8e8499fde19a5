//! The life cycle of a message once it is answered or fails (twemproxy:
//! the tail of rsp_forward, req_error and msg_put).
//!
//! `req_done` routes a completed request: to its client, to its fragmented
//! parent (`child_done`, which coalesces once every child is in), to the
//! probe and setup bookkeeping of internal requests, or to the free list
//! when nobody waits for it. `request` and `response` both end here, and
//! this module imports neither.
//!
//! # Invariants
//! - `req_done` runs exactly once per request, after its state became
//!   `Done`;
//! - a parent coalesces only when every child is done, then frees them;
//! - a message is freed only when it is on no queue: not a server's
//!   (`State::on_server`), not its client's (owner `Swallowed`, no reply
//!   expected, or just written).

use crate::conn::Close;
use crate::core::Core;
use crate::msg::coalesce::coalesce;
use crate::msg::{Expect, Owner, ReqError, State};
use crate::proto::{memcache, RspKind};
use crate::token::{ClientId, ConnRef, MsgId, PoolId, ServerId};
use bytes::Bytes;

/// Completes a request with a local reply, in its place in the client's
/// reply order.
pub fn reply_local(core: &mut Core, cid: ClientId, mid: MsgId, reply: Bytes) {
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    m.rsp.push(reply);
    m.state = State::Done;
    m.owner = Owner::Client(cid);
    let Some(c) = core.client(cid) else {
        core.msgs.free(mid);
        return;
    };
    c.omsg_q.push_back(mid);
    core.want_send(ConnRef::Client(cid));
}

/// A request failed before it got a reply: complete it with `err`.
pub fn req_fail(core: &mut Core, mid: MsgId, err: ReqError) {
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    debug_assert!(
        !m.state.on_server(),
        "failing a request a server queue holds"
    );
    m.err = Some(err);
    m.state = State::Done;
    req_done(core, mid);
}

/// A request is complete: reply, error or fragment (twemproxy: the tail of
/// rsp_forward and req_error handling).
pub fn req_done(core: &mut Core, mid: MsgId) {
    let Some(m) = core.msgs.get_mut(mid) else {
        return;
    };
    debug_assert_eq!(m.state, State::Done);
    let cid = match m.owner {
        Owner::Probe => match (m.pool, m.server) {
            // the probe's connection failed before a reply came
            (p, Some((s, _))) => return probe_done(core, mid, p, s, false),
            (_, None) => return core.msgs.free(mid),
        },
        Owner::Setup => return core.msgs.free(mid),
        Owner::Child(parent) => return child_done(core, parent),
        Owner::Swallowed => return free_tree(core, mid),
        Owner::Client(_) | Owner::Parent(_) if m.expect == Expect::None => {
            return core.msgs.free(mid);
        }
        Owner::Client(c) | Owner::Parent(c) => c,
    };
    let p = m.pool;
    if let Some(e) = m.err {
        let proto = core.pools[p].proto;
        m.rsp.clear();
        m.rsp.push(e.reply(proto));
        core.metrics.pool(p).forward_error += 1;
    } else if memcache::meta::suppressed(&m.meta, m.rsp_meta.kind) {
        m.rsp.clear(); // meta `q`: memcached would not have sent it
    }
    core.want_send(ConnRef::Client(cid));
}

/// One fragment finished; the last one coalesces the parent's reply.
fn child_done(core: &mut Core, parent: MsgId) {
    let Some(pm) = core.msgs.get_mut(parent) else {
        return;
    };
    let Some(f) = pm.frag.as_mut() else { return };
    f.ndone += 1;
    if (f.ndone as usize) < f.children.len() {
        return;
    }
    let Some(cid) = pm.owner.client() else {
        return free_tree(core, parent); // swallowed: nobody reads the reply
    };
    let p = pm.pool;
    let proto = core.pools[p].proto;
    let failed = coalesce(&mut core.msgs, parent, proto, &mut core.frag.out);
    if failed {
        core.metrics.pool(p).forward_error += 1;
    }
    // The children's bytes now live on in the parent's reply (shared).
    free_children(core, parent);
    let stamp = core.ls.stamp();
    if let Some(pm) = core.msgs.get_mut(parent) {
        pm.state = State::Done;
        pm.stamp = stamp;
        core.want_send(ConnRef::Client(cid));
    }
}

/// The proxy's own request (AUTH, SELECT, probe) got its reply.
pub fn internal_done(core: &mut Core, mid: MsgId, p: PoolId, s: ServerId) {
    if let Some(m) = core.msgs.get(mid) {
        let is_err = matches!(
            m.rsp_meta.kind,
            RspKind::Error | RspKind::McError | RspKind::ServerError
        );
        if m.owner == Owner::Probe {
            // Only PONG / VERSION is proper; an error reply (-LOADING,
            // -NOAUTH, ...) means not ready yet.
            let proper =
                m.err.is_none() && matches!(m.rsp_meta.kind, RspKind::Status | RspKind::Version);
            probe_done(core, mid, p, s, proper);
            return;
        }
        if is_err || m.err.is_some() {
            let mut txt = Vec::new();
            for b in &m.rsp {
                txt.extend_from_slice(b);
            }
            let t = String::from_utf8_lossy(&txt);
            log::warn!(
                "setup command failed on {} | {}: {}",
                core.pools[p].conf.name,
                core.pools[p].servers[s].name,
                t.trim_start_matches('-').trim_end()
            );
        }
    }
    core.msgs.free(mid);
}

/// A probe of an ejected server ended (`server_probe: true`): a proper
/// reply re-admits the server and its connection stays for traffic; any
/// other outcome keeps it ejected for another retry period, and the
/// connection goes (it is already closing when the probe failed with it).
fn probe_done(core: &mut Core, mid: MsgId, p: PoolId, s: ServerId, proper: bool) {
    let sid = core.msgs.get(mid).and_then(|m| m.server.map(|x| x.1));
    core.msgs.free(mid);
    let Some(srv) = core.pools.get(p).and_then(|x| x.servers.get(s)) else {
        return; // the server left its pool (reload) while probing
    };
    if !srv.probing {
        return; // Sentinel moved it meanwhile: it starts afresh, the probe no longer counts
    }
    let name = &srv.pname;
    if proper {
        log::warn!("server '{name}' answered its probe: re-admitted");
        core.pools[p].probe_ok(s);
        return;
    }
    log::warn!("server '{name}' failed its probe: still ejected");
    let now = core.now;
    core.pools[p].probe_failed(s, now);
    if let Some(sid) = sid {
        core.close_later(ConnRef::Server(sid), Close::BadReply);
    }
}

/// Frees a request and, for a parent, its children.
pub fn free_tree(core: &mut Core, mid: MsgId) {
    free_children(core, mid);
    core.msgs.free(mid);
}

/// Frees the children of a parent, keeping the vector's capacity.
fn free_children(core: &mut Core, parent: MsgId) {
    let Some(f) = core.msgs.get_mut(parent).and_then(|m| m.frag.as_mut()) else {
        return;
    };
    let mut ch = std::mem::take(&mut f.children);
    for c in ch.drain(..) {
        core.msgs.free(c);
    }
    if let Some(f) = core.msgs.get_mut(parent).and_then(|m| m.frag.as_mut()) {
        f.children = ch;
    }
}
