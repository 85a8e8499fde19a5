#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The proxy changing shape while it serves (issue 11 step B): the
//! building blocks a reload and a Sentinel failover use (`Core::apply`,
//! `Core::set_server_addr`), driven in-process against real redis-servers
//! and real client connections that stay open across the change.
//!
//! # Invariants
//! - every process is owned by a guard and stopped by pid, also on panic;
//! - the event loop runs on its own thread and stops when the test ends.

mod common;

use common::*;
use nutcracker::conn::Close;
use nutcracker::core::{Core, CoreOpts};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

type Job = Box<dyn FnOnce(&mut Core) + Send>;

/// A `Core` running on its own thread; `with` runs a closure on it between
/// two loop iterations (where a reload or failover decision runs).
struct Running {
    jobs: Sender<Job>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Running {
    /// The proxy of `yaml`, with its stats on `stats_port`.
    fn start(yaml: &str, stats_port: u16) -> Running {
        let conf = nutcracker::conf::parse(yaml, "t.yml").unwrap();
        let (jobs, rx) = channel::<Job>();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (ready_tx, ready) = channel();
        let thread = thread::spawn(move || {
            let opts = CoreOpts {
                mbuf_size: 16384,
                stats_interval: Duration::from_millis(50),
                batch_wait: Duration::from_micros(400),
            };
            let mut core = Core::new(conf, opts, None).unwrap();
            let layout = core.stats_layout();
            let stats = nutcracker::stats::spawn("127.0.0.1", stats_port, 50, &layout, "h");
            core.stats = Some(stats.unwrap());
            core.start().unwrap();
            ready_tx.send(()).unwrap();
            let mut events = mio::Events::with_capacity(256);
            while !flag.load(Ordering::Relaxed) {
                core.step(&mut events).unwrap();
                while let Ok(job) = rx.try_recv() {
                    job(&mut core);
                }
            }
        });
        ready.recv_timeout(Duration::from_secs(10)).unwrap();
        Running {
            jobs,
            stop,
            thread: Some(thread),
        }
    }
}

impl Running {
    /// Runs `f` on the loop's thread between two iterations; waits for it.
    fn with<T: Send + 'static>(&self, f: impl FnOnce(&mut Core) -> T + Send + 'static) -> T {
        let (tx, rx) = channel();
        self.jobs
            .send(Box::new(move |core: &mut Core| {
                let _ = tx.send(f(core));
            }))
            .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn yaml(listen: u16, servers: &[u16]) -> String {
    pool_yaml("p", listen, servers)
}

fn pool_yaml(name: &str, listen: u16, servers: &[u16]) -> String {
    let mut y = format!("{name}:\n  listen: 127.0.0.1:{listen}\n  redis: true\n  servers:\n");
    for (i, port) in servers.iter().enumerate() {
        y.push_str(&format!("   - 127.0.0.1:{port}:1 s{i}\n"));
    }
    y
}

/// A reload that swaps a pool's only server for another keeps the pool
/// (and its clients' connections); the next requests go to the new
/// server, and a server that stays keeps its id.
#[test]
fn apply_moves_traffic_and_keeps_clients() {
    let (a, b) = (start_redis(), start_redis());
    let listen = free_port();
    let proxy = Running::start(&yaml(listen, &[a.port]), free_port());
    let mut client = RespConn::connect(listen);
    assert_eq!(client.call(&[b"SET", b"k", b"on-a"]), b"+OK\r\n");
    let (pool, before) = proxy.with(|c| {
        let p = c.pool_order[0];
        (p, c.pools[p].order.clone())
    });

    // s0 now lives on b: same name, new address (its connections close)
    let next = nutcracker::conf::parse(&yaml(listen, &[b.port]), "t.yml").unwrap();
    proxy.with(move |c| c.apply(next).unwrap());
    assert_eq!(client.call(&[b"GET", b"k"]), b"$-1\r\n", "b has no k");
    assert_eq!(client.call(&[b"SET", b"k", b"on-b"]), b"+OK\r\n");
    assert_eq!(
        RespConn::connect(b.port).call(&[b"GET", b"k"]),
        b"$4\r\non-b\r\n"
    );
    assert_eq!(
        RespConn::connect(a.port).call(&[b"GET", b"k"]),
        b"$4\r\non-a\r\n"
    );
    let after = proxy.with(move |c| (c.pool_order[0], c.pools[pool].order.clone()));
    assert_eq!(
        after,
        (pool, before.clone()),
        "pool and server keep their ids"
    );

    // a second server joins: the first keeps its id, keys spread over both
    let next = nutcracker::conf::parse(&yaml(listen, &[b.port, a.port]), "t.yml").unwrap();
    proxy.with(move |c| c.apply(next).unwrap());
    let order = proxy.with(move |c| c.pools[pool].order.clone());
    assert_eq!((order.len(), order[0]), (2, before[0]));
    for i in 0..100 {
        let k = format!("key:{i}");
        assert_eq!(client.call(&[b"SET", k.as_bytes(), b"v"]), b"+OK\r\n");
    }
    let on_a = RespConn::connect(a.port).call_words("DBSIZE");
    assert_ne!(on_a, b":1\r\n".to_vec(), "some keys went to the new server");
}

/// Points the first server of the first pool at 127.0.0.1:`port`, as a
/// failover does; whether the address changed.
fn move_first_server(proxy: &Running, port: u16) -> bool {
    proxy.with(move |c| {
        let p = c.pool_order[0];
        let s = c.pools[p].order[0];
        let addr = nutcracker::conf::ServerAddr::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        c.set_server_addr(p, s, addr, Close::MasterMoved)
    })
}

/// A failover points a server at its new master: requests that follow go
/// there, on the same client connection.
#[test]
fn set_server_addr_follows_the_master() {
    let (a, b) = (start_redis(), start_redis());
    let listen = free_port();
    let proxy = Running::start(&yaml(listen, &[a.port]), free_port());
    let mut client = RespConn::connect(listen);
    assert_eq!(client.call(&[b"SET", b"m", b"1"]), b"+OK\r\n");
    assert!(move_first_server(&proxy, b.port));
    assert_eq!(client.call(&[b"GET", b"m"]), b"$-1\r\n", "now on b");
    assert_eq!(client.call(&[b"SET", b"m", b"2"]), b"+OK\r\n");
    assert_eq!(
        RespConn::connect(b.port).call(&[b"GET", b"m"]),
        b"$1\r\n2\r\n"
    );
}

/// The same for a RESP3 client (issue 14.2): its own server connections
/// (opened with HELLO 3) move to the new master too.
#[test]
fn set_server_addr_moves_resp3_connections_too() {
    let (a, b) = (start_redis(), start_redis());
    let listen = free_port();
    let proxy = Running::start(&yaml(listen, &[a.port]), free_port());
    let mut client = RespConn::connect(listen);
    assert!(client.call_words("HELLO 3").starts_with(b"%7\r\n"));
    assert_eq!(client.call(&[b"SET", b"m", b"1"]), b"+OK\r\n");
    assert!(move_first_server(&proxy, b.port));
    assert_eq!(client.call(&[b"GET", b"m"]), b"_\r\n", "now on b");
    assert_eq!(client.call(&[b"SET", b"m", b"2"]), b"+OK\r\n");
    assert_eq!(
        RespConn::connect(b.port).call(&[b"GET", b"m"]),
        b"$1\r\n2\r\n"
    );
}

/// A reload that adds a pool and removes another: the new pool listens and
/// serves, the old one's clients are closed, and the stats follow (the
/// removed pool's series disappear, the staying server keeps its count).
#[test]
fn apply_adds_and_removes_pools() {
    let a = start_redis();
    let (lp, lq, stats) = (free_port(), free_port(), free_port());
    let proxy = Running::start(&pool_yaml("p", lp, &[a.port]), stats);
    let mut on_p = RespConn::connect(lp);
    assert_eq!(on_p.call(&[b"SET", b"x", b"1"]), b"+OK\r\n");
    let series = "nutcracker_requests{pool=\"p\",server=\"s0\"}";
    assert!(wait_until(Duration::from_secs(10), || metric(
        stats, series
    ) == Some(1)));

    let both = pool_yaml("p", lp, &[a.port]) + &pool_yaml("q", lq, &[a.port]);
    let next = nutcracker::conf::parse(&both, "t.yml").unwrap();
    proxy.with(move |c| c.apply(next).unwrap());
    let mut on_q = RespConn::connect(lq);
    assert_eq!(on_q.call(&[b"GET", b"x"]), b"$1\r\n1\r\n");
    assert_eq!(on_p.call(&[b"GET", b"x"]), b"$1\r\n1\r\n");
    let q_series = "nutcracker_requests{pool=\"q\",server=\"s0\"}";
    assert!(wait_until(Duration::from_secs(10), || {
        metric(stats, q_series) == Some(1) && metric(stats, series) == Some(2)
    }));

    let next = nutcracker::conf::parse(&pool_yaml("q", lq, &[a.port]), "t.yml").unwrap();
    proxy.with(move |c| c.apply(next).unwrap());
    assert!(on_p.closed(), "p's client is closed");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", lp)).is_err(),
        "p no longer listens"
    );
    assert_eq!(on_q.call(&[b"GET", b"x"]), b"$1\r\n1\r\n");
    assert!(wait_until(Duration::from_secs(10), || {
        metric(stats, series).is_none() && metric(stats, q_series) == Some(2)
    }));
}
