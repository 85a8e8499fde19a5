//! Responses (twemproxy: nc_response.c).
//!
//! A parsed backend response is paired with the request at the head of its
//! connection's `omsg_q` (`rsp_recv_done`); `done` then routes the
//! completed request (`req_done`, or `internal_done` for the proxy's own).
//!
//! # Invariants
//! - the head of a connection's `omsg_q` is `Sent`, and the response
//!   completes it: responses come in request order (§CONN.7).

use crate::conn::server::Lease;
use crate::conn::Close;
use crate::core::{Core, Traffic};
use crate::msg::done::{internal_done, req_done};
use crate::msg::{Owner, ReqError, State};
use crate::proto::RspKind;
use crate::token::{ConnRef, ServerConnId};

/// A complete response arrived on a server connection; `rdata`/`rmeta` of
/// the connection hold it (twemproxy: rsp_recv_done + rsp_filter +
/// rsp_forward).
pub fn rsp_recv_done(core: &mut Core, sid: ServerConnId) {
    let now = core.now;
    let Core {
        servers, msgs, ls, ..
    } = core;
    let Some(conn) = servers
        .get_mut(sid.idx as usize)
        .filter(|c| c.gen == sid.gen)
    else {
        return;
    };
    let (p, s) = (conn.pool, conn.server);
    let Some(mid) = conn.omsg_q.pop_front() else {
        if let Lease::Subscriber(cid) = conn.lease {
            return crate::conn::pubsub::on_push(core, sid, cid);
        }
        // Stray response: nobody asked (§REDIS.8, §MEMCACHE.6).
        conn.rdata.clear();
        core.close_later(ConnRef::Server(sid), Close::BadReply);
        return;
    };
    let rlen: usize = conn.rdata.iter().map(|b| b.len()).sum();
    let failure = conn.rmeta.kind == RspKind::Failure;
    let Some(m) = msgs.get_mut(mid) else {
        conn.rdata.clear();
        return;
    };
    debug_assert_eq!(m.state, State::Sent, "the head of omsg_q awaits its reply");
    debug_assert_eq!(
        m.server.map(|x| x.1),
        Some(sid),
        "queued on this connection"
    );
    m.deadline = None;
    let mlen = i64::from(m.mlen);
    let sent_us = m.sent_us;
    let counted = matches!(
        m.owner,
        Owner::Client(_) | Owner::Parent(_) | Owner::Child(_)
    );
    if failure {
        conn.rdata.clear();
        m.err = Some(ReqError::BadReply);
    } else {
        std::mem::swap(&mut m.rsp, &mut conn.rdata);
        std::mem::swap(&mut m.rsp_meta, &mut conn.rmeta);
    }
    m.state = State::Done;
    m.stamp = ls.stamp();
    let internal = m.owner.internal();
    let owner = m.owner;
    let metrics = &mut core.metrics;
    let reply = (counted && !failure).then(|| {
        let us = metrics.micros(now);
        (rlen as i64, sent_us.map(|t| us.saturating_sub(t)))
    });
    metrics.response(p, s, mlen, reply);
    if failure {
        core.close_later(ConnRef::Server(sid), Close::BadReply);
    } else if counted {
        core.pools[p].success(s);
    }
    if internal {
        internal_done(core, mid, p, s);
        return;
    }
    req_done(core, mid);
    reply_now(core, owner);
}

/// Under unpipelined traffic, writes the reply of the client that `owner`
/// (a request's, or a fragment's parent's) names as soon as it is
/// complete when it is the only one the client waits for, instead of at
/// the end of the loop iteration (`Core::flush`): a batch of replies from
/// one server read then goes out while the rest of the batch is still
/// being read, and each waits for the writes of the replies before it
/// only (issue 18: from a reply readable to its client write took 108 us
/// on average at 50 clients, 69-82 us with this; the whole iteration's
/// replies queued behind each other). A client with more replies coming
/// keeps the batched write.
fn reply_now(core: &mut Core, owner: Owner) {
    if core.traffic != Traffic::Unpipelined {
        return;
    }
    let cid = match owner {
        Owner::Child(parent) => core.msgs.get(parent).and_then(|pm| pm.owner.client()),
        o => o.client(),
    };
    let Some(cid) = cid else { return };
    let Core { clients, msgs, .. } = core;
    let ready = clients
        .get(cid.idx as usize)
        .filter(|c| c.gen == cid.gen && c.pending_send && !c.blocked && c.omsg_q.len() == 1)
        .and_then(|c| c.omsg_q.front())
        .and_then(|m| msgs.get(*m))
        .is_some_and(|m| m.state == State::Done);
    if ready {
        crate::conn::client::send(core, cid);
    }
}
