//! The stats thread (twemproxy: `stats_loop`, `stats_aggregate`,
//! `stats_send_rsp`, `stats_listen`, `stats_swap`).
//!
//! A plain `std::thread` owning the stats listener and the *sum*. It waits
//! up to `-i` ms for a connection (mio poll), folds every pending hand-off
//! into the sum on each wake-up, then serves each waiting client in turn:
//! Prometheus text if the client sent `GET /metrics HTTP/1.x` within
//! [`SNIFF_TIMEOUT`], the JSON document otherwise (§STATS.2). Writes are
//! blocking with [`WRITE_TIMEOUT`], so a stuck client delays the thread
//! but never stops it. The thread ends at its next wake-up once the
//! [`StatsHandle`] is dropped.
//!
//! # Invariants
//! - exactly two delta buffers circulate: `Metrics.cur` and one other that
//!   is in the channel, in the aggregator, or the handle's `spare`; so the
//!   loop's `try_send` finds room whenever it holds the spare;
//! - the loop side (`swap`, `conn_created`, `conn_closed`) never blocks.

use super::render::{self, Header};
use super::{BatchWaits, Layout, Metrics, PoolLayout, Snapshot};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{fmt, mem, thread};

/// How long a stats client may take to send its request line.
pub const SNIFF_TIMEOUT: Duration = Duration::from_millis(100);
/// How long a stats client may take to accept the whole reply.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest request read from a stats client.
const MAX_REQUEST: usize = 1024;
/// The request that selects the Prometheus exposition.
const PROMETHEUS_GET: &[u8] = b"GET /metrics HTTP/1.";

/// A fatal stats start-up failure; `Display` is the §STATS.1 log line.
#[derive(Debug)]
pub enum StatsError {
    /// `-a`/`-s` did not resolve.
    Resolve {
        addr: String,
        port: u16,
        reason: String,
    },
    /// No socket could be created.
    Socket { reason: String },
    /// The address could not be bound (or listened on).
    Bind {
        fd: i32,
        addr: String,
        port: u16,
        reason: String,
    },
    /// The poller or the thread could not be created.
    Thread { reason: String },
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsError::Resolve { addr, port, reason } => {
                write!(
                    f,
                    "address resolution of node '{addr}' service '{port}' failed: {reason}"
                )
            }
            StatsError::Socket { reason } => write!(f, "socket failed: {reason}"),
            StatsError::Bind {
                fd,
                addr,
                port,
                reason,
            } => {
                write!(
                    f,
                    "bind on m {fd} to stats server addr '{addr}:{port}' failed: {reason}"
                )
            }
            StatsError::Thread { reason } => write!(f, "stats thread failed: {reason}"),
        }
    }
}

impl std::error::Error for StatsError {}

/// `strerror` text of an OS error (io::Error's Display without ` (os error N)`).
fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Connection objects ever created and alive, read live by the stats thread.
#[derive(Debug, Default)]
struct ConnCounts {
    total: AtomicU64,             // total_connections
    curr: AtomicU64,              // curr_connections
    msgs: AtomicU64,              // requests alive in the loop (Prometheus only)
    mfree: AtomicU64,             // read chunks on the free list (Prometheus only)
    malloc: AtomicU64,            // read chunks ever allocated (Prometheus only)
    reloads: AtomicU64,           // configuration reloads applied (SIGUSR1)
    reloads_failed: AtomicU64,    // reloads rejected, old configuration kept
    batch_waits: AtomicU64,       // BatchWaits::waits, a running total
    batch_wait_naps: AtomicU64,   // BatchWaits::naps
    batch_wait_misses: AtomicU64, // BatchWaits::misses
    batch_probes: AtomicU64,      // BatchWaits::probes
    batch_probes_on: AtomicU64,   // BatchWaits::probes_on
}

/// The event loop's end of the stats thread (twemproxy: `struct stats`, loop side).
#[derive(Debug)]
pub struct StatsHandle {
    tx: SyncSender<Snapshot>,    // deltas to the aggregator (capacity 1)
    free_rx: Receiver<Snapshot>, // zeroed buffers coming back
    spare: Option<Snapshot>,     // the buffer to swap in next, if we hold it
    conns: Arc<ConnCounts>,      // live header values
    local_addr: SocketAddr,      // where the stats listener is bound
}

impl StatsHandle {
    /// Hands the deltas in `m` to the stats thread if it has taken the
    /// previous ones (§STATS.5); otherwise keeps accumulating. Never blocks.
    pub fn swap(&mut self, m: &mut Metrics) {
        if !m.modified {
            return;
        }
        if self.spare.is_none() {
            self.spare = self.free_rx.try_recv().ok();
        }
        let Some(mut spare) = self.spare.take() else {
            return; // aggregator busy: skip this swap
        };
        if !spare.fits(&m.layout) {
            spare.reshape(&m.layout); // allocates only after a layout change
        }
        let mut deltas = mem::replace(&mut m.cur, spare);
        if m.relaid {
            deltas.layout = Some(Box::new(m.layout.clone()));
        }
        match self.tx.try_send(deltas) {
            Ok(()) => {
                m.modified = false;
                m.relaid = false;
            }
            Err(TrySendError::Full(mut deltas) | TrySendError::Disconnected(mut deltas)) => {
                deltas.layout = None;
                self.spare = Some(mem::replace(&mut m.cur, deltas));
            }
        }
    }

    /// Counts a new connection object (listener, client, or backend attempt).
    pub fn conn_created(&self) {
        self.conns.total.fetch_add(1, Ordering::Relaxed);
        self.conns.curr.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection object gone.
    pub fn conn_closed(&self) {
        let dec = |c: u64| Some(c.saturating_sub(1));
        let _ = self
            .conns
            .curr
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, dec);
    }

    /// Publishes the loop's buffer counts (`nutcracker_msgs_live`,
    /// `nutcracker_mbufs_free`, `nutcracker_mbufs_allocated` in /metrics), so
    /// tests and operators can see memory return to its baseline.
    pub fn set_buffers(&self, msgs: u64, mbufs_free: u64, mbufs_alloc: u64) {
        self.conns.msgs.store(msgs, Ordering::Relaxed);
        self.conns.mfree.store(mbufs_free, Ordering::Relaxed);
        self.conns.malloc.store(mbufs_alloc, Ordering::Relaxed);
    }

    /// Publishes the loop's `--batch-wait` totals (`Core::wait`).
    pub fn set_batch_waits(&self, bw: &BatchWaits) {
        self.conns.batch_waits.store(bw.waits, Ordering::Relaxed);
        self.conns.batch_wait_naps.store(bw.naps, Ordering::Relaxed);
        self.conns
            .batch_wait_misses
            .store(bw.misses, Ordering::Relaxed);
        self.conns.batch_probes.store(bw.probes, Ordering::Relaxed);
        self.conns
            .batch_probes_on
            .store(bw.probes_on, Ordering::Relaxed);
    }

    /// Counts a configuration reload, applied or rejected.
    pub fn reloaded(&self, applied: bool) {
        let c = if applied {
            &self.conns.reloads
        } else {
            &self.conns.reloads_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Where the stats listener is bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

/// The stats thread's state (twemproxy: `struct stats`, aggregator side).
struct Aggregator {
    listener: TcpListener,         // non-blocking, registered with `poll`
    poll: Poll,                    // waits for connections, up to `interval`
    interval: Duration,            // -i
    layout: Layout,                // pool and server names
    sum: Snapshot,                 // everything folded so far
    rx: Receiver<Snapshot>,        // deltas from the loop
    free_tx: SyncSender<Snapshot>, // zeroed buffers back to the loop
    conns: Arc<ConnCounts>,        // live header values
    source: String,                // hostname
    start: Instant,                // for uptime
}

/// The hostname for `"source"`: `gethostname()`, at most 255 bytes,
/// `unknown` if it fails (§STATS.3).
#[allow(unsafe_code)] // the one libc call std does not wrap
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of `buf.len() - 1` bytes and outlives
    // the call; the last byte stays 0, so the result is always terminated.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return String::from("unknown");
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Resolves and binds the stats listener (§STATS.1).
fn stats_listen(addr: &str, port: u16) -> Result<TcpListener, StatsError> {
    let resolve_err = |reason: String| StatsError::Resolve {
        addr: addr.to_string(),
        port,
        reason,
    };
    let mut addrs = (addr, port).to_socket_addrs().map_err(|e| {
        let text = strerror(&e);
        let prefix = "failed to lookup address information: ";
        resolve_err(text.strip_prefix(prefix).unwrap_or(&text).to_string())
    })?;
    let sa = addrs
        .next()
        .ok_or_else(|| resolve_err("no address".to_string()))?;
    // std::net binds with SO_REUSEADDR set; a failure has already closed
    // the socket, whose descriptor was the lowest free one.
    TcpListener::bind(sa).map_err(|e| {
        let reason = strerror(&e);
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::EAFNOSUPPORT | libc::ENOBUFS) => {
                StatsError::Socket { reason }
            }
            _ => {
                let fd = std::fs::File::open("/dev/null").map_or(-1, |f| f.as_raw_fd());
                StatsError::Bind {
                    fd,
                    addr: addr.to_string(),
                    port,
                    reason,
                }
            }
        }
    })
}

/// Binds the stats listener on `addr`:`port` (0 picks a free port) and
/// starts the stats thread, which aggregates every `interval_ms` (-i).
/// `layout` lists pools and their server names in stats order; `source` is
/// the hostname for the documents (see [`hostname`]).
pub fn spawn(
    addr: &str,
    port: u16,
    interval_ms: u64,
    layout: &[PoolLayout],
    source: &str,
) -> Result<StatsHandle, StatsError> {
    let start = Instant::now();
    let listener = stats_listen(addr, port)?;
    let thread_err = |e: io::Error| StatsError::Thread {
        reason: strerror(&e),
    };
    let local_addr = listener.local_addr().map_err(thread_err)?;
    listener.set_nonblocking(true).map_err(thread_err)?;
    let poll = Poll::new().map_err(thread_err)?;
    let fd = listener.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), Token(0), Interest::READABLE)
        .map_err(thread_err)?;
    let layout = Layout::new(layout);
    let (tx, rx) = sync_channel(1);
    let (free_tx, free_rx) = sync_channel(1);
    let conns = Arc::new(ConnCounts::default());
    let agg = Aggregator {
        listener,
        poll,
        interval: Duration::from_millis(interval_ms),
        sum: Snapshot::new(&layout),
        layout,
        rx,
        free_tx,
        conns: Arc::clone(&conns),
        source: source.to_string(),
        start,
    };
    let spare = Some(Snapshot::new(&agg.layout));
    thread::Builder::new()
        .name("stats".into())
        .spawn(move || agg.run())
        .map_err(thread_err)?;
    Ok(StatsHandle {
        tx,
        free_rx,
        spare,
        conns,
        local_addr,
    })
}

impl Aggregator {
    /// The stats loop: wait, fold, serve; ends when the handle is gone.
    fn run(mut self) {
        let mut events = Events::with_capacity(4);
        loop {
            if let Err(e) = self.poll.poll(&mut events, Some(self.interval)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("stats poll failed: {}", strerror(&e));
                    return;
                }
            }
            if !self.aggregate() {
                return;
            }
            if !events.is_empty() {
                self.accept_all();
            }
        }
    }

    /// Folds pending deltas into the sum and returns their buffer; false
    /// once the loop's handle is gone (twemproxy: `stats_aggregate`).
    fn aggregate(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(mut deltas) => {
                    if let Some(layout) = deltas.layout.take() {
                        // The loop's topology changed (reload): reshape the
                        // sums before folding deltas of the new shape.
                        self.sum = self.sum.remap(&self.layout, &layout);
                        self.layout = *layout;
                    }
                    self.sum.fold(&deltas);
                    deltas.reset();
                    let _ = self.free_tx.try_send(deltas);
                }
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Serves every waiting client (the listener is edge-triggered), each
    /// with every delta handed over before it was accepted.
    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((conn, _)) => {
                    self.aggregate();
                    if let Err(e) = self.serve(conn) {
                        log::warn!("stats send failed: {}", strerror(&e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::error!("accept on stats server failed: {}", strerror(&e));
                    return;
                }
            }
        }
    }

    /// Answers one client: Prometheus over HTTP or the JSON (§STATS.2).
    fn serve(&mut self, mut conn: TcpStream) -> io::Result<()> {
        conn.set_nonblocking(false)?;
        let prometheus = sniff(&mut conn)?;
        let head = self.header();
        let reply = if prometheus {
            render::http_ok(&render::prometheus(&head, &self.layout, &self.sum))
        } else {
            render::json(&head, &self.layout, &self.sum)
        };
        conn.set_write_timeout(Some(WRITE_TIMEOUT))?;
        conn.write_all(reply.as_bytes())?;
        conn.shutdown(Shutdown::Write)
    }

    /// The live header values (§STATS.3).
    fn header(&self) -> Header<'_> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let live = |a: &AtomicU64| i64::try_from(a.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        Header {
            source: &self.source,
            uptime: i64::try_from(self.start.elapsed().as_secs()).unwrap_or(i64::MAX),
            timestamp: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            total_connections: live(&self.conns.total),
            curr_connections: live(&self.conns.curr),
            reloads: live(&self.conns.reloads),
            reloads_failed: live(&self.conns.reloads_failed),
            batch_waits: live(&self.conns.batch_waits),
            batch_wait_naps: live(&self.conns.batch_wait_naps),
            batch_wait_misses: live(&self.conns.batch_wait_misses),
            batch_probes: live(&self.conns.batch_probes),
            batch_probes_on: live(&self.conns.batch_probes_on),
            msgs_live: live(&self.conns.msgs),
            mbufs_free: live(&self.conns.mfree),
            mbufs_allocated: live(&self.conns.malloc),
        }
    }
}

/// Whether `req` (so far) decides the reply: Some(true) for Prometheus once
/// the request head is complete, Some(false) for JSON, None to read more.
fn classify(req: &[u8]) -> Option<bool> {
    let n = req.len().min(PROMETHEUS_GET.len());
    if req[..n] != PROMETHEUS_GET[..n] {
        return Some(false);
    }
    let head_done = req.windows(4).any(|w| w == b"\r\n\r\n");
    (n == PROMETHEUS_GET.len() && head_done).then_some(true)
}

/// Reads what the client sends within [`SNIFF_TIMEOUT`]; true if it asked
/// for `GET /metrics`. A client that sends nothing gets the JSON.
fn sniff(conn: &mut TcpStream) -> io::Result<bool> {
    let mut req = [0u8; MAX_REQUEST];
    let mut n = 0;
    let deadline = Instant::now() + SNIFF_TIMEOUT;
    while n < req.len() {
        if n > 0 {
            if let Some(decided) = classify(&req[..n]) {
                return Ok(decided);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        conn.set_read_timeout(Some(left))?;
        match conn.read(&mut req[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(e),
        }
    }
    Ok(req[..n].starts_with(PROMETHEUS_GET))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::render::tests::validate_json;
    use crate::stats::tests::{pid, sid, two_pools};

    fn fetch(addr: SocketAddr, request: &[u8]) -> String {
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(request).unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn handoff_folds_and_skips_while_busy() {
        // A long interval: the thread only wakes for connections.
        let mut h = spawn("127.0.0.1", 0, 60_000, &two_pools(), "testhost").unwrap();
        let mut m = Metrics::new(&two_pools());
        h.swap(&mut m); // not modified: nothing to hand over
        m.pool(pid(0)).client_eof += 1;
        m.server(pid(1), sid(1)).requests += 5;
        m.server(pid(1), sid(1)).server_ejected_at = 1234;
        m.record_latency(pid(1), sid(1), 300);
        h.swap(&mut m);
        assert!(!m.modified());
        m.pool(pid(0)).client_eof += 2;
        h.swap(&mut m); // the aggregator still holds the first deltas
        assert!(m.modified());
        assert_eq!(m.cur.pools[0].client_eof, 2);

        let doc = fetch(h.local_addr(), b"");
        assert!(validate_json(&doc), "{doc}");
        assert!(doc.starts_with("{\"service\":\"nutcracker\", \"source\":\"testhost\", \"version\":\"0.5.0\", \"uptime\":"));
        assert!(doc.contains("\"beta\": {\"client_eof\":1, "), "{doc}");
        assert!(doc.contains("\"127.0.0.1:16380\": {\"server_eof\":0, \"server_err\":0, \
            \"server_timedout\":0, \"server_connections\":0, \"server_ejected_at\":1234, \"requests\":5, "));
        assert!(doc.contains("\"latency_max_us\":300}}}\n"), "{doc}");

        h.swap(&mut m); // the buffer came back: the second deltas go now
        assert!(!m.modified());
        m.server(pid(1), sid(1)).server_ejected_at = 0; // zero never overwrites a timestamp
        h.swap(&mut m);
        let doc = fetch(h.local_addr(), b"");
        assert!(doc.contains("\"beta\": {\"client_eof\":3, "), "{doc}");
        assert!(
            doc.contains("\"server_ejected_at\":1234, \"requests\":5, "),
            "{doc}"
        );
    }

    /// A reload's layout change reaches the documents with the next
    /// hand-off: staying servers keep their sums, new ones start at zero,
    /// removed ones are gone.
    #[test]
    fn layout_change_reshapes_the_sums() {
        let mut h = spawn("127.0.0.1", 0, 60_000, &two_pools(), "h").unwrap();
        let mut m = Metrics::new(&two_pools());
        m.server(pid(1), sid(1)).requests += 5;
        m.server(pid(0), sid(0)).requests += 9;
        h.swap(&mut m);
        let doc = fetch(h.local_addr(), b"");
        assert!(
            doc.contains("\"127.0.0.1:11311\": {\"server_eof\":0"),
            "{doc}"
        );
        let mut next = two_pools();
        next[0].servers.remove(0); // 127.0.0.1:11311 goes
        next[1].servers.push((sid(2), "127.0.0.1:16381".into()));
        m.set_layout(&next);
        m.server(pid(1), sid(2)).requests += 1;
        h.swap(&mut m);
        let doc = fetch(h.local_addr(), b"");
        assert!(validate_json(&doc), "{doc}");
        assert!(!doc.contains("127.0.0.1:11311"), "{doc}");
        let requests = |name: &str| {
            let at = doc.find(&format!("\"{name}\": {{")).unwrap();
            let tail = &doc[at..];
            let r = tail.find("\"requests\":").unwrap() + 11;
            tail[r..].split(',').next().unwrap().to_string()
        };
        assert_eq!(requests("127.0.0.1:16380"), "5");
        assert_eq!(requests("127.0.0.1:16381"), "1");
        assert_eq!(requests("127.0.0.1:11312"), "0");
    }

    #[test]
    fn live_connection_counts_and_interval_folding() {
        let mut h = spawn("127.0.0.1", 0, 20, &two_pools(), "h").unwrap();
        h.conn_created();
        h.conn_created();
        h.conn_created();
        h.conn_closed();
        h.set_batch_waits(&BatchWaits {
            waits: 5,
            naps: 7,
            misses: 1,
            probes: 4,
            probes_on: 3,
        });
        let mut m = Metrics::new(&two_pools());
        // Hand-offs keep flowing on interval wake-ups alone (some swaps may
        // find the aggregator busy; their deltas go with a later one).
        for _ in 0..10 {
            m.server(pid(0), sid(0)).responses += 1;
            h.swap(&mut m);
            thread::sleep(Duration::from_millis(10));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut doc = String::new();
        while Instant::now() < deadline {
            h.swap(&mut m);
            doc = fetch(h.local_addr(), b"hello\r\n");
            if doc.contains("\"responses\":10, ") {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            doc.contains(
                "\"total_connections\":3, \"curr_connections\":2, \"reloads\":0, \"reloads_failed\":0, \
                 \"batch_waits\":5, \"batch_wait_naps\":7, \"batch_wait_misses\":1, \
                 \"batch_probes\":4, \"batch_probes_on\":3, "
            ),
            "{doc}"
        );
        assert!(doc.contains("\"responses\":10, "), "{doc}");
        assert!(validate_json(&doc));
    }

    #[test]
    fn prometheus_over_http() {
        let mut h = spawn("127.0.0.1", 0, 20, &two_pools(), "h").unwrap();
        let mut m = Metrics::new(&two_pools());
        m.pool(pid(1)).forward_error += 4;
        m.record_latency(pid(1), sid(0), 77);
        h.swap(&mut m); // in the channel: folded when the connection wakes the thread
        let reply = fetch(
            h.local_addr(),
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
        );
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(
            body.contains("nutcracker_forward_error{pool=\"alpha\"} 4\n"),
            "{body}"
        );
        assert!(body.contains(
            "nutcracker_server_latency_microseconds{pool=\"alpha\",server=\"127.0.0.1:16379\",quantile=\"0.5\"} 77\n"
        ));
        // A request split across writes is still recognised.
        let mut conn = TcpStream::connect(h.local_addr()).unwrap();
        conn.write_all(b"GET /met").unwrap();
        thread::sleep(Duration::from_millis(20));
        conn.write_all(b"rics HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.0 200 OK\r\n"));
        // Another path gets the JSON, as a plain TCP client does.
        let doc = fetch(h.local_addr(), b"GET / HTTP/1.1\r\n\r\n");
        assert!(doc.starts_with("{\"service\":\"nutcracker\""));
    }

    #[test]
    fn silent_client_does_not_stall_the_thread() {
        let h = spawn("127.0.0.1", 0, 20, &two_pools(), "h").unwrap();
        let mut silent = TcpStream::connect(h.local_addr()).unwrap(); // never writes
                                                                      // No wall-clock bound: a thread stuck on the silent client leaves
                                                                      // the next one unanswered past a 10 s read timeout, and the silent
                                                                      // client is shown to have been given up on (JSON sent, then closed).
        let mut conn = TcpStream::connect(h.local_addr()).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut doc = String::new();
        conn.read_to_string(&mut doc).unwrap();
        assert!(doc.ends_with("}}}\n"));
        let mut first = String::new();
        silent.read_to_string(&mut first).unwrap();
        assert!(first.starts_with("{\"service\":\"nutcracker\""), "{first}");
    }

    #[test]
    fn bind_failure_reports_the_stats_text() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = spawn("127.0.0.1", port, 100, &two_pools(), "h").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("bind on m "), "{text}");
        assert!(
            text.ends_with(&format!(
                " to stats server addr '127.0.0.1:{port}' failed: Address already in use"
            )),
            "{text}"
        );
        let e = StatsError::Resolve {
            addr: "nohost".into(),
            port: 22222,
            reason: "Name or service not known".into(),
        };
        assert_eq!(
            e.to_string(),
            "address resolution of node 'nohost' service '22222' failed: Name or service not known"
        );
    }

    #[test]
    fn classify_requests() {
        assert_eq!(classify(b"G"), None);
        assert_eq!(classify(b"GET /metrics HTTP/1.1\r\n"), None);
        assert_eq!(classify(b"GET /metrics HTTP/1.1\r\n\r\n"), Some(true));
        assert_eq!(classify(b"GET /metricz"), Some(false));
        assert_eq!(classify(b"stats\r\n"), Some(false));
    }

    #[test]
    fn hostname_is_nonempty() {
        let h = hostname();
        assert!(!h.is_empty() && h.len() <= 255 && !h.contains('\0'));
    }
}
