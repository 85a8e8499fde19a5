//! A client's queue of requests in reply order (`ClientConn::omsg_q`;
//! twemproxy: the client's `omsg_q` TAILQ).
//!
//! Most clients wait for one reply at a time: the queue holds that one
//! request inline, so such a client, busy or idle, owns no heap memory for
//! it. The first time a client has two requests outstanding the queue
//! moves to a boxed `VecDeque`, kept with its capacity while the client
//! lives: a pipelining client pays one allocation (and its growth), never
//! one per request. The two plain fields cost fewer instructions to test
//! than an enum whose tag hides in the deque's capacity (callgrind: a
//! plain GET ~11 fewer than the bare `VecDeque`, a pipelined one ~16 more
//! for the box), and take 24 bytes instead of 32.
//!
//! # Invariants
//! - `one` is None while `many` is set (`many` may be empty: its buffer is
//!   kept);
//! - ids leave in the order they entered, whatever the representation.

use crate::token::MsgId;
use std::collections::VecDeque;

/// Request ids in reply order (see the module doc).
#[allow(clippy::box_collection)] // the box keeps an idle client's slot small
#[derive(Debug, Default)]
pub struct MsgQ {
    one: Option<MsgId>, // the only outstanding request, while `many` is None
    many: Option<Box<VecDeque<MsgId>>>, // every request, since the client first pipelined
}

impl MsgQ {
    #[inline]
    pub fn push_back(&mut self, m: MsgId) {
        match (&mut self.many, self.one) {
            (Some(q), _) => q.push_back(m),
            (None, None) => self.one = Some(m),
            (None, Some(first)) => self.spill(first, m),
        }
    }

    /// The client pipelines for the first time: from `one` to `many`.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, first: MsgId, m: MsgId) {
        self.one = None;
        self.many = Some(Box::new(VecDeque::from([first, m])));
    }

    #[inline]
    pub fn pop_front(&mut self) -> Option<MsgId> {
        match &mut self.many {
            Some(q) => q.pop_front(),
            None => self.one.take(),
        }
    }

    #[inline]
    pub fn front(&self) -> Option<&MsgId> {
        self.get(0)
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&MsgId> {
        match &self.many {
            Some(q) => q.get(i),
            None => self.one.as_ref().filter(|_| i == 0),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        match &self.many {
            Some(q) => q.len(),
            None => usize::from(self.one.is_some()),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids front to back, as two slices (`VecDeque::as_slices`).
    #[inline]
    pub fn as_slices(&self) -> (&[MsgId], &[MsgId]) {
        match &self.many {
            Some(q) => q.as_slices(),
            None => (self.one.as_slice(), &[]),
        }
    }

    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = &MsgId> {
        let (a, b) = self.as_slices();
        a.iter().chain(b)
    }

    /// Empties the queue, front to back (its buffer goes with it).
    pub fn drain(&mut self) -> impl Iterator<Item = MsgId> {
        let one = self.one.take();
        let many = self.many.take().map(|q| *q).unwrap_or_default();
        one.into_iter().chain(many)
    }

    /// Whether the queue has its own buffer (the client pipelined).
    pub fn spilled(&self) -> bool {
        self.many.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    fn id(i: u32) -> MsgId {
        MsgId { idx: i, gen: 1 }
    }

    /// Against a `VecDeque` model, through every representation change.
    #[test]
    fn behaves_as_a_vecdeque() {
        let mut rng = Rng(7);
        let (mut q, mut model) = (MsgQ::default(), VecDeque::new());
        for n in 0..2000 {
            if rng.below(3) == 0 {
                assert_eq!(q.pop_front(), model.pop_front());
            } else {
                q.push_back(id(n));
                model.push_back(id(n));
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.is_empty(), model.is_empty());
            assert_eq!(q.front(), model.front());
            assert_eq!(q.get(1), model.get(1));
            assert!(q.iter().eq(model.iter()));
        }
        assert!(q.drain().eq(model.drain(..)));
        assert!(q.is_empty());
    }

    /// One request at a time never allocates: the queue stays inline.
    #[test]
    fn one_at_a_time_stays_inline() {
        let mut q = MsgQ::default();
        for n in 0..100 {
            q.push_back(id(n));
            assert!(!q.spilled());
            assert_eq!(q.pop_front(), Some(id(n)));
            assert!(q.is_empty() && !q.spilled());
        }
        q.push_back(id(1));
        q.push_back(id(2));
        assert_eq!(q.pop_front(), Some(id(1)));
        assert_eq!(q.pop_front(), Some(id(2)));
        assert!(q.is_empty() && q.spilled(), "its buffer is kept");
    }
}
