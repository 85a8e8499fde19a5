//! Messages (twemproxy: nc_message.c).
//!
//! A `Msg` is one client request and, once it is answered, its reply. The
//! request bytes are a chain of mbuf slices (`data`); the reply bytes
//! (`rsp`) are either the backend's response, moved over untouched, or a
//! local reply. A fragmented request (MGET, DEL, get k1 k2 ...) is a parent
//! whose children are ordinary requests sent to one server each.
//!
//! ```text
//!   client omsg_q          server conn imsg_q       server conn omsg_q
//!   (reply order)          (to be written)          (written, awaiting reply)
//!   [m1 m2 m3] ----------> [m2 m3] --req_send_done--> [m1] --rsp--> m1 Done
//!                 req_enqueue       (State::Queued)     (State::Sent)
//! ```
//!
//! Who waits for a message is its `Owner`; how far it got is its `State`;
//! how many replies its server sends is its `Expect`. The life cycle
//! (done, failed, fragment done, coalesced, freed) is in `done`; requests
//! come in through `request` and replies through `response`, which share
//! only `done`.
//!
//! # Invariants
//! - a request is in a client's `omsg_q` only while its owner is
//!   `Client` or `Parent` of that client and it expects a reply; in a
//!   server connection's `imsg_q` iff `Queued`, in its `omsg_q` iff `Sent`;
//!   it is freed when it is in no queue (and, for a parent, with its
//!   children);
//! - `State::Done` is reached exactly once, and only then is `rsp` (or
//!   `err`) final;
//! - `Msg`s are recycled: a freed one is reset in place (`Msg::reset`,
//!   every field named), its vectors keep their capacity, so a warm proxy
//!   allocates nothing per request here.

use crate::proto::{Proto, ReqMeta, RspMeta};

pub mod coalesce;
pub mod done;
pub mod fragment;
pub mod queue;
pub mod request;
pub mod response;
use crate::conn::{Close, Errno};
use crate::token::{next_gen, ClientId, MsgId, PoolId, ServerConnId, ServerId};
use bytes::Bytes;
use std::time::Instant;

/// Why a request completes without a reply from its server (§ERR.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqError {
    NoServer,       // every server of the pool is ejected
    Connect(Errno), // opening a connection to its server failed
    Closed(Close),  // its server connection closed before the reply
    BadReply,       // the server answered with a failure reply
}

impl ReqError {
    /// The errno whose text the client's error reply carries (0 = backend
    /// EOF, rendered as `unknown`).
    pub fn errno(self) -> i32 {
        match self {
            ReqError::NoServer => libc::ECONNREFUSED,
            ReqError::Connect(e) => e.0,
            ReqError::Closed(c) => c.errno(),
            ReqError::BadReply => libc::EINVAL,
        }
    }

    /// The error reply a client gets for it (§ERR.2).
    pub fn reply(self, proto: Proto) -> Bytes {
        let text = crate::sock::strerror(self.errno());
        let mut out = Vec::with_capacity(text.len() + 16);
        match proto {
            Proto::Redis => crate::proto::redis::reply::err_errno(&text, &mut out),
            Proto::Memcache => crate::proto::memcache::reply::server_error(&text, &mut out),
        }
        Bytes::from(out)
    }
}

/// Fragment bookkeeping of a parent request.
#[derive(Debug, Default)]
pub struct Frag {
    pub children: Vec<MsgId>, // one per server involved, in dispatch order
    pub key_child: Vec<u16>,  // for each key of the parent: index into `children`
    pub ndone: u32,           // children completed
}

/// Who waits for a message's outcome (twemproxy: the owner conn plus the
/// swallow flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Owner {
    Client(ClientId), // a client's request, answered whole
    Parent(ClientId), // a client's request split into fragments (`frag`)
    Child(MsgId),     // a fragment: its parent coalesces the reply
    Setup,            // the proxy's own AUTH/SELECT on a new connection
    Probe,            // a health check of an ejected server (server_probe)
    #[default]
    Swallowed, // nobody: its client left, the reply is read and dropped
}

impl Owner {
    /// The client waiting for the reply, if any.
    pub fn client(self) -> Option<ClientId> {
        match self {
            Owner::Client(c) | Owner::Parent(c) => Some(c),
            _ => None,
        }
    }

    /// The proxy's own request (no client, no stats as a request).
    pub fn internal(self) -> bool {
        matches!(self, Owner::Setup | Owner::Probe)
    }
}

/// How far a request got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    #[default]
    New, // being received, or parsed and not yet on a server
    Queued, // in a server connection's imsg_q
    Sent,   // written, in the connection's omsg_q awaiting its reply
    Done,   // the reply (or error) is final
}

impl State {
    /// On a server connection's queue.
    pub fn on_server(self) -> bool {
        matches!(self, State::Queued | State::Sent)
    }
}

/// How many replies the server sends to a request (quiet-mode memcache
/// meta commands and RESP3 push traffic add to the first two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expect {
    #[default]
    One, // exactly one reply
    None,        // no reply at all (memcache noreply)
    Conditional, // a reply only in some outcomes (quiet mode): reserved
}

/// One request and its reply.
#[derive(Debug, Default)]
pub struct Msg {
    pub gen: u32,                                 // generation (slot reuse); 0 while free
    pub id: u64,                                  // monotonically increasing, for logs
    pub owner: Owner,                             // who waits for the outcome
    pub state: State,                             // how far it got
    pub expect: Expect,                           // replies the server sends
    pub quit: bool,                               // client asked to quit: close after this reply
    pub pool: PoolId,                             // pool of the client
    pub data: Vec<Bytes>,                         // request bytes
    pub mlen: u32,                                // request length in bytes
    pub meta: ReqMeta,                            // parsed request
    pub rsp: Vec<Bytes>,                          // reply bytes (backend or local)
    pub rsp_meta: RspMeta,                        // parsed backend reply
    pub err: Option<ReqError>,                    // why the request failed, if it did
    pub server: Option<(ServerId, ServerConnId)>, // (server, connection) once forwarded
    pub sent_us: Option<u64>,                     // when fully written (latency: Metrics::micros)
    pub deadline: Option<Instant>,                // timeout, if armed
    pub frag: Option<Box<Frag>>,                  // parent: its children
    pub stamp: crate::loopstats::Stamp,           // batch of its last read (feature loop-stats)
}

impl Msg {
    /// The parent of a fragment.
    pub fn parent(&self) -> Option<MsgId> {
        match self.owner {
            Owner::Child(p) => Some(p),
            _ => None,
        }
    }

    /// Makes a free slot a fresh message for `owner`, in place: every
    /// field back to its default, the vectors emptied with their capacity
    /// kept (dropped when one huge request grew them). Field by field
    /// rather than a rebuilt `Msg`, which would write (and drop) the whole
    /// struct per request; the destructuring stops the build when a new
    /// field is not reset here.
    fn reset(&mut self, gen: u32, id: u64, owner: Owner) {
        fn keep<T>(v: &mut Vec<T>, cap: usize) {
            v.clear();
            if v.capacity() > cap {
                *v = Vec::new();
            }
        }
        let Msg {
            gen: g,
            id: i,
            owner: o,
            state,
            expect,
            quit,
            pool,
            data,
            mlen,
            meta,
            rsp,
            rsp_meta,
            err,
            server,
            sent_us,
            deadline,
            frag,
            stamp,
        } = self;
        (*g, *i, *o) = (gen, id, owner);
        *state = State::New;
        *expect = Expect::One;
        *quit = false;
        *pool = PoolId::default();
        keep(data, 64);
        *mlen = 0;
        meta.reset(1024);
        keep(rsp, 64);
        rsp_meta.reset(1024);
        *err = None;
        *server = None;
        *sent_us = None;
        *deadline = None;
        if frag.as_ref().is_some_and(|f| f.key_child.capacity() > 1024) {
            *frag = None;
        }
        if let Some(f) = frag.as_mut() {
            f.children.clear();
            f.key_child.clear();
            f.ndone = 0;
        }
        *stamp = Default::default(); // a unit struct without feature loop-stats
    }
}

/// The message slab plus a free list of recycled messages
/// (twemproxy: free_msgq).
#[derive(Debug, Default)]
pub struct MsgArena {
    entries: Vec<Msg>, // every message slot, live or free; ids index it
    free: Vec<u32>,    // free slots, reused last-in first-out (warm caches)
    nlive: usize,      // live messages
    gen: u32,          // generation counter
    next_id: u64,      // for `Msg::id`
}

impl MsgArena {
    /// A fresh message for `owner`, in a recycled slot when there is one
    /// (the slot keeps its vectors' capacity; nothing is moved).
    pub fn alloc(&mut self, owner: Owner) -> MsgId {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Msg::default());
                (self.entries.len() - 1) as u32
            }
        };
        let gen = next_gen(&mut self.gen);
        self.next_id += 1;
        self.nlive += 1;
        if let Some(m) = self.entries.get_mut(idx as usize) {
            debug_assert_eq!(m.gen, 0, "allocating a live slot");
            m.reset(gen, self.next_id, owner);
        }
        MsgId { idx, gen }
    }

    pub fn get(&self, id: MsgId) -> Option<&Msg> {
        self.entries
            .get(id.idx as usize)
            .filter(|m| m.gen != 0 && m.gen == id.gen)
    }

    pub fn get_mut(&mut self, id: MsgId) -> Option<&mut Msg> {
        self.entries
            .get_mut(id.idx as usize)
            .filter(|m| m.gen != 0 && m.gen == id.gen)
    }

    /// Returns a message to the free list; `alloc` rebuilds it. A message
    /// is freed only once it is on no server queue.
    pub fn free(&mut self, id: MsgId) {
        let Some(m) = self.get_mut(id) else { return };
        debug_assert!(
            !m.state.on_server(),
            "freeing a message a server queue holds"
        );
        m.gen = 0;
        m.data.clear(); // drop the read chunks now, not at reuse
        m.rsp.clear();
        self.free.push(id.idx);
        self.nlive -= 1;
    }

    /// Messages allocated since start.
    pub fn allocated(&self) -> u64 {
        self.next_id
    }

    /// Live messages (for tests and stats: back to baseline after load).
    pub fn nlive(&self) -> usize {
        self.nlive
    }

    /// Recycled messages waiting on the free list.
    pub fn nfree(&self) -> usize {
        self.free.len()
    }

    /// Gives back the slots of a load spike: free slots at the end of the
    /// table are dropped until at most `keep` free ones remain (ids of
    /// live messages never move).
    pub fn trim(&mut self, keep: usize) {
        if self.free.len() <= keep {
            return;
        }
        let mut len = self.entries.len();
        while len > 0
            && self.free.len() - (self.entries.len() - len) > keep
            && self.entries[len - 1].gen == 0
        {
            len -= 1;
        }
        if len < self.entries.len() {
            self.entries.truncate(len);
            self.free.retain(|&i| (i as usize) < len);
            self.entries.shrink_to(len.max(keep));
            self.free.shrink_to(keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_find_nothing() {
        let mut a = MsgArena::default();
        let m1 = a.alloc(Owner::Setup);
        a.free(m1);
        let m2 = a.alloc(Owner::Setup);
        assert_eq!(m1.idx, m2.idx);
        assert!(a.get(m1).is_none());
        assert!(a.get(m2).is_some());
        a.free(m1); // stale: no effect
        assert_eq!(a.nlive(), 1);
    }

    /// A recycled message is a fresh one (owner, state, flags, outcome all
    /// default) that keeps its vectors' capacity.
    #[test]
    fn recycled_messages_start_fresh() {
        let mut a = MsgArena::default();
        let m1 = a.alloc(Owner::Client(ClientId { idx: 3, gen: 4 }));
        let m = a.get_mut(m1).unwrap();
        m.state = State::Done;
        m.expect = Expect::None;
        m.quit = true;
        m.err = Some(ReqError::NoServer);
        m.data.push(Bytes::from_static(b"x"));
        m.meta.keys.push(crate::proto::Span::new(0, 1));
        m.meta.narg = 2;
        m.frag = Some(Box::default());
        let cap = m.meta.keys.capacity();
        a.free(m1);
        let m2 = a.alloc(Owner::Setup);
        let m = a.get(m2).unwrap();
        assert_eq!(
            (m.owner, m.state, m.expect, m.quit),
            (Owner::Setup, State::New, Expect::One, false)
        );
        assert!(m.err.is_none() && m.data.is_empty() && m.meta.keys.is_empty());
        assert_eq!(m.meta.narg, 0);
        assert_eq!(m.meta.keys.capacity(), cap);
        assert!(m.frag.as_ref().is_some_and(|f| f.children.is_empty()));
    }

    #[test]
    fn trim_drops_free_slots_at_the_end_only() {
        let mut a = MsgArena::default();
        let ids: Vec<MsgId> = (0..100).map(|_| a.alloc(Owner::Setup)).collect();
        for id in &ids[1..] {
            a.free(*id);
        }
        assert_eq!((a.nlive(), a.nfree()), (1, 99));
        a.trim(10);
        assert_eq!((a.nlive(), a.nfree()), (1, 10));
        assert!(a.get(ids[0]).is_some());
        let again: Vec<MsgId> = (0..20).map(|_| a.alloc(Owner::Setup)).collect();
        assert_eq!(a.nlive(), 21);
        assert!(again.iter().all(|id| a.get(*id).is_some()));
    }
}
