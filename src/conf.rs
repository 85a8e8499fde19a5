//! (stub) Configuration (twemproxy: nc_conf.c).
use crate::hashkit::{Distribution, HashKind};
use std::net::SocketAddr;
use std::path::PathBuf;

/// A validated configuration: pools in length-first name order (§CONF.9).
#[derive(Clone, Debug, Default)]
pub struct Conf {
    pub path: String,         // the -c argument as given
    pub pools: Vec<PoolConf>, // length-first order of pool name
}

/// Where a pool listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Tcp(SocketAddr),                   // resolved at load time (first getaddrinfo result)
    Unix { path: PathBuf, perm: u32 }, // perm 0 = leave the mode alone
}

/// Where a server lives (resolved lazily, at connect time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAddr {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// One `servers:` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConf {
    pub name: String,  // §CONF.6 rule 5: hashed by ketama, stats key
    pub pname: String, // the entry minus ` name` (logs)
    pub addr: ServerAddr,
    pub weight: u32,
}

/// One pool, every directive with its default applied.
#[derive(Clone, Debug)]
pub struct PoolConf {
    pub name: String,
    pub listen: Listen,
    pub listen_str: String, // `listen:` exactly as written
    pub hash: HashKind,
    pub hash_tag: Option<[u8; 2]>,
    pub distribution: Distribution,
    pub timeout_ms: Option<u64>, // None: no timeout (absent, 0 or negative)
    pub backlog: u32,
    pub client_connections: u32, // 0 = no limit (enforced, unlike 0.5.0)
    pub redis: bool,
    pub tcpkeepalive: bool,
    pub redis_auth: Option<String>,
    pub redis_db: u32,
    pub preconnect: bool,
    pub auto_eject_hosts: bool,
    pub server_connections: u32,
    pub server_retry_timeout_ms: u64,
    pub server_failure_limit: u32,
    pub reuseport: bool,
    pub server_probe: bool, // probe an ejected server before re-admitting it
    pub servers: Vec<ServerConf>, // length-first order of server name
}
