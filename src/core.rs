//! The event loop (twemproxy: nc_core.c).
//!
//! `Core` owns every resource of one proxy instance: the mio `Poll`, the
//! listeners, client and server connections (each kind in its own slab,
//! addressed by generation-checked ids), the pools, the message arena, the
//! mbuf pool, the timers and the metrics. Logic lives in the per-kind
//! modules (`conn::listener`, `conn::client`, `conn::server`,
//! `msg::request`, `msg::response`), which take `&mut Core` and an id.
//! The pools are built by `Core::apply` (`core/apply.rs`), which also
//! changes them while the proxy runs (reload), keeping every id that stays.
//!
//! One loop iteration (`Core::step`):
//! 1. wait for events (at most until the next deadline or stats interval;
//!    under unpipelined load first in short naps, see `Core::wait`);
//! 2. dispatch each event: Sentinel connections' first (a `+switch-master`
//!    applies before the requests of the same batch are routed), then the
//!    rest; errors close, reads before writes;
//! 3. clients that hit their per-event request budget, and server
//!    connections that hit their read budget, get another turn;
//! 4. expired timers close their server connections;
//! 5. queued writes are flushed, servers first (one writev batches many
//!    clients' requests; while batching, a server with nothing in flight
//!    may hold a few for more: `Core::hold_server`), then clients (under
//!    unpipelined load a reply that is its client's only one was written
//!    as soon as it was read: `response::reply_now`; a pipelining client's
//!    ready replies may wait briefly for the rest: `Core::hold_client`);
//! 6. deferred closes are reaped, so a slab slot freed in a batch is never
//!    reused within it;
//! 7. metrics are handed to the stats thread (never blocking).
//!
//! # Invariants
//! - a connection id in `pending_send` / `held` / `held_clients` /
//!   `pending_recv` / `pending_srv_recv` / `closing` may be
//!   stale: every use re-checks it;
//! - every closed connection is deregistered before its slot is freed;
//! - a connection is on `closing` at most once (its `closing` flag), and
//!   gone from its slab once reaped (`debug_assert!` in `reap`).

use crate::conf::Conf;
use crate::conn::client::ClientConn;
use crate::conn::listener::{self, Listener};
use crate::conn::sentinel::SentinelConn;
use crate::conn::server::ServerConn;
use crate::conn::{client, sentinel, server, Close};
use crate::mbuf::MbufPool;
use crate::msg::fragment::FragBufs;
use crate::msg::request::Target;
use crate::msg::MsgArena;
use crate::pool::ServerPool;
use crate::proto::Limits;
use crate::signal::Action;
use crate::stats::{BatchWaits, Metrics, PoolLayout, StatsHandle};
use crate::token::{
    self, ClientId, ConnRef, ListenerId, PoolId, SentinelConnId, ServerConnId, Slots,
};
use bytes::BytesMut;
use mio::{Events, Poll};
use slab::Slab;
use std::collections::BTreeSet;
use std::io;
use std::time::{Duration, Instant};

mod apply;
mod batching;
pub use apply::max_clients;
pub use batching::{Batching, Sched, SchedClock};

/// Requests one client may submit per readable event before the others get
/// a turn (memcached's `reqs_per_event`). High enough not to cost
/// pipelined throughput, low enough that a flood cannot starve the loop.
pub const REQS_PER_EVENT: u32 = 1024;

/// What a timer fires for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    Conn(ServerConnId),    // the oldest request awaiting a reply on a connection
    Connect(ServerConnId), // a connect in progress
    Probe(ServerConnId),   // a probe of an ejected server (server_probe)
    Client(ClientId),      // a client paused on unread replies (PENDING_STALL)
    SentinelQuery(SentinelConnId), // a sentinel must have answered every query by then
    SentinelPing(SentinelConnId), // a ready sentinel gets a PING (and must have answered the last)
    SentinelRetry(PoolId), // a pool connects to its next sentinel
}

/// Tunables of one instance (from the command line).
#[derive(Clone, Debug)]
pub struct CoreOpts {
    pub mbuf_size: usize,         // -m
    pub stats_interval: Duration, // -i: longest sleep of the loop
    pub batch_wait: Duration,     // --batch-wait: naps before blocking (ZERO: off)
}

/// One nap of `Core::wait`: long enough for a loaded backend to answer a
/// few requests, short against a loaded request's round trip (~1 ms at 50
/// clients).
pub const NAP: Duration = Duration::from_micros(100);

/// Requests in flight below which the loop never naps: with fewer, replies
/// come too seldom for a nap to gather several (Little's law: 4 in flight
/// at 50 us a round trip is 80,000 requests a second).
pub const NAP_IN_FLIGHT: usize = 4;

/// While batching (see [`Batching`]), a server connection with nothing
/// in flight gets its queued requests once this many have gathered or the
/// oldest has waited [`HOLD_MAX`]: each write then wakes the backend for
/// a batch, not for one or two requests (four redis-servers behind
/// redis-benchmark at 50 clients woke once per three requests and spent
/// 8-10 us of CPU per request; holding for 8 brought that to 4-5 us).
pub const HOLD_BATCH: usize = 8;

/// The longest a held request waits for others (a nap and a half).
pub const HOLD_MAX: Duration = Duration::from_micros(150);

/// The longest a client's ready replies wait for the rest of its
/// pipeline (see `Core::hold_client`): about one loop iteration under
/// pipelined load, when the other servers' replies come in.
pub const REPLY_HOLD_MAX: Duration = Duration::from_micros(150);

/// The shape of the client traffic, from the last batch that read clients:
/// it decides whether waiting for more events pays (see `Core::wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    Pipelined,   // more than 2 requests per client read: batches are big already
    Unpipelined, // one or two requests per client read
}

impl Traffic {
    /// The traffic a batch shows: `reqs` requests from `reads` client events.
    pub fn of(reqs: u64, reads: u64) -> Traffic {
        if reqs <= 2 * reads {
            Traffic::Unpipelined
        } else {
            Traffic::Pipelined
        }
    }

    /// Whether batching can pay on this traffic with `in_flight` requests
    /// awaiting replies: unpipelined, and at least [`NAP_IN_FLIGHT`] of
    /// them (the condition of both the naps and the held server writes).
    pub fn batchable(self, in_flight: usize) -> bool {
        self == Traffic::Unpipelined && in_flight >= NAP_IN_FLIGHT
    }
}

/// How `Core::wait` waits, given the traffic, the requests in flight, the
/// `--batch-wait` budget and the time until the next deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Block,    // epoll_wait until an event or the deadline
    Nap(u32), // up to N naps of NAP, polling after each, then Block
}

impl Wait {
    pub fn choose(traffic: Traffic, in_flight: usize, budget: Duration, timeout: Duration) -> Wait {
        let naps = (budget.min(timeout).as_micros() / NAP.as_micros()) as u32;
        if traffic.batchable(in_flight) && naps > 0 && timeout > NAP {
            Wait::Nap(naps)
        } else {
            Wait::Block
        }
    }
}

/// The nap path of `Core::wait` with a budget of `naps` (from
/// [`Wait::Nap`]): `poll` once, then again after each nap (`sleep`), until
/// a poll finds events (`poll` returns true). Returns whether one did;
/// if not, the caller blocks. Counts what it did into `bw`.
fn nap_path(
    naps: u32,
    bw: &mut BatchWaits,
    mut poll: impl FnMut() -> io::Result<bool>,
    mut sleep: impl FnMut(),
) -> io::Result<bool> {
    bw.waits += 1;
    for nap in 0..=naps {
        if nap > 0 {
            sleep();
            bw.naps += 1;
        }
        if poll()? {
            return Ok(true);
        }
    }
    bw.misses += 1;
    Ok(false)
}

/// Returns free heap pages to the system. glibc's `free` only gives back
/// the top of the heap, so the chunks of a spike (thousands of connections'
/// read buffers) would otherwise stay resident below longer-lived ones.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn heap_trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it
    // takes no pointers and is safe to call at any time.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_trim() {}

/// Makes this thread's timed sleeps end on time: Linux lets a timer of a
/// normal thread fire up to 50 us late (timer slack), half a [`NAP`].
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn precise_naps() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer (nanoseconds) and
    // changes only the calling thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong) };
}

#[cfg(not(target_os = "linux"))]
fn precise_naps() {}

/// Owns everything (twemproxy: struct context).
#[derive(Debug)]
pub struct Core {
    pub poll: Poll,                             // mio reactor
    pub traffic: Traffic,                       // shape of the last client batch (Core::wait)
    pub batch_waits: BatchWaits,                // what Core::wait's naps did (stats)
    pub batching: Batching,                     // whether to nap and hold now (probed)
    pub sched: SchedClock,                      // the loop thread's CPU and wait (Batching)
    pub listeners: Slab<Listener>,              // nc_proxy
    pub clients: Slab<ClientConn>,              // nc_client
    pub servers: Slab<ServerConn>,              // nc_server connections
    pub sentinels: Slab<SentinelConn>,          // Redis Sentinel connections (issue 13)
    pub pools: Slots<PoolId, ServerPool>,       // by stable id
    pub pool_order: Vec<PoolId>,                // configuration order: start, stats
    pub msgs: MsgArena,                         // requests (free_msgq)
    pub mbufs: MbufPool,                        // read chunks (free_mbufq)
    pub arena: BytesMut,                        // the read chunk every socket reads into
    pub iov: crate::sock::IovBuf,               // writev slices, reused
    pub timers: BTreeSet<(Instant, Timer)>,     // deadlines (tmo_rbt)
    pub closing: Vec<(ConnRef, Close)>,         // deferred closes
    pub pending_send: Vec<ConnRef>,             // conns with queued output
    pub flushing: Vec<ConnRef>,                 // pending_send being flushed (capacity reuse)
    pub held: Vec<ServerConnId>,                // idle servers holding requests (HOLD_BATCH)
    pub held_clients: Vec<(ClientId, Instant)>, // clients holding ready replies, since (REPLY_HOLD_MAX)
    pub rehold: Vec<(ClientId, Instant)>,       // held_clients being flushed (capacity reuse)
    pub pending_recv: Vec<ClientId>,            // clients over their budget
    pub pending_srv_recv: Vec<ServerConnId>,    // server conns over their read budget
    pub metrics: Metrics,                       // plain counters for stats
    pub stats: Option<StatsHandle>,             // hand-off to the stats thread
    pub limits: Limits,                         // response parser bounds
    pub opts: CoreOpts,
    pub now: Instant,                      // time of the current batch
    pub gen: u32,                          // generation counter for conns
    pub nclients: usize,                   // client connections, all pools
    pub max_clients: usize,                // from RLIMIT_NOFILE and the pools (§CONN.9)
    pub started: bool,                     // listeners bound (`start`)
    pub scratch: Vec<u8>,                  // key bytes straddling chunks
    pub frag: FragBufs<Target>,            // fragmenting a multi-key request, reused
    pub last_trim: Instant,                // last free-list trim
    pub draining: crate::reload::Draining, // what the last reloads left to finish
    pub ls: crate::loopstats::LoopStats,   // latency breakdown (feature loop-stats)
}

impl Core {
    /// Builds pools and the reactor; binds nothing yet.
    pub fn new(conf: Conf, opts: CoreOpts, stats: Option<StatsHandle>) -> io::Result<Core> {
        let now = Instant::now();
        if !opts.batch_wait.is_zero() {
            precise_naps();
        }
        let mut mbufs = MbufPool::new(opts.mbuf_size);
        let arena = mbufs.get();
        let mut core = Core {
            poll: Poll::new()?,
            traffic: Traffic::Pipelined,
            batch_waits: BatchWaits::default(),
            batching: Batching::new(!opts.batch_wait.is_zero(), now),
            sched: SchedClock::Unopened,
            listeners: Slab::new(),
            clients: Slab::new(),
            servers: Slab::new(),
            sentinels: Slab::new(),
            pools: Slots::default(),
            pool_order: Vec::new(),
            msgs: MsgArena::default(),
            mbufs,
            arena,
            iov: crate::sock::IovBuf::new(),
            timers: BTreeSet::new(),
            closing: Vec::new(),
            pending_send: Vec::new(),
            flushing: Vec::new(),
            held: Vec::new(),
            held_clients: Vec::new(),
            rehold: Vec::new(),
            pending_recv: Vec::new(),
            pending_srv_recv: Vec::new(),
            metrics: Metrics::new(&[]),
            stats,
            limits: Limits::default(),
            opts,
            now,
            gen: 0,
            nclients: 0,
            max_clients: 1,
            started: false,
            scratch: Vec::new(),
            frag: FragBufs::default(),
            last_trim: now,
            ls: crate::loopstats::LoopStats::new(),
            draining: Default::default(),
        };
        // Nothing is bound before `start`, so this cannot fail yet.
        core.apply(conf).map_err(io::Error::other)?;
        Ok(core)
    }

    /// Pools and their servers with their ids, in stats order (§STATS.3):
    /// pools in configuration order, each as its pool lays itself out.
    pub fn stats_layout(&self) -> Vec<PoolLayout> {
        self.pool_order
            .iter()
            .map(|&id| self.pools[id].stats_layout())
            .collect()
    }

    /// Preconnects (§CONN.5) and binds every pool's listener (§CONN.1), in
    /// pool order; the first bind failure is returned.
    pub fn start(&mut self) -> Result<(), String> {
        for p in self.pool_order.clone() {
            if self.pools[p].conf.preconnect {
                self.preconnect(p);
            }
        }
        self.started = true;
        sentinel::start(self);
        for p in self.pool_order.clone() {
            listener::bind(self, p)?;
        }
        Ok(())
    }

    /// Connects to every server of pool `p` that has no open connection
    /// (§CONN.5; a reload does it for servers it adds).
    pub fn preconnect(&mut self, p: PoolId) {
        for s in self.pools[p].order.clone() {
            let srv = &self.pools[p].servers[s];
            if srv.conns.iter().chain(&srv.conns3).any(Option::is_some) {
                continue;
            }
            let (lane, resp) = (server::Lease::Lane(0), crate::proto::redis::Resp::Resp2);
            if let Err(e) = server::connect(self, p, s, lane, resp) {
                log::warn!(
                    "connect to server '{}' failed, ignored: {}",
                    self.pools[p].servers[s].pname,
                    crate::sock::strerror(e.0)
                );
            }
        }
    }

    /// Runs until `signals()` says to exit; between two iterations, reloads
    /// the configuration file `conf_path` when it says so (`crate::reload`).
    /// The loop's log lines are written once per iteration
    /// (`log::batch_begin`).
    pub fn run(&mut self, conf_path: &str, mut signals: impl FnMut() -> Action) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        crate::log::batch_begin();
        let r = loop {
            if let Err(e) = self.step(&mut events) {
                break Err(e);
            }
            let action = signals();
            if action == Action::Reload {
                crate::reload::reload(self, conf_path);
            }
            crate::log::flush();
            if action == Action::Exit {
                break Ok(());
            }
        };
        crate::log::batch_end();
        self.ls.report();
        r
    }

    /// One iteration of the loop (see the module doc).
    pub fn step(&mut self, events: &mut Events) -> io::Result<()> {
        let timeout = self.poll_timeout();
        self.ls.poll_enter();
        match self.wait(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        self.now = Instant::now();
        let sched = &mut self.sched;
        self.batching
            .tick(self.now, self.msgs.allocated(), || sched.read());
        self.ls.batch_start(self.now, events.iter().count());
        let allocated = self.msgs.allocated();
        let mut client_reads = 0;
        if !self.sentinels.is_empty() {
            // Topology news first: a request that came in the same batch as a
            // +switch-master (a nap makes that likelier) goes to the new master.
            for ev in events.iter() {
                if let Some(ConnRef::Sentinel(s)) = token::decode(ev.token()) {
                    sentinel::on_event(self, s, ev);
                }
            }
        }
        for ev in events.iter() {
            match token::decode(ev.token()) {
                Some(ConnRef::Listener(l)) => listener::on_event(self, l),
                Some(ConnRef::Client(c)) => {
                    client_reads += 1;
                    client::on_event(self, c, ev)
                }
                Some(ConnRef::Server(s)) => server::on_event(self, s, ev),
                Some(ConnRef::Sentinel(_)) | None => {}
            }
        }
        for c in std::mem::take(&mut self.pending_recv) {
            client::on_readable(self, c);
        }
        for s in std::mem::take(&mut self.pending_srv_recv) {
            server::on_readable(self, s, false);
        }
        if client_reads > 0 {
            self.traffic = Traffic::of(self.msgs.allocated() - allocated, client_reads);
        }
        self.expire_timers();
        server::server_probe_due(self);
        if !self.draining.is_empty() {
            crate::reload::sweep(self);
        }
        self.reap();
        self.flush();
        self.reap();
        self.ls.batch_end();
        if self.now.duration_since(self.last_trim)
            >= self.opts.stats_interval.max(Duration::from_millis(100))
        {
            self.last_trim = self.now;
            self.trim();
        }
        if let Some(st) = self.stats.as_mut() {
            st.swap(&mut self.metrics);
            st.set_buffers(
                self.msgs.nlive() as u64,
                self.mbufs.nfree() as u64,
                self.mbufs.nalloc,
            );
            st.set_batch_waits(&BatchWaits {
                probes: self.batching.probes,
                probes_on: self.batching.probes_on,
                ..self.batch_waits
            });
        }
        Ok(())
    }

    /// Gives memory taken by a load spike back, a step per stats interval:
    /// halves the free lists toward their baselines, drops the vacant tail
    /// of the client slab and returns free heap pages to the system
    /// (issue 8.5: RSS back to baseline).
    fn trim(&mut self) {
        self.mbufs.trim();
        self.msgs.trim(1024);
        if self.clients.capacity() > 2 * self.clients.len().max(64) {
            self.clients.shrink_to_fit();
        }
        heap_trim();
    }

    /// Waits for readiness events (at most `timeout`).
    ///
    /// Every time the loop blocks in epoll_wait, the next socket write that
    /// concerns it has to wake it: on a virtual machine that is an
    /// interrupt sent by the writer's CPU, which on a host running its
    /// backends and clients next to the proxy is the busy one. Under
    /// unpipelined load (issue 18: redis-benchmark -P 1) the loop blocked
    /// about once per 4 requests, so redis and the clients read and wrote
    /// in small batches and paid a wake-up each. When requests are in
    /// flight and clients send one at a time (and [`Batching`] found that
    /// batching pays), the loop first naps for [`NAP`] (a timer on its own
    /// CPU; a write to one of its sockets wakes nobody) and polls without
    /// blocking, up to `--batch-wait` in all, and blocks only when a whole
    /// budget of naps found nothing: replies and requests then go out in
    /// larger batches, at a cost in latency of at most one nap per hop
    /// while the proxy is loaded, and none when it is idle, lightly loaded
    /// or pipelined. `batch_waits` counts the
    /// nap paths, the naps and the budgets that found nothing, for the
    /// stats (whether the naps pay off on this traffic).
    fn wait(&mut self, events: &mut Events, timeout: Duration) -> io::Result<()> {
        let budget = if self.batching.on() {
            self.opts.batch_wait
        } else {
            Duration::ZERO
        };
        let wait = Wait::choose(self.traffic, self.msgs.nlive(), budget, timeout);
        if let Wait::Nap(naps) = wait {
            let Core {
                poll, batch_waits, ..
            } = self;
            let poll_now = || {
                poll.poll(events, Some(Duration::ZERO))?;
                Ok(!events.is_empty())
            };
            if nap_path(naps, batch_waits, poll_now, || std::thread::sleep(NAP))? {
                return Ok(());
            }
        }
        self.poll.poll(events, Some(timeout))
    }

    fn poll_timeout(&self) -> Duration {
        if !self.pending_recv.is_empty()
            || !self.pending_srv_recv.is_empty()
            || !self.pending_send.is_empty()
            || !self.closing.is_empty()
        {
            return Duration::ZERO;
        }
        let mut t = self.opts.stats_interval.min(Duration::from_secs(1));
        if !self.held.is_empty() {
            t = t.min(HOLD_MAX);
        }
        if !self.held_clients.is_empty() {
            t = t.min(REPLY_HOLD_MAX);
        }
        if let Some(&(when, _)) = self.timers.first() {
            t = t.min(when.saturating_duration_since(Instant::now()) + Duration::from_micros(500));
        }
        for when in self.pools.iter().filter_map(|(_, p)| p.probe_at()) {
            t = t.min(when.saturating_duration_since(Instant::now()) + Duration::from_millis(1));
        }
        t
    }

    /// Closes every server connection whose oldest request (or connect)
    /// passed its deadline (§FAIL.3).
    ///
    /// A connection has at most one request timer armed, for the head of
    /// its `omsg_q`: deadlines there never decrease (one timeout per pool,
    /// FIFO writes), so a reply needs no timer removal; when the timer
    /// fires for a head that has since been answered, it is re-armed for
    /// the new head. That keeps the tree small and O(1) work per request.
    fn expire_timers(&mut self) {
        while let Some(&(when, t)) = self.timers.first() {
            if when > self.now {
                break;
            }
            self.timers.pop_first();
            match t {
                Timer::Connect(s) => {
                    if self.server(s).is_some_and(|c| !c.connected) {
                        self.close_later(ConnRef::Server(s), Close::Timeout);
                    }
                }
                Timer::Probe(s) => {
                    if server::probe_pending(self, s) {
                        self.close_later(ConnRef::Server(s), Close::Timeout);
                    }
                }
                Timer::Client(c) => client::pending_expired(self, c, when),
                Timer::SentinelQuery(s) => sentinel::query_due(self, s),
                Timer::SentinelPing(s) => sentinel::ping_due(self, s),
                Timer::SentinelRetry(p) => sentinel::retry_due(self, p),
                Timer::Conn(s) => {
                    let Core { servers, msgs, .. } = self;
                    let Some(c) = servers.get_mut(s.idx as usize).filter(|c| c.gen == s.gen) else {
                        continue;
                    };
                    c.tmo_armed = false;
                    let head = c
                        .omsg_q
                        .iter()
                        .find_map(|m| msgs.get(*m).and_then(|m| m.deadline));
                    match head {
                        Some(d) if d <= self.now => {
                            self.close_later(ConnRef::Server(s), Close::Timeout)
                        }
                        Some(d) => {
                            c.tmo_armed = true;
                            self.timers.insert((d, Timer::Conn(s)));
                        }
                        None => {}
                    }
                }
            }
        }
    }

    /// Writes everything queued: servers first, then clients.
    fn flush(&mut self) {
        // Twice: server sends may complete client replies (errors). The
        // two vectors trade places, so no pass allocates.
        for _ in 0..2 {
            if self.pending_send.is_empty() && self.held.is_empty() && self.held_clients.is_empty()
            {
                return;
            }
            let mut pend = std::mem::take(&mut self.flushing);
            std::mem::swap(&mut pend, &mut self.pending_send);
            pend.extend(self.held.drain(..).map(ConnRef::Server));
            let mut rehold = std::mem::take(&mut self.rehold);
            std::mem::swap(&mut rehold, &mut self.held_clients);
            let hold = self.batching.on() && self.traffic.batchable(self.msgs.nlive());
            // Servers first (their requests reach the backends sooner),
            // then clients, each in the order they were queued.
            for c in &pend {
                if let ConnRef::Server(s) = *c {
                    if !self.hold_server(s, hold) {
                        server::send(self, s);
                    }
                }
            }
            // A client whose reply went out at once (response::reply_now)
            // has its flag cleared already: nothing left to send. Clients
            // held before keep the time their hold began.
            let now = self.now;
            let clients = rehold
                .drain(..)
                .chain(pend.drain(..).filter_map(|c| match c {
                    ConnRef::Client(c) => Some((c, now)),
                    _ => None,
                }));
            for (c, since) in clients {
                if self.client(c).is_some_and(|x| x.pending_send) && !self.hold_client(c, since) {
                    client::send(self, c);
                }
            }
            self.rehold = rehold;
            self.flushing = pend;
        }
    }

    /// Whether server connection `s` keeps its queued requests for now
    /// (see [`HOLD_BATCH`]): only while `hold` (batching, unpipelined,
    /// loaded), only a connection with nothing in flight (one that is
    /// answering is awake: writing to it wakes nobody) and fewer than
    /// `HOLD_BATCH` requests queued, and for at most `HOLD_MAX`. A held
    /// connection goes on `held`, its `pending_send` flag still set.
    fn hold_server(&mut self, s: ServerConnId, hold: bool) -> bool {
        let now = self.now;
        let Some(c) = self.server(s) else {
            return false;
        };
        if hold
            && c.connected
            && !c.closing
            && !c.blocked
            && c.omsg_q.is_empty()
            && !c.imsg_q.is_empty()
            && c.imsg_q.len() < HOLD_BATCH
        {
            let since = *c.held_since.get_or_insert(now);
            if now.saturating_duration_since(since) < HOLD_MAX {
                self.held.push(s);
                return true;
            }
        }
        c.held_since = None;
        false
    }

    /// Whether client `id` keeps its ready replies for now: only while the
    /// requests after them are still out at the servers (a pipeline whose
    /// replies come from several servers completes over two or three loop
    /// iterations; written as they come, it took 1.7 writes per 32
    /// requests, and clients that pipeline in batches wait for the last
    /// reply anyway), for at most [`REPLY_HOLD_MAX`], never for a client
    /// on a dedicated connection (transaction, blocking command, Pub/Sub),
    /// and not at all with `--batch-wait=0`. A held client goes on
    /// `held_clients` with `since`, when its hold began, its `pending_send`
    /// flag still set (so it is on no other list: no state in the client).
    fn hold_client(&mut self, id: ClientId, since: Instant) -> bool {
        let (now, batch_wait) = (self.now, self.opts.batch_wait);
        let Core { clients, msgs, .. } = self;
        let Some(c) = clients.get_mut(id.idx as usize).filter(|c| c.gen == id.gen) else {
            return false;
        };
        if !batch_wait.is_zero()
            && !c.closing
            && !c.blocked
            && c.ext.as_ref().is_none_or(|e| e.ded.conn.is_none())
            && client::replies_wait_behind(c, msgs)
            && now.saturating_duration_since(since) < REPLY_HOLD_MAX
        {
            self.held_clients.push((id, since));
            return true;
        }
        false
    }

    /// Records that a connection must close; `reap` does it after the batch.
    pub fn close_later(&mut self, c: ConnRef, why: Close) {
        let flagged = match c {
            ConnRef::Client(id) => self
                .client(id)
                .map(|x| std::mem::replace(&mut x.closing, true)),
            ConnRef::Server(id) => self
                .server(id)
                .map(|x| std::mem::replace(&mut x.closing, true)),
            ConnRef::Sentinel(id) => self
                .sentinel(id)
                .map(|x| std::mem::replace(&mut x.closing, true)),
            ConnRef::Listener(_) => None,
        };
        if flagged == Some(false) {
            self.closing.push((c, why));
        }
    }

    /// Tears down the connections recorded by `close_later`.
    pub fn reap(&mut self) {
        while !self.closing.is_empty() {
            for (c, why) in std::mem::take(&mut self.closing) {
                match c {
                    ConnRef::Client(id) => {
                        client::close(self, id, why);
                        debug_assert!(self.client(id).is_none(), "a reaped client stays");
                    }
                    ConnRef::Server(id) => {
                        server::close(self, id, why);
                        debug_assert!(self.server(id).is_none(), "a reaped server stays");
                    }
                    ConnRef::Sentinel(id) => {
                        sentinel::close(self, id, why);
                        debug_assert!(self.sentinel(id).is_none(), "a reaped sentinel stays");
                    }
                    ConnRef::Listener(_) => {}
                }
            }
        }
    }

    /// Queues a connection for the end-of-batch write flush.
    pub fn want_send(&mut self, c: ConnRef) {
        let first = match c {
            ConnRef::Client(id) => self
                .client(id)
                .map(|x| !std::mem::replace(&mut x.pending_send, true)),
            ConnRef::Server(id) => self
                .server(id)
                .map(|x| !std::mem::replace(&mut x.pending_send, true)),
            ConnRef::Listener(_) | ConnRef::Sentinel(_) => None,
        };
        if first == Some(true) {
            self.pending_send.push(c);
        }
    }

    pub fn client(&mut self, id: ClientId) -> Option<&mut ClientConn> {
        self.clients
            .get_mut(id.idx as usize)
            .filter(|c| c.gen == id.gen)
    }

    pub fn server(&mut self, id: ServerConnId) -> Option<&mut ServerConn> {
        self.servers
            .get_mut(id.idx as usize)
            .filter(|c| c.gen == id.gen)
    }

    pub fn sentinel(&mut self, id: SentinelConnId) -> Option<&mut SentinelConn> {
        self.sentinels
            .get_mut(id.idx as usize)
            .filter(|c| c.gen == id.gen)
    }

    pub fn listener(&mut self, id: ListenerId) -> Option<&mut Listener> {
        self.listeners
            .get_mut(id.idx as usize)
            .filter(|c| c.gen == id.gen)
    }

    /// A fresh connection generation.
    pub fn next_gen(&mut self) -> u32 {
        token::next_gen(&mut self.gen)
    }

    /// Arms a timer.
    pub fn timer_add(&mut self, when: Instant, t: Timer) {
        self.timers.insert((when, t));
    }

    /// A connection object was created (stats header, §STATS.3).
    pub fn stats_conn_open(&mut self) {
        if let Some(st) = self.stats.as_ref() {
            st.conn_created();
        }
    }

    /// A connection object went away.
    pub fn stats_conn_close(&mut self) {
        if let Some(st) = self.stats.as_ref() {
            st.conn_closed();
        }
    }
}

#[cfg(test)]
mod wait_tests {
    use super::*;

    const BUDGET: Duration = Duration::from_micros(400);
    const LONG: Duration = Duration::from_secs(1);

    #[test]
    fn traffic_shape_from_requests_per_read() {
        assert_eq!(Traffic::of(50, 50), Traffic::Unpipelined);
        assert_eq!(Traffic::of(2, 1), Traffic::Unpipelined);
        assert_eq!(Traffic::of(3, 1), Traffic::Pipelined);
        assert_eq!(Traffic::of(32 * 50, 50), Traffic::Pipelined);
        assert_eq!(Traffic::of(0, 3), Traffic::Unpipelined); // reads that closed
    }

    /// Runs `nap_path` with a budget of `naps` against polls that find
    /// events from the `found_at`-th on (0: the first); returns whether it
    /// found them and the naps actually slept.
    fn nap_run(naps: u32, found_at: Option<u32>, bw: &mut BatchWaits) -> (bool, u64) {
        let (mut polls, mut slept) = (0, 0);
        let poll = || {
            polls += 1;
            Ok(found_at.is_some_and(|at| polls > at))
        };
        let found = nap_path(naps, bw, poll, || slept += 1).unwrap();
        (found, slept)
    }

    #[test]
    fn nap_path_counts_waits_naps_and_misses() {
        let mut bw = BatchWaits::default();
        // events at once: a wait, no nap, no miss
        assert_eq!(nap_run(4, Some(0), &mut bw), (true, 0));
        assert_eq!(
            bw,
            BatchWaits {
                waits: 1,
                naps: 0,
                misses: 0,
                ..BatchWaits::default()
            }
        );
        // events after the second nap
        assert_eq!(nap_run(4, Some(2), &mut bw), (true, 2));
        assert_eq!(
            bw,
            BatchWaits {
                waits: 2,
                naps: 2,
                misses: 0,
                ..BatchWaits::default()
            }
        );
        // events at the last poll of the budget: still a hit
        assert_eq!(nap_run(4, Some(4), &mut bw), (true, 4));
        assert_eq!(
            bw,
            BatchWaits {
                waits: 3,
                naps: 6,
                misses: 0,
                ..BatchWaits::default()
            }
        );
        // nothing within the budget: every nap slept, one miss
        assert_eq!(nap_run(4, Some(5), &mut bw), (false, 4));
        assert_eq!(nap_run(1, None, &mut bw), (false, 1));
        assert_eq!(
            bw,
            BatchWaits {
                waits: 5,
                naps: 11,
                misses: 2,
                ..BatchWaits::default()
            }
        );
        assert!(bw.misses <= bw.waits && bw.misses <= bw.naps);
    }

    #[test]
    fn nap_path_error_ends_it_uncounted_as_a_miss() {
        let mut bw = BatchWaits::default();
        let mut polls = 0;
        let poll = || {
            polls += 1;
            if polls == 2 {
                Err(io::ErrorKind::Interrupted.into())
            } else {
                Ok(false)
            }
        };
        let r = nap_path(4, &mut bw, poll, || {});
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::Interrupted);
        assert_eq!(
            bw,
            BatchWaits {
                waits: 1,
                naps: 1,
                misses: 0,
                ..BatchWaits::default()
            }
        );
    }

    #[test]
    fn naps_only_for_loaded_unpipelined_traffic() {
        use Traffic::*;
        let us = Duration::from_micros;
        let cases = [
            // traffic, in flight, --batch-wait, deadline, wait
            (Unpipelined, 50, BUDGET, LONG, Wait::Nap(4)),
            (Unpipelined, NAP_IN_FLIGHT, BUDGET, LONG, Wait::Nap(4)),
            // lightly loaded: a reply is not worth waiting for
            (Unpipelined, NAP_IN_FLIGHT - 1, BUDGET, LONG, Wait::Block),
            (Pipelined, 1600, BUDGET, LONG, Wait::Block),
            // --batch-wait=0 turns it off; a budget under one nap too
            (Unpipelined, 50, Duration::ZERO, LONG, Wait::Block),
            (Unpipelined, 50, us(99), LONG, Wait::Block),
            (Unpipelined, 50, us(250), LONG, Wait::Nap(2)),
            // a deadline (timer, pending work) within a nap: no nap
            (Unpipelined, 50, BUDGET, Duration::ZERO, Wait::Block),
            (Unpipelined, 50, BUDGET, NAP, Wait::Block),
            // and no napping past the deadline
            (Unpipelined, 50, BUDGET, us(250), Wait::Nap(2)),
        ];
        for (traffic, in_flight, budget, deadline, want) in cases {
            assert_eq!(
                Wait::choose(traffic, in_flight, budget, deadline),
                want,
                "{traffic:?} {in_flight} {budget:?} {deadline:?}"
            );
        }
    }
}
