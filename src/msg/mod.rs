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
//!   [m1 m2 m3] ----------> [m2 m3] --req_send_done--> [m1] --rsp--> m1.done
//! ```
//!
//! # Invariants
//! - a request is in a client's `omsg_q` iff `in_client`; in a server
//!   connection's queue iff `in_server`; it is freed when it is in neither
//!   (and, for a parent, when every child is gone);
//! - `done` is set exactly once, and only then is `rsp` (or `err`) final;
//! - `Msg`s are recycled: vectors keep their capacity, so a warm proxy
//!   allocates nothing per request here.

use crate::proto::{ReqMeta, RspMeta};

pub mod request;
pub mod response;
use crate::token::{next_gen, ClientId, MsgId, ServerConnId};
use bytes::Bytes;
use std::time::Instant;

/// Fragment bookkeeping of a parent request.
#[derive(Debug, Default)]
pub struct Frag {
    pub children: Vec<MsgId>, // one per server involved, in dispatch order
    pub key_child: Vec<u16>,  // for each key of the parent: index into `children`
    pub ndone: u32,           // children completed
}

/// One request and its reply.
#[derive(Debug, Default)]
pub struct Msg {
    pub gen: u32,                            // generation (slot reuse)
    pub live: bool,                          // allocated (not on the free list)
    pub id: u64,                             // monotonically increasing, for logs
    pub client: Option<ClientId>,            // owner; None once swallowed, or internal
    pub pool: u16,                           // pool index
    pub data: Vec<Bytes>,                    // request bytes
    pub mlen: u32,                           // request length in bytes
    pub meta: ReqMeta,                       // parsed request
    pub rsp: Vec<Bytes>,                     // reply bytes (backend or local)
    pub rsp_meta: RspMeta,                   // parsed backend reply
    pub err: Option<i32>,                    // errno when the request failed (0 = backend EOF)
    pub done: bool,                          // reply (or error) is final
    pub in_client: bool,                     // in the client's omsg_q
    pub in_server: bool,                     // in a server connection's queue
    pub noreply: bool,                       // no reply expected (memcache noreply)
    pub swallow: bool,                       // the reply is read and discarded
    pub internal: bool,                      // proxy's own AUTH/SELECT/probe
    pub quit: bool,                          // client asked to quit: close after this reply
    pub probe: bool,                         // internal health check of an ejected server
    pub server: Option<(u16, ServerConnId)>, // (server index, connection) once forwarded
    pub sent_at: Option<Instant>,            // when fully written (latency, deadline)
    pub deadline: Option<Instant>,           // timeout, if armed
    pub parent: Option<MsgId>,               // fragment: the parent request
    pub frag: Option<Box<Frag>>,             // parent: its children
    pub stamp: crate::loopstats::Stamp,      // batch of its last read (feature loop-stats)
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
    /// A fresh (or recycled) message. Messages stay in place: a recycled
    /// slot keeps its vectors' capacity and nothing is moved.
    pub fn alloc(&mut self) -> MsgId {
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
            m.gen = gen;
            m.id = self.next_id;
            m.live = true;
        }
        MsgId { idx, gen }
    }

    pub fn get(&self, id: MsgId) -> Option<&Msg> {
        self.entries
            .get(id.idx as usize)
            .filter(|m| m.live && m.gen == id.gen)
    }

    pub fn get_mut(&mut self, id: MsgId) -> Option<&mut Msg> {
        self.entries
            .get_mut(id.idx as usize)
            .filter(|m| m.live && m.gen == id.gen)
    }

    /// Returns a message to the free list, keeping its vectors' capacity.
    pub fn free(&mut self, id: MsgId) {
        let Some(m) = self.get_mut(id) else { return };
        m.live = false;
        m.client = None;
        m.data.clear();
        m.mlen = 0;
        m.meta.clear();
        m.rsp.clear();
        m.rsp_meta.clear();
        m.err = None;
        m.done = false;
        m.in_client = false;
        m.in_server = false;
        m.noreply = false;
        m.swallow = false;
        m.internal = false;
        m.quit = false;
        m.probe = false;
        m.server = None;
        m.sent_at = None;
        m.deadline = None;
        m.parent = None;
        if let Some(f) = m.frag.as_mut() {
            f.children.clear();
            f.key_child.clear();
            f.ndone = 0;
        }
        // Cap what one huge request may leave behind.
        if m.meta.keys.capacity() > 1024 {
            m.meta.keys = Vec::new();
            m.meta.vals = Vec::new();
            m.rsp_meta.elems = Vec::new();
            m.frag = None;
        }
        if m.data.capacity() > 64 || m.rsp.capacity() > 64 {
            m.data = Vec::new();
            m.rsp = Vec::new();
        }
        self.free.push(id.idx);
        self.nlive -= 1;
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
            && !self.entries[len - 1].live
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
        let m1 = a.alloc();
        a.free(m1);
        let m2 = a.alloc();
        assert_eq!(m1.idx, m2.idx);
        assert!(a.get(m1).is_none());
        assert!(a.get(m2).is_some());
        a.free(m1); // stale: no effect
        assert_eq!(a.nlive(), 1);
    }

    #[test]
    fn trim_drops_free_slots_at_the_end_only() {
        let mut a = MsgArena::default();
        let ids: Vec<MsgId> = (0..100).map(|_| a.alloc()).collect();
        for id in &ids[1..] {
            a.free(*id);
        }
        assert_eq!((a.nlive(), a.nfree()), (1, 99));
        a.trim(10);
        assert_eq!((a.nlive(), a.nfree()), (1, 10));
        assert!(a.get(ids[0]).is_some());
        let again: Vec<MsgId> = (0..20).map(|_| a.alloc()).collect();
        assert_eq!(a.nlive(), 21);
        assert!(again.iter().all(|id| a.get(*id).is_some()));
    }
}
