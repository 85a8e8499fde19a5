//! Buffers (twemproxy: nc_mbuf.c).
//!
//! An mbuf is a `BytesMut` chunk of `-m` bytes that a connection reads
//! into. A complete message is cut off the front of the chunk with
//! `split_to(..).freeze()`: the message then holds a reference-counted
//! view of the same memory, so payload bytes are never copied between the
//! socket they arrive on and the socket they leave by. Pipelined messages
//! share one chunk (twemproxy copies the tail into a new mbuf instead).
//!
//! Chunks come from a free list. A chunk handed back while messages still
//! reference its memory is reclaimed later, once they are gone
//! (`BytesMut::try_reclaim`). The free list is trimmed back toward its
//! baseline after a load spike (twemproxy never returns this memory).
//!
//! # Invariants
//! - every chunk handed out has spare capacity of at least one byte;
//! - the free list never holds more than `max_free` chunks.

use bytes::BytesMut;

/// Chunks kept on the free list when idle.
const BASELINE_FREE: usize = 64;

/// Free list of read chunks (twemproxy: free_mbufq).
#[derive(Debug)]
pub struct MbufPool {
    size: usize,         // chunk size (-m)
    free: Vec<BytesMut>, // empty chunks, possibly still shared
    max_free: usize,     // trim target while busy
    pub nalloc: u64,     // chunks ever allocated
    pub nreuse: u64,     // chunks handed out again from the free list
}

impl MbufPool {
    pub fn new(size: usize) -> MbufPool {
        MbufPool {
            size,
            free: Vec::new(),
            max_free: 4096,
            nalloc: 0,
            nreuse: 0,
        }
    }

    /// Chunk size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// An empty chunk with `size` bytes of spare capacity.
    pub fn get(&mut self) -> BytesMut {
        while let Some(mut b) = self.free.pop() {
            if b.try_reclaim(self.size) {
                self.nreuse += 1;
                return b;
            }
            // Still shared by in-flight messages: its memory goes back to
            // the allocator when they are gone.
        }
        self.nalloc += 1;
        BytesMut::with_capacity(self.size)
    }

    /// Makes sure `buf` can take more bytes: an exhausted chunk is replaced
    /// by a fresh one (the caller has already moved its contents out).
    pub fn ensure(&mut self, buf: &mut BytesMut) {
        if buf.capacity() == buf.len() {
            debug_assert!(buf.is_empty() || buf.capacity() == 0 || buf.len() == buf.capacity());
            let old = std::mem::replace(buf, self.get());
            self.put(old);
        }
    }

    /// Takes back an empty chunk (a connection going idle or closing).
    pub fn put(&mut self, mut b: BytesMut) {
        if b.capacity() == 0 {
            return;
        }
        b.clear();
        if self.free.len() < self.max_free {
            self.free.push(b);
        }
    }

    /// Chunks on the free list.
    pub fn nfree(&self) -> usize {
        self.free.len()
    }

    /// Halves the free list toward its baseline; called once per stats
    /// interval, so memory taken by a spike is given back within seconds.
    pub fn trim(&mut self) {
        if self.free.len() > BASELINE_FREE {
            let keep = BASELINE_FREE.max(self.free.len() / 2);
            self.free.truncate(keep);
            self.free.shrink_to(keep.max(BASELINE_FREE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_reclaimed_once_messages_are_gone() {
        let mut p = MbufPool::new(512);
        let mut b = p.get();
        b.extend_from_slice(b"hello world");
        let msg = b.split_to(5).freeze();
        let rest = b.split_to(6);
        drop(rest);
        p.put(b);
        // still shared with `msg`: a new chunk is allocated
        let c = p.get();
        assert_eq!(p.nalloc, 2);
        p.put(c);
        drop(msg);
        let d = p.get();
        assert!(d.capacity() >= 512);
        assert_eq!(p.nreuse, 1);
    }

    #[test]
    fn trim_shrinks_toward_baseline() {
        let mut p = MbufPool::new(512);
        let v: Vec<_> = (0..1000).map(|_| p.get()).collect();
        for b in v {
            p.put(b);
        }
        assert_eq!(p.nfree(), 1000);
        p.trim();
        assert_eq!(p.nfree(), 500);
        for _ in 0..10 {
            p.trim();
        }
        assert_eq!(p.nfree(), BASELINE_FREE);
    }
}
