//! Configuration file (twemproxy: nc_conf.c).
//!
//! `load` reads a YAML file of pools (§CONF) into a validated [`Conf`]: every directive of
//! §CONF.4 typed and defaulted (§CONF.7), checked in 0.5.0's order (§CONF.1 passes, then each
//! directive in file order, then §CONF.8), pools and servers in length-first order (§CONF.9).
//! The YAML layer lives in `conf/yaml.rs`, behind one function.
//!
//! Beyond 0.5.0: `reuseport` (HEAD-only, §0.2) and `server_probe` are directives,
//! `client_connections` is kept (the core enforces it), `listen` also takes `[v6]:port`, and
//! every [`ConfError`] names the file, pool and key besides 0.5.0's reason text. Three resource
//! limits (issue 8) are directives too: `max_request_bytes`, `max_request_args` and
//! `client_max_pending_bytes`.
//!
//! # Invariants
//! - A `Conf` returned by `parse` is valid: at least one pool, unique pool names and listen
//!   strings, each pool with at least one server, unique server names within a pool.
//! - `Conf::pools` and each `PoolConf::servers` are sorted length-first by name.

mod yaml;

pub use yaml::{Structure, Token};

use crate::hashkit::{self, Distribution, HashKind};
use std::cmp::Ordering;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
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
    Tcp { host: String, port: u16 }, // host without `[]` brackets
    Unix(PathBuf),
}

/// Whether a `servers:` entry gave its name or had one derived from its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    Given,   // `host:port:weight name`
    Derived, // §CONF.6 rule 5: from the address
}

/// One `servers:` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConf {
    pub name: String,  // §CONF.6 rule 5: hashed by ketama, stats key
    pub pname: String, // the entry minus ` name` (logs)
    pub addr: ServerAddr,
    pub weight: u32,    // >= 1
    pub naming: Naming, // a pool with sentinels needs Given names (Sentinel master names)
}

/// One `sentinels:` entry: `host:port` (or `host:port:weight`, the weight ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelConf {
    pub host: String, // without `[]` brackets; resolved at every connect
    pub port: u16,
}

impl fmt::Display for SentinelConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_host_port(f, &self.host, self.port)
    }
}

/// `host:port`, with an IPv6 host in brackets (`[::1]:26379`).
pub fn write_host_port(f: &mut fmt::Formatter<'_>, host: &str, port: u16) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]:{port}")
    } else {
        write!(f, "{host}:{port}")
    }
}

impl fmt::Display for ServerAddr {
    /// `host:port` (`[v6]:port`) or the socket path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddr::Tcp { host, port } => write_host_port(f, host, *port),
            ServerAddr::Unix(path) => write!(f, "{}", path.display()),
        }
    }
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
    pub timeout_ms: Option<u64>, // None: no timeout (absent or 0)
    pub backlog: u32,
    pub client_connections: u32, // 0 = no limit (enforced, unlike 0.5.0)
    pub redis: bool,
    pub tcpkeepalive: bool,
    pub redis_auth: Option<String>,
    pub redis_db: u32,
    pub preconnect: bool,
    pub auto_eject_hosts: bool,
    pub server_connections: u32, // >= 1
    pub server_retry_timeout_ms: u64,
    pub server_failure_limit: u32,
    pub reuseport: bool,
    pub server_probe: bool, // probe an ejected server before re-admitting it
    pub max_request_bytes: u32, // >= 1: longest request a client may send
    pub max_request_args: u32, // >= 1: most multibulk arguments / get keys in one request
    pub client_max_pending_bytes: u32, // 0 = no limit: unread reply bytes held per client
    pub server_dedicated_connections: u32, // per server: most connections held by one client each (0 = none)
    pub sentinels: Vec<SentinelConf>, // Redis Sentinels that name each server's master (issue 13)
    pub sentinel_auth: Option<String>, // AUTH password of those sentinels
    pub servers: Vec<ServerConf>,     // length-first order of server name
}

/// Why a configuration was rejected; the comments give 0.5.0's text after `conf: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfErrorKind {
    Open(String),                        // failed to open configuration '<file>': <strerror>
    Yaml { code: u8, detail: String },   // failed (err <code>) to get the next yaml document
    Documents(usize), // '<file>' must contain only 1 document; found <n> documents
    Token { token: Token, line: usize }, // <token> token (<n>) is disallowed
    Structure(Structure), // '<file>' <structure text>
    Empty,            // (0.5.0: no text) an empty pool name, key or value
    Unknown,          // directive "<key>" is unknown
    Duplicate,        // directive "<key>" is a duplicate
    NotNumber,        // directive "<key>" is not a number
    NotBool,          // directive "<key>" is not "true" or "false"
    InvalidHash,      // directive "<key>" is not a valid hash
    InvalidHashTag,   // directive "<key>" is not a valid hash tag string with two characters
    InvalidDistribution, // directive "<key>" is not a valid distribution
    ListenFormat,     // directive "<key>" has an invalid "hostname:port" format string
    ListenPort,       // directive "<key>" has an invalid port in "hostname:port" format string
    ListenPerm, // directive "<key>" has an invalid file permission in "socket_path permission" format string
    ListenValue(String), // directive "<key>" has an invalid value (the string says why)
    ServerFormat, // directive "<key>" has an invalid "hostname:port:weight [name]"or "/path/unix_socket:weight [name]" format string
    ServerWeight, // directive "<key>" has an invalid weight in "hostname:port:weight [name]" format string
    ServerZeroWeight, // directive "<key>" has a zero weight in "hostname:port:weight [name]" format string
    ServerPort, // directive "<key>" has an invalid port in "hostname:port:weight [name]" format string
    ListenMissing, // directive "listen:" is missing
    ServerConnectionsZero, // directive "server_connections:" cannot be 0
    LimitZero,  // (not in 0.5.0) directive "<key>" cannot be 0
    RedisAuthNotRedis, // directive "redis_auth:" is only valid for a redis pool
    SentinelFormat, // (not in 0.5.0) directive "sentinels" has an invalid "hostname:port[:weight]" format string
    SentinelsNotRedis, // (not in 0.5.0) directive "sentinels:" is only valid for a redis pool
    SentinelAuthAlone, // (not in 0.5.0) directive "sentinel_auth:" is only valid with "sentinels:"
    SentinelUnnamed(String), // (not in 0.5.0) pool '<pool>' has sentinels but server '<entry>' has no name
    NoServers,               // pool '<pool>' has no servers
    DuplicateServer(String), // pool '<pool>' has servers with same name '<name>'
    NoPools,                 // '<file>' has no pools
    DuplicateListen { other: String, listen: String }, // pools '<pool>' and '<other>' have the same listen address '<listen>'
    DuplicatePool,                                     // '<file>' has pools with same name <pool>'
}

/// A rejected configuration: 0.5.0's reason plus where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfError {
    pub file: String,          // the path as given to `load`/`parse`
    pub pool: Option<String>,  // the pool concerned, when there is one
    pub key: Option<String>,   // the directive concerned, when there is one
    pub value: Option<String>, // the offending value (never a redis_auth password)
    pub kind: ConfErrorKind,
}

impl ConfError {
    fn new(file: &str, kind: ConfErrorKind) -> ConfError {
        ConfError {
            file: file.to_owned(),
            pool: None,
            key: None,
            value: None,
            kind,
        }
    }

    /// The file could not be opened (the -t driver then prints `syntax is invalid` once).
    pub fn is_open_error(&self) -> bool {
        matches!(self.kind, ConfErrorKind::Open(_))
    }

    /// 0.5.0's log text after `conf: `, byte for byte (§CONF.11).
    pub fn reason(&self) -> String {
        use ConfErrorKind as K;
        let file = &self.file;
        let pool = self.pool.as_deref().unwrap_or("");
        let key = self.key.as_deref().unwrap_or("");
        let directive = |why: &str| format!("directive \"{key}\" {why}");
        match &self.kind {
            K::Open(e) => format!("failed to open configuration '{file}': {e}"),
            K::Yaml { code, .. } => format!("failed (err {code}) to get the next yaml document"),
            K::Documents(n) => {
                format!("'{file}' must contain only 1 document; found {n} documents")
            }
            K::Token { token, .. } => {
                format!("{} token ({}) is disallowed", token.name(), *token as u8)
            }
            K::Structure(s) => format!("'{file}' {s}"),
            K::Empty => "has an empty pool name, key or value".to_owned(),
            K::Unknown => directive("is unknown"),
            K::Duplicate => directive("is a duplicate"),
            K::NotNumber => directive("is not a number"),
            K::NotBool => directive("is not \"true\" or \"false\""),
            K::InvalidHash => directive("is not a valid hash"),
            K::InvalidHashTag => directive("is not a valid hash tag string with two characters"),
            K::InvalidDistribution => directive("is not a valid distribution"),
            K::ListenFormat => directive("has an invalid \"hostname:port\" format string"),
            K::ListenPort => directive("has an invalid port in \"hostname:port\" format string"),
            K::ListenPerm => directive(
                "has an invalid file permission in \"socket_path permission\" format string",
            ),
            K::ListenValue(_) => directive("has an invalid value"),
            K::ServerFormat => directive(
                "has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string",
            ),
            K::ServerWeight => {
                directive("has an invalid weight in \"hostname:port:weight [name]\" format string")
            }
            K::ServerZeroWeight => {
                directive("has a zero weight in \"hostname:port:weight [name]\" format string")
            }
            K::ServerPort => {
                directive("has an invalid port in \"hostname:port:weight [name]\" format string")
            }
            K::ListenMissing => "directive \"listen:\" is missing".to_owned(),
            K::ServerConnectionsZero => "directive \"server_connections:\" cannot be 0".to_owned(),
            K::LimitZero => directive("cannot be 0"),
            K::RedisAuthNotRedis => {
                "directive \"redis_auth:\" is only valid for a redis pool".to_owned()
            }
            K::SentinelFormat => {
                directive("has an invalid \"hostname:port[:weight]\" format string")
            }
            K::SentinelsNotRedis => {
                "directive \"sentinels:\" is only valid for a redis pool".to_owned()
            }
            K::SentinelAuthAlone => {
                "directive \"sentinel_auth:\" is only valid with \"sentinels:\"".to_owned()
            }
            K::SentinelUnnamed(entry) => format!(
                "pool '{pool}' has sentinels but server '{entry}' has no name (the name is the Sentinel master name)"
            ),
            K::NoServers => format!("pool '{pool}' has no servers"),
            K::DuplicateServer(name) => {
                format!("pool '{pool}' has servers with same name '{name}'")
            }
            K::NoPools => format!("'{file}' has no pools"),
            K::DuplicateListen { other, listen } => {
                format!("pools '{pool}' and '{other}' have the same listen address '{listen}'")
            }
            K::DuplicatePool => format!("'{file}' has pools with same name {pool}'"),
        }
    }
}

impl fmt::Display for ConfError {
    /// `conf: '<file>' pool '<pool>': <reason> (value '<value>')`, where the reason is 0.5.0's
    /// text. Reasons that 0.5.0 starts with the file name follow it directly; an open error is
    /// 0.5.0's line unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = self.reason();
        if self.is_open_error() {
            return write!(f, "conf: {reason}");
        }
        write!(f, "conf: '{}'", self.file)?;
        if let Some(pool) = &self.pool {
            write!(f, " pool '{pool}'")?;
        }
        match reason.strip_prefix(&format!("'{}' ", self.file)) {
            Some(rest) => write!(f, " {rest}")?,
            None => write!(f, ": {reason}")?,
        }
        if let Some(value) = &self.value {
            write!(f, " (value '{value}')")?;
        }
        match &self.kind {
            ConfErrorKind::Yaml { detail, .. } => write!(f, ": {detail}"),
            ConfErrorKind::Token { line, .. } => write!(f, " at line {line}"),
            ConfErrorKind::ListenValue(why) => write!(f, ": {why}"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ConfError {}

/// Reads and validates the configuration file at `path`.
#[allow(clippy::result_large_err)] // startup only: built at most once per load
pub fn load(path: &str) -> Result<Conf, ConfError> {
    let bytes =
        std::fs::read(path).map_err(|e| ConfError::new(path, ConfErrorKind::Open(strerror(&e))))?;
    match String::from_utf8(bytes) {
        Ok(text) => parse(&text, path),
        Err(e) => {
            let detail = format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to());
            Err(ConfError::new(
                path,
                ConfErrorKind::Yaml { code: 2, detail },
            ))
        }
    }
}

/// The C library's text for an I/O error, without Rust's ` (os error N)` suffix.
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(at) => s[..at].to_owned(),
        None => s,
    }
}

/// Validates configuration text; `path` names it in errors and in `Conf::path`.
#[allow(clippy::result_large_err)] // startup only: built at most once per load
pub fn parse(text: &str, path: &str) -> Result<Conf, ConfError> {
    let raw = yaml::pools(text).map_err(|e| yaml_error(e, path))?;
    let mut drafts = Vec::with_capacity(raw.len());
    for pool in &raw {
        drafts.push(Draft::from_raw(pool).map_err(|e| e.at(path, &pool.name))?);
    }
    let mut pools = Vec::with_capacity(drafts.len());
    for (draft, pool) in drafts.into_iter().zip(&raw) {
        pools.push(
            draft
                .validate(&pool.name)
                .map_err(|e| e.at(path, &pool.name))?,
        );
    }
    if pools.is_empty() {
        return Err(ConfError::new(path, ConfErrorKind::NoPools));
    }
    pools.sort_by(|a, b| length_first(&a.listen_str, &b.listen_str));
    if let Some(w) = pools
        .windows(2)
        .find(|w| w[0].listen_str == w[1].listen_str)
    {
        let mut e = ConfError::new(
            path,
            ConfErrorKind::DuplicateListen {
                other: w[1].name.clone(),
                listen: w[0].listen_str.clone(),
            },
        );
        e.pool = Some(w[0].name.clone());
        return Err(e);
    }
    pools.sort_by(|a, b| length_first(&a.name, &b.name));
    if let Some(w) = pools.windows(2).find(|w| w[0].name == w[1].name) {
        let mut e = ConfError::new(path, ConfErrorKind::DuplicatePool);
        e.pool = Some(w[0].name.clone());
        return Err(e);
    }
    Ok(Conf {
        path: path.to_owned(),
        pools,
    })
}

fn yaml_error(e: yaml::YamlError, path: &str) -> ConfError {
    use yaml::YamlError as Y;
    let (kind, pool) = match e {
        Y::Syntax { code, detail } => (ConfErrorKind::Yaml { code, detail }, None),
        Y::Documents(n) => (ConfErrorKind::Documents(n), None),
        Y::Token { token, line } => (ConfErrorKind::Token { token, line }, None),
        Y::Structure { shape, pool } => (ConfErrorKind::Structure(shape), pool),
    };
    ConfError {
        pool,
        ..ConfError::new(path, kind)
    }
}

/// Length-first order of §0.4: shorter first, then bytewise.
fn length_first(a: &str, b: &str) -> Ordering {
    hashkit::length_first(a.as_bytes(), b.as_bytes())
}

/// A directive error before the file and pool are known.
#[derive(Debug)]
struct DirectiveError {
    key: Option<String>,
    value: Option<String>,
    kind: ConfErrorKind,
}

impl DirectiveError {
    fn bare(kind: ConfErrorKind) -> DirectiveError {
        DirectiveError {
            key: None,
            value: None,
            kind,
        }
    }

    fn at(self, file: &str, pool: &str) -> ConfError {
        ConfError {
            file: file.to_owned(),
            pool: Some(pool.to_owned()),
            key: self.key,
            value: self.value,
            kind: self.kind,
        }
    }
}

/// A pool's directives as parsed, before defaults (twemproxy: `struct conf_pool`, UNSET = None).
#[derive(Debug, Default)]
struct Draft {
    listen: Option<(Listen, String)>,
    hash: Option<HashKind>,
    hash_tag: Option<[u8; 2]>,
    distribution: Option<Distribution>,
    timeout: Option<u32>,
    backlog: Option<u32>,
    client_connections: Option<u32>,
    redis: Option<bool>,
    tcpkeepalive: Option<bool>,
    redis_auth: Option<String>,
    redis_db: Option<u32>,
    preconnect: Option<bool>,
    auto_eject_hosts: Option<bool>,
    server_connections: Option<u32>,
    server_dedicated_connections: Option<u32>,
    server_retry_timeout: Option<u32>,
    server_failure_limit: Option<u32>,
    reuseport: Option<bool>,
    server_probe: Option<bool>,
    max_request_bytes: Option<u32>,
    max_request_args: Option<u32>,
    client_max_pending_bytes: Option<u32>,
    sentinels: Vec<SentinelConf>,
    sentinel_auth: Option<String>,
    servers: Vec<ServerConf>, // file order until validate()
}

/// Stores a directive's value unless it was already given (duplicates are checked first).
fn set<T>(
    slot: &mut Option<T>,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, ConfErrorKind>,
) -> Result<(), ConfErrorKind> {
    if slot.is_some() {
        return Err(ConfErrorKind::Duplicate);
    }
    *slot = Some(parse(value)?);
    Ok(())
}

impl Draft {
    /// Applies each `key: value` in file order; the first error wins (twemproxy: conf_parse).
    fn from_raw(pool: &yaml::RawPool) -> Result<Draft, DirectiveError> {
        if pool.name.is_empty() {
            return Err(DirectiveError::bare(ConfErrorKind::Empty));
        }
        let mut d = Draft::default();
        for (key, value) in &pool.directives {
            let secret = matches!(key.as_str(), "redis_auth" | "sentinel_auth");
            let shown = (!secret).then(|| value.clone());
            let fail = |kind| DirectiveError {
                key: Some(key.clone()),
                value: shown.clone(),
                kind,
            };
            if key.is_empty() || value.is_empty() {
                return Err(fail(ConfErrorKind::Empty));
            }
            d.directive(key, value).map_err(fail)?;
        }
        Ok(d)
    }

    /// The directive table of §CONF.4 (twemproxy: `conf_commands`), one row per key.
    fn directive(&mut self, key: &str, v: &str) -> Result<(), ConfErrorKind> {
        match key {
            "listen" => set(&mut self.listen, v, |v| {
                Ok((parse_listen(v)?, v.to_owned()))
            }),
            "hash" => set(&mut self.hash, v, parse_hash),
            "hash_tag" => set(&mut self.hash_tag, v, parse_hash_tag),
            "distribution" => set(&mut self.distribution, v, parse_distribution),
            "timeout" => set(&mut self.timeout, v, parse_num),
            "backlog" => set(&mut self.backlog, v, parse_num),
            "client_connections" => set(&mut self.client_connections, v, parse_num),
            "redis" => set(&mut self.redis, v, parse_bool),
            "tcpkeepalive" => set(&mut self.tcpkeepalive, v, parse_bool),
            "redis_auth" => set(&mut self.redis_auth, v, |v| Ok(v.to_owned())),
            "redis_db" => set(&mut self.redis_db, v, parse_num),
            "preconnect" => set(&mut self.preconnect, v, parse_bool),
            "auto_eject_hosts" => set(&mut self.auto_eject_hosts, v, parse_bool),
            "server_connections" => set(&mut self.server_connections, v, parse_num),
            "server_dedicated_connections" => {
                set(&mut self.server_dedicated_connections, v, parse_num)
            }
            "server_retry_timeout" => set(&mut self.server_retry_timeout, v, parse_num),
            "server_failure_limit" => set(&mut self.server_failure_limit, v, parse_num),
            "reuseport" => set(&mut self.reuseport, v, parse_bool),
            "server_probe" => set(&mut self.server_probe, v, parse_bool),
            "max_request_bytes" => set(&mut self.max_request_bytes, v, parse_limit),
            "max_request_args" => set(&mut self.max_request_args, v, parse_limit),
            "client_max_pending_bytes" => set(&mut self.client_max_pending_bytes, v, parse_num),
            "servers" => {
                self.servers.push(parse_server(v)?);
                Ok(())
            }
            "sentinels" => {
                self.sentinels.push(parse_sentinel(v)?);
                Ok(())
            }
            "sentinel_auth" => set(&mut self.sentinel_auth, v, |v| Ok(v.to_owned())),
            _ => Err(ConfErrorKind::Unknown),
        }
    }

    /// Defaults and the per-pool checks of §CONF.8 steps 1-5 (twemproxy: conf_validate_pool).
    fn validate(self, name: &str) -> Result<PoolConf, DirectiveError> {
        let redis = self.redis.unwrap_or(false);
        self.check_sentinels(redis)?;
        let Some((listen, listen_str)) = self.listen else {
            return Err(DirectiveError {
                key: Some("listen".to_owned()),
                value: None,
                kind: ConfErrorKind::ListenMissing,
            });
        };
        let server_connections = self.server_connections.unwrap_or(1);
        if server_connections == 0 {
            return Err(DirectiveError {
                key: Some("server_connections".to_owned()),
                value: None,
                kind: ConfErrorKind::ServerConnectionsZero,
            });
        }
        if self.redis_auth.is_some() && !redis {
            return Err(DirectiveError {
                key: Some("redis_auth".to_owned()),
                value: None,
                kind: ConfErrorKind::RedisAuthNotRedis,
            });
        }
        let mut servers = self.servers;
        if servers.is_empty() {
            return Err(DirectiveError::bare(ConfErrorKind::NoServers));
        }
        servers.sort_by(|a, b| length_first(&a.name, &b.name));
        if let Some(w) = servers.windows(2).find(|w| w[0].name == w[1].name) {
            let kind = ConfErrorKind::DuplicateServer(w[0].name.clone());
            return Err(DirectiveError {
                key: Some("servers".to_owned()),
                value: None,
                kind,
            });
        }
        Ok(PoolConf {
            name: name.to_owned(),
            listen,
            listen_str,
            hash: self.hash.unwrap_or(HashKind::Fnv1a_64),
            hash_tag: self.hash_tag,
            distribution: self.distribution.unwrap_or(Distribution::Ketama),
            timeout_ms: self.timeout.filter(|&t| t > 0).map(u64::from),
            backlog: self.backlog.unwrap_or(512),
            client_connections: self.client_connections.unwrap_or(0),
            redis,
            tcpkeepalive: self.tcpkeepalive.unwrap_or(false),
            redis_auth: self.redis_auth,
            redis_db: self.redis_db.unwrap_or(0),
            preconnect: self.preconnect.unwrap_or(false),
            auto_eject_hosts: self.auto_eject_hosts.unwrap_or(false),
            server_connections,
            server_retry_timeout_ms: u64::from(self.server_retry_timeout.unwrap_or(30000)),
            server_failure_limit: self.server_failure_limit.unwrap_or(2),
            reuseport: self.reuseport.unwrap_or(false),
            server_probe: self.server_probe.unwrap_or(false),
            max_request_bytes: self.max_request_bytes.unwrap_or(MAX_REQUEST_BYTES),
            max_request_args: self.max_request_args.unwrap_or(MAX_REQUEST_ARGS),
            client_max_pending_bytes: self
                .client_max_pending_bytes
                .unwrap_or(CLIENT_MAX_PENDING_BYTES),
            server_dedicated_connections: self
                .server_dedicated_connections
                .unwrap_or(SERVER_DEDICATED_CONNECTIONS),
            sentinels: self.sentinels,
            sentinel_auth: self.sentinel_auth,
            servers,
        })
    }

    /// `sentinels:` only on a redis pool whose servers are all named (issue 13.1);
    /// `sentinel_auth:` only with `sentinels:`.
    fn check_sentinels(&self, redis: bool) -> Result<(), DirectiveError> {
        let fail = |key: &str, kind| {
            Err(DirectiveError {
                key: Some(key.to_owned()),
                value: None,
                kind,
            })
        };
        if self.sentinels.is_empty() {
            if self.sentinel_auth.is_some() {
                return fail("sentinel_auth", ConfErrorKind::SentinelAuthAlone);
            }
            return Ok(());
        }
        if !redis {
            return fail("sentinels", ConfErrorKind::SentinelsNotRedis);
        }
        match self.servers.iter().find(|s| s.naming == Naming::Derived) {
            Some(s) => fail("servers", ConfErrorKind::SentinelUnnamed(s.pname.clone())),
            None => Ok(()),
        }
    }
}

/// Default `max_request_bytes`: 512 MiB, redis-server's `proto-max-bulk-len`.
pub const MAX_REQUEST_BYTES: u32 = 512 * 1024 * 1024;
/// Default `max_request_args`: 1 Mi, redis-server's multibulk count limit.
pub const MAX_REQUEST_ARGS: u32 = 1024 * 1024;
/// Default `client_max_pending_bytes`: 64 MiB of unread replies per client.
pub const CLIENT_MAX_PENDING_BYTES: u32 = 64 * 1024 * 1024;
/// Default `server_dedicated_connections`: per server, connections the
/// proxy opens for one client each (transactions, blocking commands,
/// Pub/Sub); redis keeps 10,000 clients by default.
pub const SERVER_DEDICATED_CONNECTIONS: u32 = 64;

/// A plain decimal number (twemproxy: nc_atoi): digits only, accumulated in a wrapping i32,
/// rejected if the result is negative (§CLI.1, §CONF.4).
fn atoi(v: &str) -> Option<u32> {
    if v.is_empty() {
        return None;
    }
    let mut n: i32 = 0;
    for b in v.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.wrapping_mul(10).wrapping_add(i32::from(b - b'0'));
    }
    u32::try_from(n).ok()
}

fn parse_num(v: &str) -> Result<u32, ConfErrorKind> {
    atoi(v).ok_or(ConfErrorKind::NotNumber)
}

/// A number that bounds something and so cannot be 0.
fn parse_limit(v: &str) -> Result<u32, ConfErrorKind> {
    match parse_num(v)? {
        0 => Err(ConfErrorKind::LimitZero),
        n => Ok(n),
    }
}

fn parse_bool(v: &str) -> Result<bool, ConfErrorKind> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfErrorKind::NotBool),
    }
}

fn parse_hash_tag(v: &str) -> Result<[u8; 2], ConfErrorKind> {
    <[u8; 2]>::try_from(v.as_bytes()).map_err(|_| ConfErrorKind::InvalidHashTag)
}

/// The twelve names of §HASH.1.
fn parse_hash(v: &str) -> Result<HashKind, ConfErrorKind> {
    HashKind::from_name(v).ok_or(ConfErrorKind::InvalidHash)
}

fn parse_distribution(v: &str) -> Result<Distribution, ConfErrorKind> {
    Distribution::from_name(v).ok_or(ConfErrorKind::InvalidDistribution)
}

/// Longest unix socket path plus NUL (`sizeof(sun_path)` on Linux).
const UNIX_PATH_MAX: usize = 108;

/// `listen:` (§CONF.5): `/path [octal perm]`, or `host:port` split at the last `:` and
/// resolved now (first result). `[v6]:port` is accepted too (0.5.0 fails to resolve it).
fn parse_listen(v: &str) -> Result<Listen, ConfErrorKind> {
    if v.starts_with('/') {
        let (path, perm) = match v.rsplit_once(' ') {
            Some((path, perm)) => (path, strtol_octal(perm).ok_or(ConfErrorKind::ListenPerm)?),
            None => (v, 0),
        };
        if path.len() >= UNIX_PATH_MAX {
            let why = format!(
                "unix socket path is longer than {} bytes",
                UNIX_PATH_MAX - 1
            );
            return Err(ConfErrorKind::ListenValue(why));
        }
        return Ok(Listen::Unix {
            path: PathBuf::from(path),
            perm,
        });
    }
    let (host, port) = v.rsplit_once(':').ok_or(ConfErrorKind::ListenFormat)?;
    let port = atoi(port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|&p| p > 0)
        .ok_or(ConfErrorKind::ListenPort)?;
    let node = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let resolved = (node, port).to_socket_addrs().map(|mut addrs| addrs.next());
    match resolved {
        Ok(Some(addr)) => Ok(Listen::Tcp(addr)),
        Ok(None) => Err(resolve_error(host, port, "no address found")),
        Err(e) => Err(resolve_error(host, port, &e.to_string())),
    }
}

fn resolve_error(host: &str, port: u16, why: &str) -> ConfErrorKind {
    ConfErrorKind::ListenValue(format!(
        "address resolution of node '{host}' service '{port}' failed: {why}"
    ))
}

/// C `strtol(s, NULL, 8)` as a file mode: leading blanks, an optional sign, octal digits up to
/// the first other byte (none → 0). None when it overflows or exceeds 0777 (a negative value
/// becomes a huge `mode_t`).
fn strtol_octal(s: &str) -> Option<u32> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(|b| (b'0'..=b'7').contains(b)) {
        n = n.checked_mul(8)?.checked_add(i64::from(b - b'0'))?;
    }
    if negative && n != 0 {
        return None;
    }
    u32::try_from(n).ok().filter(|&p| p <= 0o777)
}

/// Port whose servers are named by host alone (libmemcached's ketama compatibility).
const KETAMA_PORT: u32 = 11211;

/// A `servers:` item (§CONF.6): `host:port:weight [name]` or `/path:weight [name]`, parsed
/// from the end.
fn parse_server(v: &str) -> Result<ServerConf, ConfErrorKind> {
    let (rest, name) = match v.rsplit_once(' ') {
        Some((rest, name)) => (rest, Some(name)),
        None => (v, None),
    };
    let (addr, weight) = rest.rsplit_once(':').ok_or(ConfErrorKind::ServerFormat)?;
    let unix = v.starts_with('/');
    let host_port = if unix {
        if addr.contains(':') {
            return Err(ConfErrorKind::ServerFormat);
        }
        None
    } else {
        Some(addr.rsplit_once(':').ok_or(ConfErrorKind::ServerFormat)?)
    };
    let weight = atoi(weight).ok_or(ConfErrorKind::ServerWeight)?;
    if weight == 0 {
        return Err(ConfErrorKind::ServerZeroWeight);
    }
    let pname = rest.to_owned();
    let Some((host, port)) = host_port else {
        // unnamed unix servers are named `<path>:` (0.5.0 quirk, §DIFF.2)
        return Ok(ServerConf {
            naming: naming(name),
            name: name.map_or_else(|| format!("{addr}:"), str::to_owned),
            pname,
            addr: ServerAddr::Unix(PathBuf::from(addr)),
            weight,
        });
    };
    let port_num = atoi(port)
        .filter(|&p| (1..=65535).contains(&p))
        .ok_or(ConfErrorKind::ServerPort)?;
    let naming = naming(name);
    let name = match name {
        Some(name) => name.to_owned(),
        None if port_num == KETAMA_PORT => host.to_owned(),
        None => addr.to_owned(),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = u16::try_from(port_num).map_err(|_| ConfErrorKind::ServerPort)?;
    Ok(ServerConf {
        name,
        pname,
        addr: ServerAddr::Tcp {
            host: host.to_owned(),
            port,
        },
        weight,
        naming,
    })
}

fn naming(name: Option<&str>) -> Naming {
    match name {
        Some(_) => Naming::Given,
        None => Naming::Derived,
    }
}

/// A `sentinels:` item: `host:port` or `host:port:weight` (twemproxy PR #324's form; the
/// weight must be a number and is ignored), `[v6]:port` accepted.
fn parse_sentinel(v: &str) -> Result<SentinelConf, ConfErrorKind> {
    let bad = ConfErrorKind::SentinelFormat;
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or(bad.clone())?;
        let tail = tail.strip_prefix(':').ok_or(bad.clone())?;
        let port = match tail.split_once(':') {
            Some((port, weight)) => atoi(weight).map(|_| port).ok_or(bad.clone())?,
            None => tail,
        };
        (host, port)
    } else {
        let mut parts = v.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(host), Some(port), None, None) => (host, port),
            (Some(host), Some(port), Some(weight), None) if atoi(weight).is_some() => (host, port),
            _ => return Err(bad),
        }
    };
    let port = atoi(port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|&p| p > 0)
        .ok_or(bad.clone())?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad);
    }
    Ok(SentinelConf {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests;
