//! Where an unpipelined request waits inside the proxy (issue 18.1): a
//! measurement build only (`cargo build --release --features loop-stats`).
//! In every other build `LoopStats` is an empty type whose methods do
//! nothing and `Stamp` is `()`, so the call sites cost nothing.
//!
//! Samples, in nanoseconds unless noted:
//! - `req_wait`: a client's batch came out of `epoll_wait` (its socket was
//!   readable) → the writev that sent the request to its server;
//! - `rsp_wait`: a server's batch came out of `epoll_wait` (the reply was
//!   readable) → the writev that sent the reply to its client;
//! - `events`: readiness events per `epoll_wait` batch (count);
//! - `first_out`: batch start → the first client writev of that iteration;
//! - `iter`: batch start → the end of the iteration;
//! - `idle`: time blocked in `epoll_wait`;
//! - `per_srv_write` / `per_cli_write`: requests per server writev and
//!   replies per client writev (count).
//!
//! The summary goes to stderr when the loop stops.

#[cfg(feature = "loop-stats")]
pub use imp::*;
#[cfg(not(feature = "loop-stats"))]
pub use noop::*;

#[cfg(feature = "loop-stats")]
mod imp {
    use std::time::Instant;

    /// When a message's batch came out of epoll_wait.
    pub type Stamp = Option<Instant>;

    /// At most this many samples per series (about 8 MB each).
    const CAP: usize = 2_000_000;

    /// The sample series of one proxy process.
    #[derive(Debug)]
    pub struct LoopStats {
        req_wait: Vec<u32>,
        rsp_wait: Vec<u32>,
        events: Vec<u32>,
        first_out: Vec<u32>,
        iter: Vec<u32>,
        idle: Vec<u32>,
        per_srv_write: Vec<u32>,
        per_cli_write: Vec<u32>,
        batch: Instant,      // when the current batch came out of epoll_wait
        first_seen: bool,    // a client writev happened in this batch
        pub wnow: Instant,   // time of the writev being accounted
        pub wcount: u32,     // messages the writev being accounted completed
        poll_start: Instant, // when the loop entered epoll_wait
    }

    fn push(v: &mut Vec<u32>, x: u128) {
        if v.len() < CAP {
            v.push(x.min(u128::from(u32::MAX)) as u32);
        }
    }

    impl Default for LoopStats {
        fn default() -> LoopStats {
            let now = Instant::now();
            LoopStats {
                req_wait: Vec::new(),
                rsp_wait: Vec::new(),
                events: Vec::new(),
                first_out: Vec::new(),
                iter: Vec::new(),
                idle: Vec::new(),
                per_srv_write: Vec::new(),
                per_cli_write: Vec::new(),
                batch: now,
                first_seen: false,
                wnow: now,
                wcount: 0,
                poll_start: now,
            }
        }
    }

    impl LoopStats {
        pub fn new() -> LoopStats {
            LoopStats::default()
        }

        pub fn poll_enter(&mut self) {
            self.poll_start = Instant::now();
        }

        /// A batch of `n` events came out of epoll_wait at `now`.
        pub fn batch_start(&mut self, now: Instant, n: usize) {
            push(&mut self.idle, (now - self.poll_start).as_nanos());
            push(&mut self.events, n as u128);
            self.batch = now;
            self.first_seen = false;
        }

        pub fn batch_end(&mut self) {
            push(&mut self.iter, self.batch.elapsed().as_nanos());
        }

        /// A writev on a server (`server`) or client connection happened now.
        pub fn write(&mut self, server: bool) {
            self.wnow = Instant::now();
            self.wcount = 0;
            if !server && !self.first_seen {
                self.first_seen = true;
                push(&mut self.first_out, (self.wnow - self.batch).as_nanos());
            }
        }

        /// The writev finished `n` messages.
        pub fn write_done(&mut self, server: bool) {
            let v = if server {
                &mut self.per_srv_write
            } else {
                &mut self.per_cli_write
            };
            push(v, u128::from(self.wcount));
        }

        /// A message stamped `t` (its batch start) went out in the current writev.
        pub fn sent(&mut self, server: bool, t: Option<Instant>) {
            self.wcount += 1;
            let Some(t) = t else { return };
            let d = self.wnow.saturating_duration_since(t).as_nanos();
            push(
                if server {
                    &mut self.req_wait
                } else {
                    &mut self.rsp_wait
                },
                d,
            );
        }

        /// The batch start time (what a message is stamped with).
        pub fn stamp(&self) -> Stamp {
            Some(self.batch)
        }

        /// Prints the summary to stderr.
        pub fn report(&mut self) {
            let series: [(&str, &mut Vec<u32>, bool); 8] = [
                (
                    "req_wait us (client readable -> server writev)",
                    &mut self.req_wait,
                    true,
                ),
                (
                    "rsp_wait us (server readable -> client writev)",
                    &mut self.rsp_wait,
                    true,
                ),
                ("events per epoll batch", &mut self.events, false),
                (
                    "first_out us (batch start -> first client writev)",
                    &mut self.first_out,
                    true,
                ),
                (
                    "iter us (batch start -> iteration end)",
                    &mut self.iter,
                    true,
                ),
                ("idle us (blocked in epoll_wait)", &mut self.idle, true),
                ("requests per server writev", &mut self.per_srv_write, false),
                ("replies per client writev", &mut self.per_cli_write, false),
            ];
            eprintln!("loop-stats: name: n mean p50 p90 p99 max");
            for (name, v, ns) in series {
                if v.is_empty() {
                    continue;
                }
                v.sort_unstable();
                let scale = if ns { 1000.0 } else { 1.0 };
                let q = |f: f64| f64::from(v[((v.len() - 1) as f64 * f) as usize]) / scale;
                let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64 / scale;
                eprintln!(
                    "loop-stats: {name}: {} {:.1} {:.1} {:.1} {:.1} {:.1}",
                    v.len(),
                    mean,
                    q(0.5),
                    q(0.9),
                    q(0.99),
                    q(1.0)
                );
            }
        }
    }
}

#[cfg(not(feature = "loop-stats"))]
mod noop {
    /// Nothing: the measurement is compiled out.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Stamp;

    /// Nothing: the measurement is compiled out.
    #[derive(Debug, Default)]
    pub struct LoopStats;

    #[allow(clippy::unused_self)]
    impl LoopStats {
        pub fn new() -> LoopStats {
            LoopStats
        }
        #[inline(always)]
        pub fn poll_enter(&mut self) {}
        #[inline(always)]
        pub fn batch_start(&mut self, _now: std::time::Instant, _n: usize) {}
        #[inline(always)]
        pub fn batch_end(&mut self) {}
        #[inline(always)]
        pub fn write(&mut self, _server: bool) {}
        #[inline(always)]
        pub fn write_done(&mut self, _server: bool) {}
        #[inline(always)]
        pub fn sent(&mut self, _server: bool, _t: Stamp) {}
        #[inline(always)]
        pub fn stamp(&self) -> Stamp {
            Stamp
        }
        #[inline(always)]
        pub fn report(&mut self) {}
    }
}
