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
//! keeps batching on when it was faster by [`GAIN`]. On a tie it
//! compares the loop's CPU per request too ([`SchedClock`]): when the
//! loop's CPU was its limit ([`BUSY`]) or shared with other busy work
//! ([`CONTENDED`]), batching stays on if it costs [`CPU_GAIN`] times less
//! (two proxies sharing a core, 50 clients each: 8-20 % less CPU per
//! request at the same rate). Otherwise open-loop traffic (a rate the
//! clients set) runs at the same rate either way, so batching stays off
//! and costs no latency. The decision holds for
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

/// Share of the time the loop was running or waiting for its CPU, in the
/// probe's epochs without batching, from which it counts as busy: the CPU
/// is then its limit, and CPU per request what batching is judged on when
/// the rates tie.
pub const BUSY: f64 = 0.9;

/// Share of the time the loop waited for its CPU (runnable while another
/// process ran), in the epochs without batching, from which the CPU counts
/// as contended: what the loop saves goes to that other work (another
/// proxy, the backends on a cache host), so CPU per request is judged on a
/// tie as when busy.
pub const CONTENDED: f64 = 0.1;

/// On a rate tie, a busy loop keeps batching on when its epochs cost at
/// least this many times less CPU per request.
pub const CPU_GAIN: f64 = 1.05;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Probe {
        epoch: u32, // epochs done, the warm-up included
        on: Tally,  // the epochs batching
        off: Tally, // the epochs not
    },
    Settled {
        until: Instant, // next probe
        rate: f64,      // requests/s the probe measured in the mode chosen
    },
}

/// What the scheduler says a thread spent: running on a CPU, and waiting
/// for one (runnable while another process ran).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sched {
    pub run: Duration,
    pub wait: Duration,
}

impl Sched {
    /// Parses `/proc/thread-self/schedstat`: `<run ns> <wait ns> <slices>`.
    /// Its run time lags for a thread that is running (it is brought up
    /// to date at a switch or a timer tick), so [`SchedClock`] takes the
    /// run time from the thread's CPU clock instead; the wait is current
    /// (it grows only while the thread is not running).
    pub fn parse(text: &[u8]) -> Option<Sched> {
        let mut fields = std::str::from_utf8(text).ok()?.split_ascii_whitespace();
        let mut ns = || fields.next()?.parse::<u64>().ok().map(Duration::from_nanos);
        Some(Sched {
            run: ns()?,
            wait: ns()?,
        })
    }

    /// The time spent since `earlier`.
    fn since(self, earlier: Sched) -> Sched {
        Sched {
            run: self.run.saturating_sub(earlier.run),
            wait: self.wait.saturating_sub(earlier.wait),
        }
    }

    fn add(self, other: Sched) -> Sched {
        Sched {
            run: self.run + other.run,
            wait: self.wait + other.wait,
        }
    }
}

/// The loop thread's [`Sched`]: its CPU clock and the wait from
/// `/proc/thread-self/schedstat`, opened by the first read (so by the
/// thread that runs the loop).
#[derive(Debug)]
pub enum SchedClock {
    Unopened,
    Open(std::fs::File),
    Missing, // no schedstat (kernel without it, no /proc): probes judge rates only
}

impl SchedClock {
    pub fn read(&mut self) -> Option<Sched> {
        use std::os::unix::fs::FileExt;
        if let SchedClock::Unopened = self {
            *self = match std::fs::File::open("/proc/thread-self/schedstat") {
                Ok(f) => SchedClock::Open(f),
                Err(_) => SchedClock::Missing,
            };
        }
        let SchedClock::Open(f) = self else {
            return None;
        };
        let mut buf = [0u8; 128];
        let n = f.read_at(&mut buf, 0).ok()?;
        let wait = Sched::parse(&buf[..n])?.wait;
        Some(Sched {
            run: thread_cpu()?,
            wait,
        })
    }
}

/// CPU time of the calling thread, up to date (CLOCK_THREAD_CPUTIME_ID).
#[allow(unsafe_code)]
fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The probe epochs of one mode, summed. No `Default`: an empty tally
/// has a zero scheduler reading, not a missing one.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tally {
    reqs: u64,            // requests read
    wall: Duration,       // time
    sched: Option<Sched>, // the loop's CPU and wait; None if an epoch had no reading
}

impl Tally {
    fn new() -> Tally {
        Tally {
            reqs: 0,
            wall: Duration::ZERO,
            sched: Some(Sched::default()),
        }
    }

    fn add(&mut self, reqs: u64, wall: Duration, sched: Option<Sched>) {
        self.reqs += reqs;
        self.wall += wall;
        self.sched = self.sched.zip(sched).map(|(a, b)| a.add(b));
    }

    /// Requests a second.
    fn rate(&self) -> f64 {
        self.reqs as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// CPU µs per request.
    fn cpu(&self) -> Option<f64> {
        let s = self.sched?;
        Some(s.run.as_secs_f64() * 1e6 / self.reqs.max(1) as f64)
    }

    /// Shares of the time the loop ran and waited to run.
    fn shares(&self) -> Option<(f64, f64)> {
        let s = self.sched?;
        let wall = self.wall.as_secs_f64().max(1e-9);
        Some((s.run.as_secs_f64() / wall, s.wait.as_secs_f64() / wall))
    }

    /// Whether the loop's CPU was its limit ([`BUSY`]) or shared with
    /// other busy work ([`CONTENDED`]).
    fn cpu_bound(&self) -> bool {
        self.shares()
            .is_some_and(|(run, wait)| run + wait >= BUSY || wait >= CONTENDED)
    }
}

/// The batching mode and the probe that decides it (one per loop).
#[derive(Clone, Debug)]
pub struct Batching {
    enabled: bool,              // --batch-wait is not 0
    on: bool,                   // batch now
    phase: Phase,               // probing or settled
    epoch_start: Instant,       // current epoch (probe or rate check)
    epoch_reqs: u64,            // request count at the epoch's start
    epoch_sched: Option<Sched>, // the loop's Sched at the epoch's start (probing)
    settle: Duration,           // how long the last decision holds
    last: Option<bool>,         // the last probe's decision
    pub probes: u64,            // probes finished (stats)
    pub probes_on: u64,         // of which decided on
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
            epoch_sched: None,
            settle: SETTLE,
            last: None,
            probes: 0,
            probes_on: 0,
        };
        if enabled {
            b.start_probe(now, 0, None);
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
    /// requests read so far and `sched` the loop thread's scheduler clock
    /// (read only at a probe epoch's edges); called once per loop
    /// iteration.
    pub fn tick(&mut self, now: Instant, reqs: u64, sched: impl FnOnce() -> Option<Sched>) {
        if !self.enabled {
            return;
        }
        if let Phase::Settled { until, .. } = self.phase {
            if now >= until {
                self.start_probe(now, reqs, sched());
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
                    self.start_probe(now, reqs, sched()); // another load
                }
            }
            Phase::Probe {
                epoch,
                mut on,
                mut off,
            } => {
                let at = sched();
                let spent = at.zip(self.epoch_sched).map(|(b, a)| b.since(a));
                self.epoch_sched = at;
                if n < EPOCH_MIN_REQS {
                    self.start_probe(now, reqs, at); // idle or light: judge what comes
                    return;
                }
                if epoch > 0 {
                    let mode = if self.on { &mut on } else { &mut off };
                    mode.add(n, took, spent);
                }
                let epoch = epoch + 1;
                if epoch <= PROBE_EPOCHS {
                    self.on = Batching::probe_mode(epoch);
                    self.phase = Phase::Probe { epoch, on, off };
                    return;
                }
                self.decide(now, &on, &off);
            }
        }
    }

    fn start_probe(&mut self, now: Instant, reqs: u64, sched: Option<Sched>) {
        self.epoch_start = now;
        self.epoch_reqs = reqs;
        self.epoch_sched = sched;
        self.on = Batching::probe_mode(0);
        self.phase = Phase::Probe {
            epoch: 0,
            on: Tally::new(),
            off: Tally::new(),
        };
    }

    /// Whether a probe's epochs say batch: when it was faster by
    /// [`GAIN`]; or, on a tie (neither faster by `GAIN`) while the loop's
    /// CPU was the limit or contended without it ([`Tally::cpu_bound`]),
    /// when it cost [`CPU_GAIN`] times less CPU per request. Such a
    /// loop's CPU is the scarce thing: on a core shared with other work
    /// (several proxies, or the backends) the same rate at less CPU leaves
    /// the rest to them, and the tie says the clients wait no longer.
    /// Otherwise a tie goes to the lower latency (off): open-loop traffic
    /// runs at the rate its clients set either way.
    fn pays(on: &Tally, off: &Tally) -> bool {
        let (r_on, r_off) = (on.rate(), off.rate());
        if r_on > r_off * GAIN {
            return true;
        }
        let tie = r_on * GAIN >= r_off;
        let cheaper = matches!((on.cpu(), off.cpu()), (Some(a), Some(b)) if a * CPU_GAIN <= b);
        tie && cheaper && off.cpu_bound()
    }

    /// Ends a probe with its decision: the mode holds for the settle
    /// time, which doubles while probes agree.
    fn decide(&mut self, now: Instant, on: &Tally, off: &Tally) {
        let batch = Batching::pays(on, off);
        self.settle = if self.last == Some(batch) {
            (self.settle * 2).min(SETTLE_MAX)
        } else {
            SETTLE
        };
        self.last = Some(batch);
        self.on = batch;
        self.probes += 1;
        self.probes_on += u64::from(batch);
        let us = |t: &Tally| t.cpu().map_or("-".to_string(), |c| format!("{c:.1}"));
        log::debug!(
            "batching {} for {:?}: {:.0} requests/s batching, {:.0} not; CPU {} us/request batching, {} not; not batching: running {}",
            if batch { "on" } else { "off" },
            self.settle,
            on.rate(),
            off.rate(),
            us(on),
            us(off),
            off.shares().map_or("-".to_string(), |(r, w)| format!(
                "{:.0} %, waiting for the CPU {:.0} %",
                r * 100.0,
                w * 100.0
            )),
        );
        self.phase = Phase::Settled {
            until: now + self.settle,
            rate: if batch { on.rate() } else { off.rate() },
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
        cost: Option<Cost>,   // None: no scheduler clock (no schedstat)
        sched: Option<Sched>, // the loop's scheduler clock
    }

    /// The simulated loop's CPU per request, batching and not, and the
    /// share of each ms it waits for its CPU (another process running).
    #[derive(Clone, Copy)]
    struct Cost {
        on_us: f64,
        off_us: f64,
        wait: f64,
    }

    impl Sim {
        fn new(enabled: bool) -> Sim {
            let t = Instant::now();
            Sim {
                b: Batching::new(enabled, t),
                t,
                reqs: 0,
                cost: None,
                sched: None,
            }
        }

        fn with_cost(cost: Cost) -> Sim {
            let mut sim = Sim::new(true);
            sim.cost = Some(cost);
            sim.sched = Some(Sched::default());
            sim
        }

        /// Runs `ms` ms: `on_per_ms` requests a millisecond while it
        /// batches, `off_per_ms` while it does not.
        fn run(&mut self, ms: u64, on_per_ms: u64, off_per_ms: u64) {
            for _ in 0..ms {
                let n = if self.b.on() { on_per_ms } else { off_per_ms };
                self.reqs += n;
                if let (Some(c), Some(s)) = (self.cost, self.sched.as_mut()) {
                    let us = if self.b.on() { c.on_us } else { c.off_us };
                    let run = Duration::from_secs_f64(n as f64 * us / 1e6);
                    s.run += run;
                    s.wait += Duration::from_secs_f64(c.wait / 1e3);
                }
                self.t += Duration::from_millis(1);
                let sched = self.sched;
                self.b.tick(self.t, self.reqs, || sched);
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

    /// One probe's decision with the simulated loop's CPU costs.
    fn decision_at(on_per_ms: u64, off_per_ms: u64, cost: Cost) -> bool {
        let mut sim = Sim::with_cost(cost);
        sim.run(PROBE_MS, on_per_ms, off_per_ms);
        assert_eq!(sim.b.probes, 1);
        sim.b.on()
    }

    #[test]
    fn a_busy_loop_on_a_tie_batches_when_that_saves_cpu() {
        // 100 requests a ms at 5 us each: the loop runs half the time and
        // waits for its shared CPU the other half; batching costs 15 % less
        let shared = Cost {
            on_us: 4.25,
            off_us: 5.0,
            wait: 0.5,
        };
        assert!(decision_at(100, 100, shared));
        assert!(decision_at(99, 100, shared)); // within GAIN: a tie
                                               // throughput first: 10 % slower batching stays off, however cheap
        assert!(!decision_at(90, 100, shared));
        // idle half the time, its CPU its own: the tie goes to the lower
        // latency
        assert!(!decision_at(
            100,
            100,
            Cost {
                wait: 0.0,
                ..shared
            }
        ));
        assert!(!decision_at(
            100,
            100,
            Cost {
                wait: 0.05,
                ..shared
            }
        ));
        // idle 30 % of the time, but waiting for the CPU 20 %:
        // contended, what it saves goes to the other work
        assert!(decision_at(
            100,
            100,
            Cost {
                wait: 0.2,
                ..shared
            }
        ));
        // busy, but batching saves only 2 %
        assert!(!decision_at(
            100,
            100,
            Cost {
                on_us: 4.9,
                ..shared
            }
        ));
        // busy on its own CPU (10 us a request: it runs all the time)
        assert!(decision_at(
            100,
            100,
            Cost {
                on_us: 8.5,
                off_us: 10.0,
                wait: 0.0,
            }
        ));
        // faster still wins whatever the CPU says
        assert!(decision_at(
            110,
            100,
            Cost {
                on_us: 6.0,
                ..shared
            }
        ));
        // without a scheduler clock only the rates count: a tie is off
        assert!(!decision(100, 100).on());
    }

    #[test]
    fn schedstat_parses_or_is_none() {
        let ns = Duration::from_nanos;
        assert_eq!(
            Sched::parse(b"123456789 4567 89\n"),
            Some(Sched {
                run: ns(123_456_789),
                wait: ns(4567)
            })
        );
        assert_eq!(
            Sched::parse(b"18446744073709551615 0"),
            Some(Sched {
                run: ns(u64::MAX),
                wait: ns(0)
            })
        );
        for bad in [
            &b""[..],
            b"12",
            b"x 1 2",
            b"-1 2 3",
            b"1 2.5 3",
            b"\xff\xfe 1",
        ] {
            assert_eq!(Sched::parse(bad), None, "{bad:?}");
        }
        // the loop thread's own clock, where there is one: it only grows
        let mut clock = SchedClock::Unopened;
        if let Some(a) = clock.read() {
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_millis(2) {}
            let b = clock.read().expect("read once, reads again");
            assert!(b.run > a.run, "{a:?} then {b:?}");
            assert!(matches!(clock, SchedClock::Open(_)));
        }
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
        b.tick(t0 + Duration::from_secs(1), 500, || None);
        assert!(b.on()); // epoch 1 of the probe is on
        assert_eq!(b.epoch_reqs, 500);
        assert!(matches!(b.phase, Phase::Probe { epoch: 1, .. }));
    }
}
