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

// ---------------------------------------------------------------------------
// TEMPORARY STUB (branch `cli`): just enough `load` for main.rs and the -t
// tests to compile and run. The conf helper's loader replaces everything
// below this line; only the signatures are the contract.
// ---------------------------------------------------------------------------

/// Why a configuration was rejected (stub).
#[derive(Debug)]
pub enum ConfError {
    Open { path: String, err: std::io::Error }, // the file cannot be read
    Invalid { path: String, reason: String },   // anything else
}

impl ConfError {
    /// True when the file could not be opened (-t prints `syntax is invalid` once).
    pub fn is_open_error(&self) -> bool {
        matches!(self, ConfError::Open { .. })
    }
}

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfError::Open { path, err } => {
                write!(f, "conf: failed to open configuration '{path}': {err}")
            }
            ConfError::Invalid { path, reason } => write!(f, "conf: '{path}': {reason}"),
        }
    }
}

impl std::error::Error for ConfError {}

/// Loads and validates `path` (stub: checks only that each pool is a mapping
/// with `listen` and `servers`).
pub fn load(path: &str) -> Result<Conf, ConfError> {
    let invalid = |reason: String| ConfError::Invalid {
        path: path.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|err| ConfError::Open {
        path: path.to_string(),
        err,
    })?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let pools = doc
        .as_mapping()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("has no pools".to_string()))?;
    for (name, pool) in pools {
        let name = name.as_str().unwrap_or("?");
        for key in ["listen", "servers"] {
            if pool.get(key).is_none() {
                return Err(invalid(format!(
                    "pool '{name}': directive \"{key}:\" is missing"
                )));
            }
        }
    }
    Ok(Conf {
        path: path.to_string(),
        pools: Vec::new(),
    })
}
