//! Black-box test harness (twemproxy: tests/lib/server_modules.py).
//!
//! Starts the real `nutcracker` binary with a temporary YAML file, real
//! `redis-server` and `memcached` on free loopback ports, and stops every
//! process it started by pid when the handle is dropped (never by name).
//!
//! # Invariants
//! - Every process started here is owned by a [`Proc`] (or, for daemons that
//!   are not our children, a [`PidGuard`]) and is killed on drop, even when
//!   the test panics.
//! - Ports come from below the kernel's ephemeral range (see [`free_port`]);
//!   one test binary never hands out the same port twice.

// Each test crate uses a different part of the harness, and a failed set-up
// step (bind, spawn, write) must abort the test that asked for it.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long any start-up or shutdown may take before a test gives up.
pub const WAIT: Duration = Duration::from_secs(10);

/// Path of the proxy binary built by cargo for this test run.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nutcracker")
}

/// The package root (where conf/, man/ and contrib/ live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `nutcracker args...` to completion with stdin closed.
pub fn run_nutcracker(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run nutcracker")
}

/// Whether `cmd` can be found on PATH.
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf, // unique per process, tag and counter
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("nc-test-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<dir>/<name>` as a String (for command-line arguments).
    pub fn join(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }

    /// Writes `text` to `<dir>/<name>` and returns the path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.join(name);
        fs::write(&p, text).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// First port handed out by [`free_port`]; the ports below the kernel's
/// ephemeral range start here.
const TEST_PORT_BASE: u32 = 12_000;

/// A free loopback TCP port, never the same twice in one test binary.
///
/// Ports come from below the kernel's ephemeral range
/// (`ip_local_port_range`), so a port that was free when it was handed out
/// cannot be taken by the outgoing connections of a test running alongside
/// (10,000 clients took the proxy's listen port once, and the proxy could
/// not bind). Each process starts at its own offset and counts up.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if low > TEST_PORT_BASE + 1_000 {
        let span = low - TEST_PORT_BASE;
        let _ = NEXT.compare_exchange(
            u32::MAX,
            std::process::id().wrapping_mul(7_919) % span,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        for _ in 0..span {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = (TEST_PORT_BASE + n % span) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    // No room below the ephemeral range: let the kernel choose.
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_tcp(port: u16) -> bool {
    wait_until(WAIT, || TcpStream::connect(("127.0.0.1", port)).is_ok())
}

/// Sends `req` to 127.0.0.1:`port` and reads until the reply starts with `want`.
pub fn probe(port: u16, req: &[u8], want: &[u8]) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(req).is_err() {
        return false;
    }
    let mut buf = vec![0u8; want.len()];
    s.read_exact(&mut buf).is_ok() && buf == want
}

/// Sends `sig` to `pid` (a process this test started).
#[allow(unsafe_code)]
pub fn kill(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

/// A process that is not our child (a daemon), SIGKILLed by pid on drop.
#[derive(Debug)]
pub struct PidGuard(pub u32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        if alive(self.0) {
            kill(self.0, libc::SIGKILL);
        }
    }
}

/// A child process, SIGKILLed by pid and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    pub name: &'static str, // for messages
    child: Child,           // the running process
    done: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name,
            child,
            done: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        if self.done.is_none() {
            kill(self.pid(), sig);
        }
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = &mut self.child;
        let mut status = self.done;
        wait_until(timeout, || {
            if status.is_none() {
                status = child.try_wait().ok().flatten();
            }
            status.is_some()
        });
        self.done = status;
        status
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.done.is_none() {
            let _ = self.child.kill(); // SIGKILL to this pid
            let _ = self.child.wait();
        }
    }
}

/// A redis-server on a free loopback port, without persistence.
#[derive(Debug)]
pub struct Redis {
    pub port: u16,  // 127.0.0.1 port
    pub proc: Proc, // the server process
    _dir: TempDir,  // its working directory
}

pub fn start_redis() -> Redis {
    let dir = TempDir::new("redis");
    let port = free_port();
    let proc = redis_on(port, &dir);
    Redis {
        port,
        proc,
        _dir: dir,
    }
}

/// A redis-server on `port` working in `dir` (also for restarts on the
/// same address), answering PING.
pub fn redis_on(port: u16, dir: &TempDir) -> Proc {
    redis_on_args(port, dir, &[])
}

/// [`redis_on`] with `extra` arguments (e.g. `["--replicaof", "127.0.0.1 6379"]`).
pub fn redis_on_args(port: u16, dir: &TempDir, extra: &[&str]) -> Proc {
    let proc = Proc::spawn(
        "redis-server",
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", &dir.join("")])
            .args(extra),
    );
    let ready = wait_until(WAIT, || probe(port, b"PING\r\n", b"+PONG\r\n"));
    assert!(ready, "redis-server on port {port} did not answer PING");
    proc
}

/// A memcached on a free loopback port (TCP only).
#[derive(Debug)]
pub struct Memcached {
    pub port: u16,  // 127.0.0.1 port
    pub proc: Proc, // the server process
}

pub fn start_memcached() -> Memcached {
    start_memcached_args(&[])
}

#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The proxy under test, with its YAML, log file and stats port.
#[derive(Debug)]
pub struct Proxy {
    pub proc: Proc,      // the nutcracker process
    pub dir: TempDir,    // holds conf, log and pid files
    pub conf: String,    // path of the YAML file
    pub log: String,     // path of the -o log file
    pub stats_port: u16, // -s port
}

impl Proxy {
    /// Starts `nutcracker -c <yaml> -o <log> -s <free port> -v 11 extra...` and
    /// waits for the start-up banner in the log.
    pub fn start(yaml: &str, extra: &[&str]) -> Proxy {
        let dir = TempDir::new("proxy");
        let conf = dir.write("nutcracker.yml", yaml);
        let log = dir.join("nutcracker.log");
        let stats_port = free_port();
        let port = stats_port.to_string();
        let mut args = vec![
            "-c",
            &conf,
            "-o",
            &log,
            "-s",
            &port,
            "-a",
            "127.0.0.1",
            "-v",
            "11",
        ];
        args.extend_from_slice(extra);
        let proc = Proc::spawn("nutcracker", Command::new(bin()).args(&args));
        let proxy = Proxy {
            proc,
            dir,
            conf,
            log,
            stats_port,
        };
        let started = wait_until(WAIT, || proxy.log_text().contains("started on pid"));
        assert!(started, "nutcracker did not start:\n{}", proxy.log_text());
        proxy
    }

    /// The current content of the log file ("" if missing).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.proc.signal(libc::SIGTERM);
        self.proc.wait_exit(WAIT)
    }
}

/// A one-pool YAML whose listen port and server port are free loopback ports.
pub fn simple_yaml(redis: bool) -> String {
    format!(
        "alpha:\n  listen: 127.0.0.1:{}\n  redis: {redis}\n  servers:\n   - 127.0.0.1:{}:1\n",
        free_port(),
        free_port()
    )
}

// ---- RESP helpers for the redis tests (tests/redis_*.rs) ----

/// One command as a RESP multibulk request.
/// Resident set size of process `pid` in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kb(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The Prometheus exposition of a proxy's stats port (`GET /metrics`).
pub fn prometheus(stats_port: u16) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", stats_port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(WAIT));
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// The value of one sample, `series` being the name with its labels as
/// exposed, e.g. `nutcracker_msgs_live` or `nutcracker_client_err{pool="alpha"}`.
pub fn metric(stats_port: u16, series: &str) -> Option<i64> {
    let text = prometheus(stats_port);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Raises this process's RLIMIT_NOFILE soft limit toward `want` (at most the
/// hard limit); children started afterwards inherit it. Returns the new soft limit.
#[allow(unsafe_code)]
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < want {
        lim.rlim_cur = want.min(lim.rlim_max);
        // SAFETY: setrlimit only reads the struct.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    }
    lim.rlim_cur
}

/// A redis multibulk request of `args`.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `resp` of space-separated words (no binary, no spaces inside a word).
pub fn resp_words(words: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = words.split_whitespace().map(str::as_bytes).collect();
    resp(&args)
}

/// Reads one complete RESP2 or RESP3 reply (nested aggregates included; an
/// attribute with the value it annotates) and returns its raw bytes. EOF
/// before a complete reply is `UnexpectedEof`.
pub fn read_reply(r: &mut impl std::io::BufRead) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut pending = 1u64; // replies still to read at this point
    while pending > 0 {
        pending -= 1;
        let start = out.len();
        let n = r.read_until(b'\n', &mut out)?;
        if n == 0 || !out.ends_with(b"\r\n") {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = &out[start..out.len() - 2];
        let num = || -> i64 {
            std::str::from_utf8(&line[1..])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad RESP line {:?}", String::from_utf8_lossy(line)))
        };
        match line.first() {
            Some(b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(') => {}
            Some(b'$' | b'=' | b'!') => {
                let len = num();
                if len >= 0 {
                    let at = out.len();
                    out.resize(at + len as usize + 2, 0);
                    r.read_exact(&mut out[at..])?;
                }
            }
            Some(b'*' | b'~' | b'>') => pending += num().max(0) as u64,
            Some(b'%') => pending += 2 * num().max(0) as u64,
            Some(b'|') => pending += 2 * num().max(0) as u64 + 1,
            _ => panic!("not RESP: {:?}", String::from_utf8_lossy(&out[start..])),
        }
    }
    Ok(out)
}

/// A blocking client connection speaking RESP, with a generous read timeout.
#[derive(Debug)]
pub struct RespConn {
    pub stream: TcpStream,                 // for writes (and shutdown)
    reader: std::io::BufReader<TcpStream>, // buffered reads of replies
}

impl RespConn {
    pub fn connect(port: u16) -> RespConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let reader = std::io::BufReader::with_capacity(1 << 16, stream.try_clone().unwrap());
        RespConn { stream, reader }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one reply.
    pub fn read(&mut self) -> Vec<u8> {
        read_reply(&mut self.reader).expect("read reply")
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&resp(args));
        self.read()
    }

    /// `call` with space-separated words.
    pub fn call_words(&mut self, words: &str) -> Vec<u8> {
        self.send(&resp_words(words));
        self.read()
    }

    /// Whether the peer closed: the next read sees EOF (or a reset) rather
    /// than data or a timeout.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.reader.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// Runs a python3 script (`args` in `sys.argv[1:]`) and returns its
/// standard output; panics with its standard error when it fails.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `n` redis-servers behind one redis pool (hash_tag `{}`) of a proxy.
#[derive(Debug)]
pub struct RedisPool {
    pub backends: Vec<Redis>, // in the order of the servers list
    pub proxy: Proxy,         // the nutcracker under test
    pub port: u16,            // the pool's listen port
}

impl RedisPool {
    /// The index of the backend holding `key` (exactly one must).
    pub fn holder(&self, key: &[u8]) -> usize {
        let held: Vec<usize> = (0..self.backends.len())
            .filter(|&i| {
                RespConn::connect(self.backends[i].port).call(&[b"EXISTS", key]) == b":1\r\n"
            })
            .collect();
        let shown = String::from_utf8_lossy(key);
        assert_eq!(held.len(), 1, "{shown:?} is held by backends {held:?}");
        held[0]
    }

    /// The backend that a plain SET through the proxy (`px`) puts `key` on.
    pub fn route_of(&self, px: &mut RespConn, key: &[u8]) -> usize {
        assert_eq!(px.call(&[b"SET", key, b"probe"]), b"+OK\r\n");
        let at = self.holder(key);
        assert_eq!(px.call(&[b"DEL", key]), b":1\r\n");
        at
    }
}

/// Starts `n` redis-servers and a proxy whose pool adds the YAML lines
/// `pool_extra` (each `  key: value\n`); `args` go to nutcracker.
pub fn start_redis_pool(n: usize, pool_extra: &str, args: &[&str]) -> RedisPool {
    let backends: Vec<Redis> = (0..n).map(|_| start_redis()).collect();
    let port = free_port();
    let mut yaml = format!(
        "alpha:\n  listen: 127.0.0.1:{port}\n  redis: true\n  hash_tag: \"{{}}\"\n{pool_extra}  servers:\n"
    );
    for (i, b) in backends.iter().enumerate() {
        yaml.push_str(&format!("   - 127.0.0.1:{}:1 s{i}\n", b.port));
    }
    let mut all = vec!["-i", "100"];
    all.extend_from_slice(args);
    let proxy = Proxy::start(&yaml, &all);
    assert!(wait_tcp(port), "pool did not listen:\n{}", proxy.log_text());
    RedisPool {
        backends,
        proxy,
        port,
    }
}

/// A memcached like [`start_memcached`], with `extra` arguments (e.g.
/// `["-I", "2m"]` for items up to 2 MiB).
pub fn start_memcached_args(extra: &[&str]) -> Memcached {
    let port = free_port();
    let proc = memcached_on(port, extra);
    Memcached { port, proc }
}

/// A memcached on `port` with `extra` arguments, answering `version`.
pub fn memcached_on(port: u16, extra: &[&str]) -> Proc {
    let mut cmd = Command::new("memcached");
    cmd.args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"]);
    if is_root() {
        cmd.args(["-u", "root"]);
    }
    cmd.args(extra);
    let proc = Proc::spawn("memcached", &mut cmd);
    let ready = wait_until(WAIT, || probe(port, b"version\r\n", b"VERSION "));
    assert!(ready, "memcached on port {port} did not answer version");
    proc
}

/// The raw stats document served on 127.0.0.1:`port` (JSON, or whatever
/// the stats thread answers to a client that sends nothing).
pub fn stats_text(port: u16) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(WAIT));
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Parses a stats JSON document with python3's strict `json` module and
/// flattens it: `"uptime"`, `"<pool>/forward_error"`,
/// `"<pool>/<server>/requests"` → value (integers only). Panics when the
/// document is not valid JSON.
pub fn parse_stats_json(doc: &str) -> std::collections::HashMap<String, i64> {
    const FLATTEN: &str = "import json,sys\n\
        d=json.loads(sys.stdin.read())\n\
        def walk(p,v):\n\
        \x20   if isinstance(v,dict):\n\
        \x20       for k,x in v.items(): walk(p+[k],x)\n\
        \x20   elif isinstance(v,int) and not isinstance(v,bool): print('/'.join(p)+'\\t'+str(v))\n\
        walk([],d)\n";
    let mut child = Command::new("python3")
        .args(["-c", FLATTEN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.as_bytes())
        .expect("feed python3");
    let out = child.wait_with_output().expect("python3 output");
    assert!(
        out.status.success(),
        "stats document is not valid JSON: {}\n{doc}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.parse().expect("integer")))
        .collect()
}

/// Polls the stats port (every 50 ms, up to `timeout`) until `cond` holds
/// for the flattened values (§STATS.5: values lag up to two intervals);
/// returns the last values read either way.
pub fn wait_stats(
    port: u16,
    timeout: Duration,
    mut cond: impl FnMut(&std::collections::HashMap<String, i64>) -> bool,
) -> (bool, std::collections::HashMap<String, i64>) {
    let end = Instant::now() + timeout;
    loop {
        let doc = stats_text(port);
        let vals = if doc.is_empty() {
            Default::default()
        } else {
            parse_stats_json(&doc)
        };
        if cond(&vals) {
            return (true, vals);
        }
        if Instant::now() >= end {
            return (false, vals);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A connection to 127.0.0.1:`port` with read and write timeouts of `WAIT`.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s.set_write_timeout(Some(WAIT)).expect("write timeout");
    s
}

/// Reads exactly `n` bytes (panics on EOF or timeout).
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("read reply");
    buf
}

/// Whether nothing at all (no byte, no EOF) has arrived on `s` yet: an
/// ordering check, "this reply has not been sent", that never waits. `s`
/// is left blocking. Only meaningful where nothing is buffered on top of it.
pub fn unanswered(s: &TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let seen = s.peek(&mut [0u8; 1]);
    s.set_nonblocking(false).expect("blocking");
    matches!(seen, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Reads until EOF or error (a closed connection); returns what came first.
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// A one-pool redis YAML listening on `listen`, one server on `server`, plus
/// `extra` directive lines (each `  key: value\n`).
pub fn redis_pool_yaml(listen: u16, server: u16, extra: &str) -> String {
    format!(
        "alpha:\n  listen: 127.0.0.1:{listen}\n  redis: true\n{extra}  servers:\n   - 127.0.0.1:{server}:1\n"
    )
}

/// Waits (up to `WAIT`) until the proxy reports `series` equal to `want`,
/// and returns the last value seen.
pub fn wait_metric(stats_port: u16, series: &str, want: i64) -> Option<i64> {
    let mut last = None;
    wait_until(WAIT, || {
        last = metric(stats_port, series);
        last == Some(want)
    });
    last
}

/// Waits (up to `WAIT`) for the RSS of `pid` to come back within 20% or
/// 8 MiB of `base_kb`, whichever is looser; returns the last RSS in KiB.
pub fn rss_settle(pid: u32, base_kb: u64) -> u64 {
    let bound = (base_kb + base_kb / 5).max(base_kb + 8 * 1024);
    let mut now = rss_kb(pid);
    wait_until(WAIT, || {
        now = rss_kb(pid);
        now <= bound
    });
    now
}

/// A redis-server replicating 127.0.0.1:`master` (`--replicaof`), once its
/// link to the master is up.
pub fn start_replica(master: u16) -> Redis {
    let dir = TempDir::new("replica");
    let port = free_port();
    let of = format!("127.0.0.1 {master}");
    let proc = redis_on_args(port, &dir, &["--replicaof", &of]);
    let up = wait_until(WAIT, || {
        info_field(port, "master_link_status").as_deref() == Some("up")
    });
    assert!(up, "replica on {port} did not sync with {master}");
    Redis {
        port,
        proc,
        _dir: dir,
    }
}

/// One field of `INFO` on 127.0.0.1:`port` (None if unreachable or absent).
pub fn info_field(port: u16, field: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(&resp_words("INFO")).ok()?;
    let mut r = std::io::BufReader::new(s);
    let reply = read_reply(&mut r).ok()?;
    let text = String::from_utf8_lossy(&reply).into_owned();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
}

/// A Redis Sentinel (`redis-server FILE --sentinel`) on a free port, its
/// config file in a writable temp dir (Sentinel rewrites it).
#[derive(Debug)]
pub struct Sentinel {
    pub port: u16,  // 127.0.0.1 port
    pub proc: Proc, // the sentinel process
    pub conf: String,
    _dir: TempDir,
}

impl Sentinel {
    /// Monitors each `(name, master port)` with quorum 1, down after 1 s.
    pub fn start(masters: &[(&str, u16)]) -> Sentinel {
        let dir = TempDir::new("sentinel");
        let port = free_port();
        let mut text = format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir {}\n",
            dir.join("")
        );
        for (name, master) in masters {
            text.push_str(&format!(
                "sentinel monitor {name} 127.0.0.1 {master} 1\n\
                 sentinel down-after-milliseconds {name} 1000\n\
                 sentinel failover-timeout {name} 3000\n\
                 sentinel parallel-syncs {name} 1\n"
            ));
        }
        let conf = dir.write("sentinel.conf", &text);
        let proc = Sentinel::spawn(port, &conf);
        Sentinel {
            port,
            proc,
            conf,
            _dir: dir,
        }
    }

    fn spawn(port: u16, conf: &str) -> Proc {
        let proc = Proc::spawn(
            "redis-sentinel",
            Command::new("redis-server").args([conf, "--sentinel"]),
        );
        let ready = wait_until(WAIT, || probe(port, b"PING\r\n", b"+PONG\r\n"));
        assert!(ready, "sentinel on port {port} did not answer PING");
        proc
    }

    /// Stops it (SIGTERM, so it saves its state to its file) and starts it
    /// again on the same port and file.
    pub fn restart(&mut self) {
        self.proc.signal(libc::SIGTERM);
        assert!(self.proc.wait_exit(WAIT).is_some(), "sentinel did not stop");
        self.proc = Sentinel::spawn(self.port, &self.conf);
    }

    /// One command, its raw reply.
    pub fn call(&self, words: &str) -> Vec<u8> {
        RespConn::connect(self.port).call_words(words)
    }

    /// The master port Sentinel reports for `name`.
    pub fn master_port(&self, name: &str) -> Option<u16> {
        let reply = self.call(&format!("SENTINEL get-master-addr-by-name {name}"));
        let text = String::from_utf8_lossy(&reply).into_owned();
        text.lines().nth(4).and_then(|p| p.trim().parse().ok())
    }

    /// Waits until Sentinel knows `n` replicas of `name` (a failover needs one).
    pub fn wait_replicas(&self, name: &str, n: usize) -> bool {
        wait_until(Duration::from_secs(20), || {
            let reply = self.call(&format!("SENTINEL master {name}"));
            let text = String::from_utf8_lossy(&reply).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            lines
                .iter()
                .position(|l| *l == "num-slaves")
                .and_then(|i| lines.get(i + 2))
                .and_then(|v| v.parse::<usize>().ok())
                .is_some_and(|k| k >= n)
        })
    }
}

/// A master and its replica, for one Sentinel-monitored shard.
#[derive(Debug)]
pub struct Shard {
    pub master: Redis,
    pub replica: Redis,
}

pub fn start_shard() -> Shard {
    let dir = TempDir::new("master");
    let port = free_port();
    // a replica syncs at once (7.0 waits 5 s for more replicas by default)
    let proc = redis_on_args(port, &dir, &["--repl-diskless-sync-delay", "0"]);
    let master = Redis {
        port,
        proc,
        _dir: dir,
    };
    let replica = start_replica(master.port);
    Shard { master, replica }
}
