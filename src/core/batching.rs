//! Whether batching pays on the traffic of the moment, found by trying
//! both (issue 18).
//!
//! Under unpipelined load the loop can batch: nap before it blocks in
//! epoll_wait (`Core::wait`) and hold a few requests for an idle server
//! until more join them (`Core::flush`). Both save the backends and the
//! clients work (fewer, larger reads and writes, fewer wake-ups), which
//! is what raises throughput when the CPU running them is the limit, as
//! with redis-benchmark and four redis-servers on one core. Both also add
//! up to a nap of latency per hop, which is all they do when the clients
//! are waiting on the proxy instead: 10 unpipelined clients ran at 37,600
//! requests a second with naps and 61,600 without.
//!
//! Which case holds is not visible from inside the proxy, so `Batching`
//! measures it: a probe of [`PROBE_EPOCHS`] short epochs, batching on and
//! off in the order on, off, off, on (twice, so a steady drift of the load
//! favours neither), compares the request rates of the two halves, and
//! keeps batching on only when it was faster by [`GAIN`]. Open-loop
//! traffic (a rate the clients set) runs at the same rate either way, so
//! batching stays off and costs no latency. The decision holds for
//! [`SETTLE`], doubled up to [`SETTLE_MAX`] while probes keep agreeing
//! (the worse mode's share of the time shrinks to under 2 %), and back to
//! `SETTLE` when one disagrees. Every probe starts with a warm-up epoch,
//! off and not counted, so the mode before it does not colour the first
//! epoch; an epoch with too few requests to judge (an idle proxy) starts
//! the probe over, batching off; and a settled decision is probed again at
//! once when the request rate halves or doubles (another load). So a new
//! benchmark run is judged within a probe of its start.

use std::time::{Duration, Instant};

/// One epoch of a probe: long against a loaded round trip (about 1 ms at
/// 50 clients), so the rate reflects the mode, short enough that a probe
/// costs little when the mode tried is the worse one.
pub const EPOCH: Duration = Duration::from_millis(20);

/// Epochs per probe after its warm-up, half of them on (the pattern is
/// on, off, off, on).
pub const PROBE_EPOCHS: u32 = 8;

/// Batching stays on only if its epochs ran this much faster: on a tie
/// the lower latency wins.
pub const GAIN: f64 = 1.03;

/// How long a decision holds at first, and at most.
pub const SETTLE: Duration = Duration::from_secs(1);
pub const SETTLE_MAX: Duration = Duration::from_secs(8);

/// Requests an epoch needs to count (2,000 a second): with fewer the load
/// is too light for batching to matter (the loop does not nap then
/// anyway), and the probe starts over with batching off.
pub const EPOCH_MIN_REQS: u64 = 40;

/// A settled decision is probed again when an epoch's request rate is
/// this many times higher or lower than the rate the probe measured.
pub const RATE_CHANGE: f64 = 2.0;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Probe {
        epoch: u32,    // epochs done, the warm-up included
        rate_on: f64,  // sum of the on epochs' rates (requests/s)
        rate_off: f64, // sum of the off epochs' rates
    },
    Settled {
        until: Instant, // next probe
        rate: f64,      // requests/s the probe measured in the mode chosen
    },
}

/// The batching mode and the probe that decides it (one per loop).
#[derive(Clone, Debug)]
pub struct Batching {
    enabled: bool,        // --batch-wait is not 0
    on: bool,             // batch now
    phase: Phase,         // probing or settled
    epoch_start: Instant, // current epoch (probe or rate check)
    epoch_reqs: u64,      // request count at the epoch's start
    settle: Duration,     // how long the last decision holds
    last: Option<bool>,   // the last probe's decision
    pub probes: u64,      // probes finished (stats)
    pub probes_on: u64,   // of which decided on
}

impl Batching {
    /// A controller that starts probing at once; `enabled` false keeps
    /// batching off for good (`--batch-wait=0`).
    pub fn new(enabled: bool, now: Instant) -> Batching {
        let mut b = Batching {
            enabled,
            on: false,
            phase: Phase::Settled {
                until: now,
                rate: 0.0,
            },
            epoch_start: now,
            epoch_reqs: 0,
            settle: SETTLE,
            last: None,
            probes: 0,
            probes_on: 0,
        };
        if enabled {
            b.start_probe(now, 0);
        }
        b
    }

    /// Whether the loop batches now.
    pub fn on(&self) -> bool {
        self.on
    }

    /// Batching in epoch `i` of a probe: off (the warm-up), then on, off,
    /// off, on, on, off, off, on.
    fn probe_mode(i: u32) -> bool {
        i > 0 && matches!((i - 1) % 4, 0 | 3)
    }

    /// Advances the controller to `now`, with `reqs` the running count of
    /// requests read so far; called once per loop iteration.
    pub fn tick(&mut self, now: Instant, reqs: u64) {
        if !self.enabled {
            return;
        }
        if let Phase::Settled { until, .. } = self.phase {
            if now >= until {
                self.start_probe(now, reqs);
                return;
            }
        }
        let took = now.saturating_duration_since(self.epoch_start);
        if took < EPOCH {
            return;
        }
        let n = reqs.saturating_sub(self.epoch_reqs);
        let rate = n as f64 / took.as_secs_f64();
        self.epoch_start = now;
        self.epoch_reqs = reqs;
        match self.phase {
            Phase::Settled { rate: decided, .. } => {
                if rate > decided * RATE_CHANGE || rate * RATE_CHANGE < decided {
                    self.start_probe(now, reqs); // another load
                }
            }
            Phase::Probe {
                epoch,
                mut rate_on,
                mut rate_off,
            } => {
                if n < EPOCH_MIN_REQS {
                    self.start_probe(now, reqs); // idle or light: judge what comes
                    return;
                }
                if epoch > 0 {
                    if self.on {
                        rate_on += rate;
                    } else {
                        rate_off += rate;
                    }
                }
                let epoch = epoch + 1;
                if epoch <= PROBE_EPOCHS {
                    self.on = Batching::probe_mode(epoch);
                    self.phase = Phase::Probe {
                        epoch,
                        rate_on,
                        rate_off,
                    };
                    return;
                }
                let half = f64::from(PROBE_EPOCHS / 2);
                let (on, off) = (rate_on / half, rate_off / half);
                self.decide(now, on > off * GAIN, on, off);
            }
        }
    }

    fn start_probe(&mut self, now: Instant, reqs: u64) {
        self.epoch_start = now;
        self.epoch_reqs = reqs;
        self.on = Batching::probe_mode(0);
        self.phase = Phase::Probe {
            epoch: 0,
            rate_on: 0.0,
            rate_off: 0.0,
        };
    }

    /// Ends a probe with its decision and the mean rates of its on and
    /// off epochs: the mode holds for the settle time, which doubles while
    /// probes agree.
    fn decide(&mut self, now: Instant, batch: bool, on: f64, off: f64) {
        self.settle = if self.last == Some(batch) {
            (self.settle * 2).min(SETTLE_MAX)
        } else {
            SETTLE
        };
        self.last = Some(batch);
        self.on = batch;
        self.probes += 1;
        self.probes_on += u64::from(batch);
        log::debug!(
            "batching {} for {:?}: {:.0} requests/s batching, {:.0} not",
            if batch { "on" } else { "off" },
            self.settle,
            on,
            off
        );
        self.phase = Phase::Settled {
            until: now + self.settle,
            rate: if self.on { on } else { off },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH_MS: u64 = EPOCH.as_millis() as u64;

    /// A controller on a simulated clock: the loop ticks every ms.
    struct Sim {
        b: Batching,
        t: Instant,
        reqs: u64,
    }

    impl Sim {
        fn new(enabled: bool) -> Sim {
            let t = Instant::now();
            Sim {
                b: Batching::new(enabled, t),
                t,
                reqs: 0,
            }
        }

        /// Runs `ms` ms: `on_per_ms` requests a millisecond while it
        /// batches, `off_per_ms` while it does not.
        fn run(&mut self, ms: u64, on_per_ms: u64, off_per_ms: u64) {
            for _ in 0..ms {
                self.reqs += if self.b.on() { on_per_ms } else { off_per_ms };
                self.t += Duration::from_millis(1);
                self.b.tick(self.t, self.reqs);
            }
        }
    }

    /// A whole probe, its warm-up included.
    const PROBE_MS: u64 = EPOCH_MS * (PROBE_EPOCHS as u64 + 1);

    #[test]
    fn a_probe_warms_up_then_tries_on_off_off_on_twice() {
        let mut sim = Sim::new(true);
        let mut seen = Vec::new();
        for _ in 0..=PROBE_EPOCHS {
            seen.push(sim.b.on());
            sim.run(EPOCH_MS, 100, 100);
        }
        assert_eq!(
            seen,
            [false, true, false, false, true, true, false, false, true]
        );
        assert_eq!(sim.b.probes, 1);
    }

    /// One probe's decision at `on_per_ms` / `off_per_ms` requests a ms.
    fn decision(on_per_ms: u64, off_per_ms: u64) -> Batching {
        let mut sim = Sim::new(true);
        sim.run(PROBE_MS, on_per_ms, off_per_ms);
        sim.b
    }

    #[test]
    fn batching_stays_on_only_when_it_is_faster() {
        // 10 % faster with batching (closed loop, the clients' CPU the limit)
        let b = decision(110, 100);
        assert!(b.on());
        assert_eq!(b.probes_on, 1);
        // 40 % slower with batching (clients waiting on the proxy)
        assert!(!decision(60, 100).on());
        // a tie (open-loop traffic), or less than GAIN: off, the lower latency
        assert!(!decision(100, 100).on());
        assert!(!decision(102, 100).on());
        // light load: too few requests to judge, off, and no probe ends
        let b = decision(1, 1);
        assert!(!b.on());
        assert_eq!(b.probes, 0);
        assert!(matches!(b.phase, Phase::Probe { epoch: 0, .. }));
    }

    #[test]
    fn a_decision_holds_for_the_settle_time() {
        let mut sim = Sim::new(true);
        sim.run(PROBE_MS, 110, 100);
        assert!(sim.b.on());
        // the load turns (at about the same rate): no probe until the
        // settle time is over
        sim.run(SETTLE.as_millis() as u64 - 1, 80, 100);
        assert!(sim.b.on());
        assert_eq!(sim.b.probes, 1);
        sim.run(1 + PROBE_MS, 80, 100);
        assert!(!sim.b.on());
        assert_eq!((sim.b.probes, sim.b.probes_on), (2, 1));
    }

    #[test]
    fn agreeing_probes_settle_longer_and_a_change_is_found() {
        let mut sim = Sim::new(true);
        sim.run(PROBE_MS, 60, 100);
        assert_eq!(sim.b.settle, SETTLE);
        // the next probes agree: 2 s, 4 s, 8 s, and no longer
        for want in [2, 4, 8, 8] {
            let until = match sim.b.phase {
                Phase::Settled { until, .. } => until,
                p => panic!("not settled: {p:?}"),
            };
            sim.run((until - sim.t).as_millis() as u64, 60, 100);
            sim.run(PROBE_MS, 60, 100);
            assert_eq!(sim.b.settle, Duration::from_secs(want));
            assert!(!sim.b.on());
        }
        // the load changes: within one settle time and a probe, batching is on
        sim.run((SETTLE_MAX + EPOCH).as_millis() as u64, 130, 100);
        sim.run(PROBE_MS, 130, 100);
        assert!(sim.b.on());
        assert_eq!(sim.b.settle, SETTLE);
    }

    #[test]
    fn an_idle_proxy_judges_a_new_load_within_a_probe() {
        let mut sim = Sim::new(true);
        // idle for a while: probes start over, off, none ends
        sim.run(3010, 0, 0);
        assert!(!sim.b.on());
        assert_eq!(sim.b.probes, 0);
        // a closed-loop load that batching speeds up, starting mid-epoch
        sim.run(EPOCH_MS + PROBE_MS, 120, 100);
        assert!(sim.b.on());
        assert_eq!(sim.b.probes, 1);
    }

    #[test]
    fn another_load_is_probed_again_at_once() {
        let mut sim = Sim::new(true);
        sim.run(PROBE_MS, 120, 100);
        sim.run(2 * PROBE_MS, 120, 100);
        assert!(sim.b.on());
        assert!(matches!(sim.b.phase, Phase::Settled { .. }));
        // fewer clients: a third of the rate, and batching now slows it
        sim.run(2 * EPOCH_MS, 40, 100);
        assert!(
            matches!(sim.b.phase, Phase::Probe { .. }),
            "{:?}",
            sim.b.phase
        );
        sim.run(PROBE_MS, 40, 100);
        assert!(!sim.b.on());
        assert_eq!((sim.b.probes, sim.b.probes_on), (2, 1));
    }

    #[test]
    fn disabled_never_batches() {
        let mut sim = Sim::new(false);
        assert!(!sim.b.on());
        sim.run(10 * PROBE_MS, 200, 100);
        assert!(!sim.b.on());
        assert_eq!(sim.b.probes, 0);
    }

    #[test]
    fn an_idle_loop_ends_its_epoch_on_the_next_tick() {
        // the loop may sleep a whole second: that epoch's rate covers it
        let t0 = Instant::now();
        let mut b = Batching::new(true, t0);
        b.tick(t0 + Duration::from_secs(1), 500);
        assert!(b.on()); // epoch 1 of the probe is on
        assert_eq!(b.epoch_reqs, 500);
        assert!(matches!(b.phase, Phase::Probe { epoch: 1, .. }));
    }
}
