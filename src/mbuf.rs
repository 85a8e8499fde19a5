//! Buffers (twemproxy: nc_mbuf.c).
//!
//! An mbuf is a `BytesMut` chunk of `-m` bytes. The event loop reads every
//! socket into one current chunk (`Core::arena`) and freezes what each
//! read returned at once: a complete message is a reference-counted slice
//! of the chunk (`Bytes::split_to`), a partial one keeps its piece until
//! the rest arrives. Payload bytes are therefore not copied between the
//! socket they arrive on and the socket they leave by (except pieces of at
//! most 256 bytes, gathered into one staging slice per write: see
//! `sock::Gather`), small requests of many clients share one chunk, and an
//! idle connection holds no buffer
//! at all (twemproxy copies the tail of every pipelined read into a new
//! mbuf, and keeps one mbuf per connection while a message is pending).
//!
//! A used-up chunk goes on the free list; it can be handed out again once
//! every message that references its memory is gone
//! (`BytesMut::try_reclaim`). The free list is trimmed back toward its
//! baseline after a load spike (twemproxy never returns this memory).
//!
//! # Invariants
//! - the arena is empty (`len() == 0`) between reads: every byte read is
//!   frozen into a message piece immediately;
//! - after `ensure`, the arena has at least `min_spare` bytes of room;
//! - the free list never holds more than `max_free` chunks.

use bytes::BytesMut;

/// Chunks kept on the free list when idle.
const BASELINE_FREE: usize = 16;

/// How many free chunks `get` examines for one that can be reused.
const SCAN: usize = 8;

/// Free list of read chunks (twemproxy: free_mbufq).
#[derive(Debug)]
pub struct MbufPool {
    size: usize,         // chunk size (-m)
    min_spare: usize,    // a read gets at least this much room
    free: Vec<BytesMut>, // used-up chunks, possibly still referenced
    max_free: usize,     // cap of the free list
    pub nalloc: u64,     // chunks ever allocated
    pub nreuse: u64,     // chunks handed out again from the free list
}

impl MbufPool {
    pub fn new(size: usize) -> MbufPool {
        MbufPool {
            size,
            min_spare: (size / 16).max(32),
            free: Vec::new(),
            max_free: 1024,
            nalloc: 0,
            nreuse: 0,
        }
    }

    /// Chunk size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// An empty chunk with `size` bytes of room: a reclaimed one when a
    /// recent one is no longer referenced, else a new one.
    pub fn get(&mut self) -> BytesMut {
        let n = self.free.len();
        for i in (n.saturating_sub(SCAN)..n).rev() {
            if self.free[i].try_reclaim(self.size) {
                self.nreuse += 1;
                return self.free.swap_remove(i);
            }
        }
        self.nalloc += 1;
        BytesMut::with_capacity(self.size)
    }

    /// Makes sure the arena has room for a read: a nearly used-up chunk
    /// is retired to the free list and replaced.
    pub fn ensure(&mut self, arena: &mut BytesMut) {
        debug_assert!(arena.is_empty(), "the arena is empty between reads");
        if arena.capacity() - arena.len() < self.min_spare {
            let old = std::mem::replace(arena, self.get());
            self.put(old);
        }
    }

    /// Takes back a used-up chunk.
    pub fn put(&mut self, mut b: BytesMut) {
        b.clear();
        if self.free.len() < self.max_free {
            self.free.push(b);
        }
    }

    /// Chunks on the free list.
    pub fn nfree(&self) -> usize {
        self.free.len()
    }

    /// Halves the free list toward its baseline, dropping the oldest
    /// chunks first; called about once per stats interval, so memory taken
    /// by a spike goes back within seconds.
    pub fn trim(&mut self) {
        if self.free.len() > BASELINE_FREE {
            let drop = (self.free.len() - BASELINE_FREE).div_ceil(2);
            self.free.drain(..drop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_reclaimed_once_messages_are_gone() {
        let mut p = MbufPool::new(512);
        let mut arena = p.get();
        p.ensure(&mut arena); // plenty of room: kept
        assert_eq!(p.nalloc, 1);
        arena.extend_from_slice(&[b'x'; 500]);
        let msg = arena.split().freeze();
        p.ensure(&mut arena); // 12 bytes left: retired, a new chunk comes
        assert_eq!(p.nalloc, 2);
        assert_eq!(p.nfree(), 1);
        // still referenced by `msg`: cannot be reused yet
        let c = p.get();
        assert_eq!(p.nalloc, 3);
        drop(c);
        drop(msg);
        let d = p.get();
        assert_eq!(p.nreuse, 1);
        assert!(d.capacity() >= 512);
        assert_eq!(p.nfree(), 0);
    }

    #[test]
    fn trim_shrinks_toward_baseline() {
        let mut p = MbufPool::new(512);
        for _ in 0..1000 {
            let b = p.get();
            p.put(b);
        }
        // every put chunk was reusable: only one was ever allocated
        assert_eq!(p.nalloc, 1);
        let v: Vec<_> = (0..1000).map(|_| BytesMut::with_capacity(512)).collect();
        for b in v {
            p.put(b);
        }
        assert_eq!(p.nfree(), 1001);
        p.trim();
        assert_eq!(p.nfree(), 508);
        for _ in 0..20 {
            p.trim();
        }
        assert_eq!(p.nfree(), BASELINE_FREE);
    }
}
