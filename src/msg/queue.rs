//! A client's queue of requests in reply order (`ClientConn::omsg_q`;
//! twemproxy: the client's `omsg_q` TAILQ).
//!
//! Most clients wait for one reply at a time: the queue holds that one
//! request inline, so such a client, busy or idle, owns no heap memory for
//! it. The first time a client has two requests outstanding the queue
//! becomes a `VecDeque`, kept with its capacity while the client lives: a
//! pipelining client pays one allocation (and its growth), never one per
//! request.
//!
//! # Invariants
//! - `One` holds exactly one id; `Many` may be empty (its buffer is kept);
//! - ids leave in the order they entered, whatever the representation.

use crate::token::MsgId;
use std::collections::VecDeque;

/// Request ids in reply order (see the module doc).
#[derive(Debug, Default)]
pub enum MsgQ {
    #[default]
    Empty,
    One(MsgId),            // the only outstanding request
    Many(VecDeque<MsgId>), // since the client first pipelined
}

impl MsgQ {
    pub fn push_back(&mut self, m: MsgId) {
        match self {
            MsgQ::Empty => *self = MsgQ::One(m),
            MsgQ::One(first) => {
                let first = *first;
                *self = MsgQ::Many(VecDeque::from([first, m]));
            }
            MsgQ::Many(q) => q.push_back(m),
        }
    }

    pub fn pop_front(&mut self) -> Option<MsgId> {
        match self {
            MsgQ::Empty => None,
            MsgQ::One(m) => {
                let m = *m;
                *self = MsgQ::Empty;
                Some(m)
            }
            MsgQ::Many(q) => q.pop_front(),
        }
    }

    pub fn front(&self) -> Option<&MsgId> {
        self.get(0)
    }

    pub fn get(&self, i: usize) -> Option<&MsgId> {
        match self {
            MsgQ::Empty => None,
            MsgQ::One(m) => (i == 0).then_some(m),
            MsgQ::Many(q) => q.get(i),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            MsgQ::Empty => 0,
            MsgQ::One(_) => 1,
            MsgQ::Many(q) => q.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids front to back, as two slices (`VecDeque::as_slices`).
    pub fn as_slices(&self) -> (&[MsgId], &[MsgId]) {
        match self {
            MsgQ::Empty => (&[], &[]),
            MsgQ::One(m) => (std::slice::from_ref(m), &[]),
            MsgQ::Many(q) => q.as_slices(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &MsgId> {
        let (a, b) = self.as_slices();
        a.iter().chain(b)
    }

    /// Empties the queue, front to back (its buffer goes with it).
    pub fn drain(&mut self) -> impl Iterator<Item = MsgId> {
        let (one, many) = match std::mem::take(self) {
            MsgQ::Empty => (None, VecDeque::new()),
            MsgQ::One(m) => (Some(m), VecDeque::new()),
            MsgQ::Many(q) => (None, q),
        };
        one.into_iter().chain(many)
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
            assert!(matches!(q, MsgQ::One(_)));
            assert_eq!(q.pop_front(), Some(id(n)));
            assert!(matches!(q, MsgQ::Empty));
        }
        q.push_back(id(1));
        q.push_back(id(2));
        assert_eq!(q.pop_front(), Some(id(1)));
        assert_eq!(q.pop_front(), Some(id(2)));
        assert!(matches!(&q, MsgQ::Many(v) if v.capacity() >= 2), "kept");
    }
}
