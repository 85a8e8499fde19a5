//! Unit tests of configuration loading: every rejection class of §CONF.1-§CONF.8, defaults,
//! ordering, names and listen forms, and every file in conf/.

use super::*;
use ConfErrorKind as K;

const FILE: &str = "t.yml";

fn ok(text: &str) -> Conf {
    match parse(text, FILE) {
        Ok(conf) => conf,
        Err(e) => panic!("expected a valid configuration, got: {e}\n{text}"),
    }
}

fn err(text: &str) -> ConfError {
    match parse(text, FILE) {
        Ok(conf) => panic!("expected a rejection, got {conf:?}\n{text}"),
        Err(e) => e,
    }
}

/// A pool `p` listening on 127.0.0.1:22121 with one server and `extra` directive lines.
fn pool(extra: &str) -> String {
    format!("p:\n  listen: 127.0.0.1:22121\n{extra}  servers:\n    - 127.0.0.1:6379:1\n")
}

/// A pool `p` with `listen: <listen>` and one server.
fn listen(listen: &str) -> String {
    format!("p:\n  listen: {listen}\n  servers:\n    - 127.0.0.1:6379:1\n")
}

/// A pool `p` with one `servers:` item.
fn server(item: &str) -> String {
    format!("p:\n  listen: 127.0.0.1:22121\n  servers:\n    - {item}\n")
}

/// A redis pool `p` with the given `sentinels:` and `servers:` item lines.
fn sentinel_pool(sentinels: &str, servers: &str) -> String {
    format!(
        "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  sentinels:\n{sentinels}  servers:\n{servers}"
    )
}

/// Each row: a test name, a configuration text, the expected error kind, and 0.5.0's reason.
macro_rules! reject {
    ($($name:ident: $text:expr => $kind:pat, $reason:expr;)*) => {$(
        #[test]
        fn $name() {
            let e = err(&$text);
            assert!(matches!(e.kind, $kind), "{}: got {:?}", stringify!($name), e);
            assert_eq!(e.reason(), $reason, "{}", stringify!($name));
            assert!(e.to_string().starts_with("conf: "), "{e}");
            assert!(!e.is_open_error());
        }
    )*};
}

reject! {
    // §CONF.1 pass 1: document count and YAML syntax
    empty_file: "" => K::Documents(0), "'t.yml' must contain only 1 document; found 0 documents";
    only_comments: "# nothing\n\n  # here\n" => K::Documents(0),
        "'t.yml' must contain only 1 document; found 0 documents";
    two_documents: format!("{}---\n{}", listen("127.0.0.1:1"), listen("127.0.0.1:2"))
        => K::Documents(2), "'t.yml' must contain only 1 document; found 2 documents";
    tab_indent: "p:\n\tlisten: 127.0.0.1:22121\n" => K::Yaml { code: 3, .. },
        "failed (err 3) to get the next yaml document";
    trailing_colon_value: listen("127.0.0.1:") => K::Yaml { code: 3, .. },
        "failed (err 3) to get the next yaml document";
    // §CONF.1 pass 2: token filter
    document_start: format!("---\n{}", pool("")) => K::Token { token: Token::DocumentStart, line: 1 },
        "document start token (5) is disallowed";
    document_end: format!("{}...\n", pool("")) => K::Token { token: Token::DocumentEnd, line: 5 },
        "document end token (6) is disallowed";
    version_directive: format!("%YAML 1.1\n---\n{}", pool("")) => K::Token { token: Token::VersionDirective, .. },
        "version directive token (3) is disallowed";
    tag_directive: format!("%TAG !e! tag:example.com,2000:\n---\n{}", pool(""))
        => K::Token { token: Token::TagDirective, .. }, "tag directive token (4) is disallowed";
    flow_sequence: "p:\n  listen: 127.0.0.1:22121\n  servers: [127.0.0.1:6379:1]\n"
        => K::Token { token: Token::FlowSequenceStart, line: 3 }, "flow sequence start token (10) is disallowed";
    flow_mapping: "p: {listen: 127.0.0.1:22121}\n" => K::Token { token: Token::FlowMappingStart, line: 1 },
        "flow mapping start token (12) is disallowed";
    anchor: pool("  hash: &h fnv1a_64\n") => K::Token { token: Token::Anchor, line: 3 },
        "anchor token (19) is disallowed";
    tag: pool("  hash: !h fnv1a_64\n") => K::Token { token: Token::Tag, .. }, "tag token (20) is disallowed";
    // §CONF.1 pass 3: structure
    bare_scalar: "hello\n" => K::Structure(Structure::EmptyKey),
        "'t.yml' has invalid empty \"key:\" at depth 0";
    pool_is_scalar: "p: x\n" => K::Structure(Structure::InvalidMapping),
        "'t.yml' has invalid mapping \"key:\" at depth 1";
    pool_is_empty: "p:\n" => K::Structure(Structure::InvalidMapping),
        "'t.yml' has invalid mapping \"key:\" at depth 1";
    root_sequence: "- a\n- b\n" => K::Structure(Structure::SequenceAt(0)),
        "'t.yml' has sequence at depth 0 instead of 2";
    pool_is_sequence: "p:\n  - 127.0.0.1:6379:1\n" => K::Structure(Structure::SequenceAt(1)),
        "'t.yml' has sequence at depth 1 instead of 2";
    nested_mapping: pool("  hash:\n    name: md5\n") => K::Structure(Structure::DepthGreaterThan2),
        "'t.yml' has a depth greater than 2";
    mapping_in_sequence: server("host: 127.0.0.1") => K::Structure(Structure::DepthGreaterThan2),
        "'t.yml' has a depth greater than 2";
    two_sequences: pool("  listen2:\n    - a\n") => K::Structure(Structure::MoreThanOneSequence),
        "'t.yml' has more than one sequence directive";
    sequence_as_key: "p:\n  listen: 127.0.0.1:22121\n  ? - a\n  : b\n"
        => K::Structure(Structure::InvalidKeyValue), "'t.yml' has invalid \"key:value\" at depth 2";
    no_servers_key: "p:\n  listen: 127.0.0.1:22121\n" => K::Structure(Structure::MissingSequence),
        "'t.yml' missing sequence directive at depth 2";
    servers_without_items: "p:\n  listen: 127.0.0.1:22121\n  servers:\n"
        => K::Structure(Structure::MissingSequence), "'t.yml' missing sequence directive at depth 2";
    // §CONF.2 / §CONF.3
    empty_value: pool("  hash: \"\"\n") => K::Empty, "has an empty pool name, key or value";
    empty_pool_name: "\"\":\n  listen: 127.0.0.1:1\n  servers:\n    - 127.0.0.1:6379:1\n" => K::Empty,
        "has an empty pool name, key or value";
    unknown_directive: pool("  sentinel: 1\n") => K::Unknown, "directive \"sentinel\" is unknown";
    duplicate_directive: pool("  hash: md5\n  hash: crc16\n") => K::Duplicate,
        "directive \"hash\" is a duplicate";
    duplicate_listen_key: pool("  listen: 127.0.0.1:22122\n") => K::Duplicate,
        "directive \"listen\" is a duplicate";
    // §CONF.4 values
    number_signed: pool("  timeout: -1\n") => K::NotNumber, "directive \"timeout\" is not a number";
    number_plus: pool("  backlog: +5\n") => K::NotNumber, "directive \"backlog\" is not a number";
    number_hex: pool("  redis_db: 0x10\n") => K::NotNumber, "directive \"redis_db\" is not a number";
    number_float: pool("  server_retry_timeout: 1e3\n") => K::NotNumber,
        "directive \"server_retry_timeout\" is not a number";
    number_wraps_negative: pool("  server_failure_limit: 2147483648\n") => K::NotNumber,
        "directive \"server_failure_limit\" is not a number";
    number_suffix: pool("  client_connections: 10k\n") => K::NotNumber,
        "directive \"client_connections\" is not a number";
    bool_yes: pool("  redis: yes\n") => K::NotBool, "directive \"redis\" is not \"true\" or \"false\"";
    bool_capital: pool("  preconnect: True\n") => K::NotBool,
        "directive \"preconnect\" is not \"true\" or \"false\"";
    bool_one: pool("  auto_eject_hosts: 1\n") => K::NotBool,
        "directive \"auto_eject_hosts\" is not \"true\" or \"false\"";
    bool_reuseport: pool("  reuseport: on\n") => K::NotBool,
        "directive \"reuseport\" is not \"true\" or \"false\"";
    bad_hash: pool("  hash: fnv\n") => K::InvalidHash, "directive \"hash\" is not a valid hash";
    hash_case: pool("  hash: MD5\n") => K::InvalidHash, "directive \"hash\" is not a valid hash";
    hash_tag_short: pool("  hash_tag: \"{\"\n") => K::InvalidHashTag,
        "directive \"hash_tag\" is not a valid hash tag string with two characters";
    hash_tag_long: pool("  hash_tag: abc\n") => K::InvalidHashTag,
        "directive \"hash_tag\" is not a valid hash tag string with two characters";
    bad_distribution: pool("  distribution: vnode\n") => K::InvalidDistribution,
        "directive \"distribution\" is not a valid distribution";
    // issue 8 limits
    max_request_bytes_zero: pool("  max_request_bytes: 0\n") => K::LimitZero,
        "directive \"max_request_bytes\" cannot be 0";
    max_request_args_zero: pool("  max_request_args: 0\n") => K::LimitZero,
        "directive \"max_request_args\" cannot be 0";
    max_request_bytes_suffix: pool("  max_request_bytes: 1mb\n") => K::NotNumber,
        "directive \"max_request_bytes\" is not a number";
    max_request_args_negative: pool("  max_request_args: -1\n") => K::NotNumber,
        "directive \"max_request_args\" is not a number";
    client_max_pending_bytes_wraps: pool("  client_max_pending_bytes: 2147483648\n") => K::NotNumber,
        "directive \"client_max_pending_bytes\" is not a number";
    server_dedicated_connections_word: pool("  server_dedicated_connections: many\n") => K::NotNumber,
        "directive \"server_dedicated_connections\" is not a number";
    max_request_bytes_duplicate: pool("  max_request_bytes: 10\n  max_request_bytes: 10\n")
        => K::Duplicate, "directive \"max_request_bytes\" is a duplicate";
    // §CONF.5 listen
    listen_no_colon: listen("localhost") => K::ListenFormat,
        "directive \"listen\" has an invalid \"hostname:port\" format string";
    listen_port_zero: listen("127.0.0.1:0") => K::ListenPort,
        "directive \"listen\" has an invalid port in \"hostname:port\" format string";
    listen_port_high: listen("127.0.0.1:65536") => K::ListenPort,
        "directive \"listen\" has an invalid port in \"hostname:port\" format string";
    listen_port_text: listen("127.0.0.1:http") => K::ListenPort,
        "directive \"listen\" has an invalid port in \"hostname:port\" format string";
    listen_empty_host: listen("\":22121\"") => K::ListenValue(_), "directive \"listen\" has an invalid value";
    listen_perm_too_big: listen("/tmp/p.sock 1000") => K::ListenPerm,
        "directive \"listen\" has an invalid file permission in \"socket_path permission\" format string";
    listen_perm_negative: listen("/tmp/p.sock -1") => K::ListenPerm,
        "directive \"listen\" has an invalid file permission in \"socket_path permission\" format string";
    listen_path_too_long: listen(&format!("/tmp/{}", "x".repeat(103))) => K::ListenValue(_),
        "directive \"listen\" has an invalid value";
    // §CONF.6 servers
    server_no_port: server("127.0.0.1:1") => K::ServerFormat,
        "directive \"servers\" has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string";
    server_no_colon: server("localhost") => K::ServerFormat,
        "directive \"servers\" has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string";
    server_unix_colon: server("/tmp/a:b.sock:1") => K::ServerFormat,
        "directive \"servers\" has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string";
    server_weight_text: server("127.0.0.1:6379:x") => K::ServerWeight,
        "directive \"servers\" has an invalid weight in \"hostname:port:weight [name]\" format string";
    server_name_with_space: server("127.0.0.1:6379:1 my name") => K::ServerWeight,
        "directive \"servers\" has an invalid weight in \"hostname:port:weight [name]\" format string";
    server_weight_zero: server("127.0.0.1:6379:0") => K::ServerZeroWeight,
        "directive \"servers\" has a zero weight in \"hostname:port:weight [name]\" format string";
    server_port_zero: server("127.0.0.1:0:1") => K::ServerPort,
        "directive \"servers\" has an invalid port in \"hostname:port:weight [name]\" format string";
    server_port_high: server("127.0.0.1:70000:1") => K::ServerPort,
        "directive \"servers\" has an invalid port in \"hostname:port:weight [name]\" format string";
    // §CONF.8 validation
    listen_missing: "p:\n  servers:\n    - 127.0.0.1:6379:1\n" => K::ListenMissing,
        "directive \"listen:\" is missing";
    server_connections_zero: pool("  server_connections: 0\n") => K::ServerConnectionsZero,
        "directive \"server_connections:\" cannot be 0";
    redis_auth_memcache: pool("  redis_auth: secret\n") => K::RedisAuthNotRedis,
        "directive \"redis_auth:\" is only valid for a redis pool";
    no_servers: "p:\n  listen:\n    - 127.0.0.1:22121\n" => K::NoServers, "pool 'p' has no servers";
    same_server_two_weights: "p:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6379:1\n    - 127.0.0.1:6379:2\n"
        => K::DuplicateServer(_), "pool 'p' has servers with same name '127.0.0.1:6379'";
    same_server_name: "p:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6379:1 a\n    - 127.0.0.1:6380:1 a\n"
        => K::DuplicateServer(_), "pool 'p' has servers with same name 'a'";
    // issue 13: sentinels
    sentinels_memcache: "p:\n  listen: 127.0.0.1:22121\n  sentinels:\n    - 127.0.0.1:26379\n  servers:\n    - 127.0.0.1:6379:1 m1\n"
        => K::SentinelsNotRedis, "directive \"sentinels:\" is only valid for a redis pool";
    sentinels_unnamed_server: sentinel_pool("    - 127.0.0.1:26379\n", "    - 127.0.0.1:6379:1 m1\n    - 127.0.0.1:6380:1\n")
        => K::SentinelUnnamed(_), "pool 'p' has sentinels but server '127.0.0.1:6380:1' has no name (the name is the Sentinel master name)";
    sentinel_auth_alone: pool("  redis: true\n  sentinel_auth: pw\n") => K::SentinelAuthAlone,
        "directive \"sentinel_auth:\" is only valid with \"sentinels:\"";
    sentinel_no_port: sentinel_pool("    - 127.0.0.1\n", "    - 127.0.0.1:6379:1 m1\n") => K::SentinelFormat,
        "directive \"sentinels\" has an invalid \"hostname:port[:weight]\" format string";
    sentinel_port_zero: sentinel_pool("    - 127.0.0.1:0\n", "    - 127.0.0.1:6379:1 m1\n") => K::SentinelFormat,
        "directive \"sentinels\" has an invalid \"hostname:port[:weight]\" format string";
    sentinel_bad_weight: sentinel_pool("    - 127.0.0.1:26379:x\n", "    - 127.0.0.1:6379:1 m1\n") => K::SentinelFormat,
        "directive \"sentinels\" has an invalid \"hostname:port[:weight]\" format string";
    sentinel_too_many_colons: sentinel_pool("    - a:1:2:3\n", "    - 127.0.0.1:6379:1 m1\n") => K::SentinelFormat,
        "directive \"sentinels\" has an invalid \"hostname:port[:weight]\" format string";
    sentinel_with_name: sentinel_pool("    - 127.0.0.1:26379:1 s1\n", "    - 127.0.0.1:6379:1 m1\n") => K::SentinelFormat,
        "directive \"sentinels\" has an invalid \"hostname:port[:weight]\" format string";
    two_sequences_besides_sentinels: sentinel_pool("    - 127.0.0.1:26379\n", "    - 127.0.0.1:6379:1 m1\n  listen2:\n    - a\n")
        => K::Structure(Structure::MoreThanOneSequence), "'t.yml' has more than one sequence directive";
    same_listen: "a:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6379:1\nb:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6379:1\n"
        => K::DuplicateListen { .. }, "pools 'a' and 'b' have the same listen address '127.0.0.1:22121'";
    same_pool_name: "a:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6379:1\na:\n  listen: 127.0.0.1:22122\n  servers:\n    - 127.0.0.1:6379:1\n"
        => K::DuplicatePool, "'t.yml' has pools with same name a'";
}

#[test]
fn alias_token() {
    let e = yaml::token_filter("p:\n  hash: *h\n");
    assert_eq!(
        e,
        Err(yaml::YamlError::Token {
            token: Token::Alias,
            line: 2
        })
    );
    let e = yaml::token_filter("p:\n  servers:\n    - a\n    , b\n");
    assert_eq!(
        e,
        Err(yaml::YamlError::Token {
            token: Token::FlowEntry,
            line: 4
        })
    );
}

#[test]
fn token_filter_ignores_quotes_comments_and_plain_text() {
    let text = "# [a] {b} &c *d !e\np: # {x}\n  hash_tag: \"{}\"\n  a: '[x]'\n  b: x,y[z]{w}\n  c: \"multi\n    [line] quoted\"\n  d: |\n    [block] {scalar}\n  - x &y\n";
    assert_eq!(yaml::token_filter(text), Ok(()));
}

#[test]
fn first_error_wins_in_file_order() {
    // directive errors come in file order, before any pool is validated
    let text = "b:\n  servers:\n    - 127.0.0.1:6379:1\na:\n  listen: 127.0.0.1:22121\n  hash: nope\n  servers:\n    - 127.0.0.1:6379:1\n";
    let e = err(text);
    assert_eq!(e.kind, K::InvalidHash);
    assert_eq!(e.pool.as_deref(), Some("a"));
    // structure is checked for the whole file first
    let text = format!("{}q: x\n", pool("  hash: nope\n"));
    assert_eq!(err(&text).kind, K::Structure(Structure::InvalidMapping));
    // a duplicate is reported before its value is looked at
    assert_eq!(err(&pool("  hash: md5\n  hash: nope\n")).kind, K::Duplicate);
}

#[test]
fn display_names_file_pool_key_and_reason() {
    let e = err(&pool("  hash: fnv\n"));
    assert_eq!(
        e.to_string(),
        "conf: 't.yml' pool 'p': directive \"hash\" is not a valid hash (value 'fnv')"
    );
    assert_eq!(
        (e.pool.as_deref(), e.key.as_deref()),
        (Some("p"), Some("hash"))
    );
    let e = err(&pool("  hash: md5\n  sub:\n    a: b\n"));
    assert_eq!(
        e.to_string(),
        "conf: 't.yml' pool 'p' has a depth greater than 2"
    );
    let e =
        err("p:\n  listen: 127.0.0.1:1\n  servers:\n    - 127.0.0.1:1:1\n    - 127.0.0.1:1:1\n");
    assert_eq!(
        e.to_string(),
        "conf: 't.yml' pool 'p': pool 'p' has servers with same name '127.0.0.1:1'"
    );
    let e = err(&pool("  redis_auth: hunter2\n  redis_auth: hunter3\n"));
    assert!(!e.to_string().contains("hunter"), "{e}");
    let e = err(&format!("---\n{}", pool("")));
    assert_eq!(
        e.to_string(),
        "conf: 't.yml': document start token (5) is disallowed at line 1"
    );
    let e = err("");
    assert_eq!(
        e.to_string(),
        "conf: 't.yml' must contain only 1 document; found 0 documents"
    );
    let e = err(&listen("\":22121\""));
    assert!(
        e.to_string()
            .contains("address resolution of node '' service '22121' failed"),
        "{e}"
    );
    let e = ConfError::new(FILE, K::NoPools);
    assert_eq!(e.to_string(), "conf: 't.yml' has no pools");
}

#[test]
fn open_error() {
    let e = match load("/nonexistent/nutcracker.yml") {
        Ok(c) => panic!("loaded {c:?}"),
        Err(e) => e,
    };
    assert!(e.is_open_error());
    assert_eq!(
        e.to_string(),
        "conf: failed to open configuration '/nonexistent/nutcracker.yml': No such file or directory"
    );
}

#[test]
fn defaults() {
    let conf = ok(&pool(""));
    assert_eq!(conf.path, FILE);
    let p = &conf.pools[0];
    assert_eq!(p.name, "p");
    assert_eq!(p.listen_str, "127.0.0.1:22121");
    assert_eq!(p.listen, Listen::Tcp("127.0.0.1:22121".parse().unwrap()));
    assert_eq!(p.hash, HashKind::Fnv1a_64);
    assert_eq!(p.hash_tag, None);
    assert_eq!(p.distribution, Distribution::Ketama);
    assert_eq!(p.timeout_ms, None);
    assert_eq!(p.backlog, 512);
    assert_eq!(p.client_connections, 0);
    assert!(!p.redis && !p.tcpkeepalive && !p.preconnect && !p.auto_eject_hosts);
    assert_eq!(p.redis_auth, None);
    assert_eq!(p.redis_db, 0);
    assert_eq!(p.server_connections, 1);
    assert_eq!(p.server_retry_timeout_ms, 30000);
    assert_eq!(p.server_failure_limit, 2);
    assert!(!p.reuseport && !p.server_probe);
    assert_eq!(p.max_request_bytes, 536870912);
    assert_eq!(p.max_request_args, 1048576);
    assert_eq!(p.client_max_pending_bytes, 67108864);
    assert_eq!(p.server_dedicated_connections, 64);
}

#[test]
fn server_dedicated_connections() {
    let p = &ok(&pool(
        "  server_dedicated_connections: 0
",
    ))
    .pools[0];
    assert_eq!(p.server_dedicated_connections, 0);
    let p = &ok(&pool(
        "  server_dedicated_connections: 1000
",
    ))
    .pools[0];
    assert_eq!(p.server_dedicated_connections, 1000);
}

#[test]
fn limits() {
    let text =
        pool("  max_request_bytes: 4096\n  max_request_args: 16\n  client_max_pending_bytes: 0\n");
    let p = &ok(&text).pools[0];
    assert_eq!(
        (
            p.max_request_bytes,
            p.max_request_args,
            p.client_max_pending_bytes
        ),
        (4096, 16, 0)
    );
    let p = &ok(&pool(
        "  max_request_bytes: 2147483647\n  max_request_args: 1\n",
    ))
    .pools[0];
    assert_eq!((p.max_request_bytes, p.max_request_args), (2147483647, 1));
    let e = err(&pool("  max_request_args: 0\n"));
    assert_eq!(
        e.to_string(),
        "conf: 't.yml' pool 'p': directive \"max_request_args\" cannot be 0 (value '0')"
    );
}

#[test]
fn every_directive() {
    let text = pool(
        "  hash: murmur\n  hash_tag: \"{}\"\n  distribution: modula\n  timeout: 400\n  backlog: 1024\n  client_connections: 100\n  redis: true\n  tcpkeepalive: true\n  redis_auth: hunter2\n  redis_db: 3\n  preconnect: true\n  auto_eject_hosts: true\n  server_connections: 4\n  server_retry_timeout: 2000\n  server_failure_limit: 1\n  reuseport: true\n  server_probe: true\n",
    );
    let p = &ok(&text).pools[0];
    assert_eq!(p.hash, HashKind::Murmur);
    assert_eq!(p.hash_tag, Some(*b"{}"));
    assert_eq!(p.distribution, Distribution::Modula);
    assert_eq!(p.timeout_ms, Some(400));
    assert_eq!(
        (p.backlog, p.client_connections, p.redis_db),
        (1024, 100, 3)
    );
    assert!(p.redis && p.tcpkeepalive && p.preconnect && p.auto_eject_hosts);
    assert_eq!(p.redis_auth.as_deref(), Some("hunter2"));
    assert_eq!(
        (
            p.server_connections,
            p.server_retry_timeout_ms,
            p.server_failure_limit
        ),
        (4, 2000, 1)
    );
    assert!(p.reuseport && p.server_probe);
}

#[test]
fn hash_and_distribution_names() {
    let hashes = [
        ("one_at_a_time", HashKind::OneAtATime),
        ("md5", HashKind::Md5),
        ("crc16", HashKind::Crc16),
        ("crc32", HashKind::Crc32),
        ("crc32a", HashKind::Crc32a),
        ("fnv1_64", HashKind::Fnv1_64),
        ("fnv1a_64", HashKind::Fnv1a_64),
        ("fnv1_32", HashKind::Fnv1_32),
        ("fnv1a_32", HashKind::Fnv1a_32),
        ("hsieh", HashKind::Hsieh),
        ("murmur", HashKind::Murmur),
        ("jenkins", HashKind::Jenkins),
    ];
    for (name, kind) in hashes {
        assert_eq!(ok(&pool(&format!("  hash: {name}\n"))).pools[0].hash, kind);
    }
    for (name, d) in [
        ("ketama", Distribution::Ketama),
        ("modula", Distribution::Modula),
        ("random", Distribution::Random),
    ] {
        assert_eq!(
            ok(&pool(&format!("  distribution: {name}\n"))).pools[0].distribution,
            d
        );
    }
}

#[test]
fn numbers() {
    assert_eq!(ok(&pool("  timeout: 0\n")).pools[0].timeout_ms, None);
    assert_eq!(ok(&pool("  timeout: 007\n")).pools[0].timeout_ms, Some(7));
    assert_eq!(
        ok(&pool("  timeout: 2147483647\n")).pools[0].timeout_ms,
        Some(2147483647)
    );
    // 2^32 wraps to 0 in 0.5.0's int arithmetic: accepted, no timeout
    assert_eq!(
        ok(&pool("  timeout: 4294967296\n")).pools[0].timeout_ms,
        None
    );
    assert_eq!(ok(&pool("  backlog: \"64\"\n")).pools[0].backlog, 64);
    assert_eq!(atoi("4294967297"), Some(1));
}

#[test]
fn ordering_is_length_first() {
    let text = "aaa:\n  listen: 127.0.0.1:22122\n  servers:\n    - 127.0.0.1:11312:1\n    - 127.0.0.1:11211:1\n    - 127.0.0.1:11311:1\nzz:\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6379:1\n";
    let conf = ok(text);
    let names: Vec<_> = conf.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["zz", "aaa"]);
    let servers: Vec<_> = conf.pools[1]
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(servers, ["127.0.0.1", "127.0.0.1:11311", "127.0.0.1:11312"]);
}

#[test]
fn spec_example() {
    let text = "alpha:\n  listen: 127.0.0.1:22121\n  hash: fnv1a_64\n  hash_tag: \"{}\"\n  distribution: ketama\n  redis: true\n  timeout: 400\n  auto_eject_hosts: true\n  server_retry_timeout: 2000\n  server_failure_limit: 1\n  servers:\n   - 127.0.0.1:6379:1 server1\n   - 127.0.0.1:6380:1 server2\nomega:\n  listen: /tmp/omega.sock 0666\n  servers:\n   - 127.0.0.1:11211:100000\n   - /var/run/memcached.sock:1 mc2\n";
    let conf = ok(text);
    let (alpha, omega) = (&conf.pools[0], &conf.pools[1]);
    assert_eq!(
        (alpha.name.as_str(), omega.name.as_str()),
        ("alpha", "omega")
    );
    assert!(alpha.redis && alpha.auto_eject_hosts);
    assert_eq!(alpha.hash_tag, Some(*b"{}"));
    assert_eq!(
        (
            alpha.timeout_ms,
            alpha.server_retry_timeout_ms,
            alpha.server_failure_limit
        ),
        (Some(400), 2000, 1)
    );
    let names: Vec<_> = alpha
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.pname.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("server1", "127.0.0.1:6379:1"),
            ("server2", "127.0.0.1:6380:1")
        ]
    );
    assert_eq!(
        omega.listen,
        Listen::Unix {
            path: "/tmp/omega.sock".into(),
            perm: 0o666
        }
    );
    assert_eq!(omega.listen_str, "/tmp/omega.sock 0666");
    assert_eq!(
        omega.servers,
        [
            ServerConf {
                name: "mc2".into(),
                pname: "/var/run/memcached.sock:1".into(),
                addr: ServerAddr::Unix("/var/run/memcached.sock".into()),
                weight: 1,
                naming: Naming::Given,
            },
            ServerConf {
                name: "127.0.0.1".into(),
                pname: "127.0.0.1:11211:100000".into(),
                addr: ServerAddr::Tcp {
                    host: "127.0.0.1".into(),
                    port: 11211
                },
                weight: 100000,
                naming: Naming::Derived,
            },
        ]
    );
}

#[test]
fn server_names() {
    let s = |item: &str| ok(&server(item)).pools[0].servers[0].clone();
    assert_eq!(s("127.0.0.1:6379:2 cache-a").name, "cache-a");
    assert_eq!(s("127.0.0.1:6379:2 cache-a").pname, "127.0.0.1:6379:2");
    assert_eq!(s("127.0.0.1:6379:2").name, "127.0.0.1:6379");
    assert_eq!(s("127.0.0.1:11211:1").name, "127.0.0.1");
    assert_eq!(s("/tmp/r.sock:1").name, "/tmp/r.sock:");
    assert_eq!(
        s("/tmp/r.sock:1").addr,
        ServerAddr::Unix("/tmp/r.sock".into())
    );
    assert_eq!(s("/tmp/r.sock:3 r1").name, "r1");
    let v6 = s("::1:6379:1");
    assert_eq!(v6.name, "::1:6379");
    assert_eq!(
        v6.addr,
        ServerAddr::Tcp {
            host: "::1".into(),
            port: 6379
        }
    );
    let bracketed = s("\"[::1]:6379:1\"");
    assert_eq!(bracketed.name, "[::1]:6379");
    assert_eq!(
        bracketed.addr,
        ServerAddr::Tcp {
            host: "::1".into(),
            port: 6379
        }
    );
    // backends are not resolved at load time
    assert_eq!(
        s("cache.invalid:6379:1").addr,
        ServerAddr::Tcp {
            host: "cache.invalid".into(),
            port: 6379
        }
    );
}

#[test]
fn listen_forms() {
    let l = |v: &str| ok(&listen(v)).pools[0].listen.clone();
    assert_eq!(
        l("127.0.0.1:22121"),
        Listen::Tcp("127.0.0.1:22121".parse().unwrap())
    );
    assert_eq!(
        l("0.0.0.0:22121"),
        Listen::Tcp("0.0.0.0:22121".parse().unwrap())
    );
    assert_eq!(l("::1:22121"), Listen::Tcp("[::1]:22121".parse().unwrap()));
    assert_eq!(
        l("\"[::1]:22121\""),
        Listen::Tcp("[::1]:22121".parse().unwrap())
    );
    match l("localhost:22121") {
        Listen::Tcp(a) => assert!(a.ip().is_loopback() && a.port() == 22121, "{a}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        l("/tmp/a.sock"),
        Listen::Unix {
            path: "/tmp/a.sock".into(),
            perm: 0
        }
    );
    assert_eq!(
        l("/tmp/a.sock 0600"),
        Listen::Unix {
            path: "/tmp/a.sock".into(),
            perm: 0o600
        }
    );
    assert_eq!(
        l("/tmp/a.sock 755"),
        Listen::Unix {
            path: "/tmp/a.sock".into(),
            perm: 0o755
        }
    );
    // strtol stops at the first non-octal byte; nothing parsed means no chmod
    assert_eq!(
        l("/tmp/a.sock 68"),
        Listen::Unix {
            path: "/tmp/a.sock".into(),
            perm: 0o6
        }
    );
    assert_eq!(
        l("/tmp/a.sock rw"),
        Listen::Unix {
            path: "/tmp/a.sock".into(),
            perm: 0
        }
    );
    assert_eq!(
        l("/tmp/my dir/a.sock 0600"),
        Listen::Unix {
            path: "/tmp/my dir/a.sock".into(),
            perm: 0o600
        }
    );
    assert_eq!(
        ok(&listen("/tmp/a.sock 0600")).pools[0].listen_str,
        "/tmp/a.sock 0600"
    );
}

#[test]
fn quirks_kept() {
    // the sequence may hold any directive; `servers:` may then be a plain scalar
    let text = "p:\n  servers: 127.0.0.1:6379:1\n  listen:\n    - 127.0.0.1:22121\n";
    assert_eq!(ok(text).pools[0].servers.len(), 1);
    // key order inside a pool is free
    let text = "p:\n  servers:\n    - 127.0.0.1:6379:1\n  listen: 127.0.0.1:22121\n";
    assert_eq!(ok(text).pools[0].listen_str, "127.0.0.1:22121");
    // values stay text: `~` is a server-less string, not null
    assert_eq!(err(&pool("  hash: ~\n")).kind, K::InvalidHash);
}

#[test]
fn sentinels() {
    let text = sentinel_pool(
        "    - 127.0.0.1:26379\n    - localhost:26380:1\n    - \"[::1]:26381\"\n",
        "    - 127.0.0.1:6379:1 m1\n    - /tmp/r.sock:1 m2\n",
    );
    let p = &ok(&format!("{text}  sentinel_auth: s3cret\n")).pools[0];
    let want = [("127.0.0.1", 26379), ("localhost", 26380), ("::1", 26381)];
    let got: Vec<(&str, u16)> = p
        .sentinels
        .iter()
        .map(|s| (s.host.as_str(), s.port))
        .collect();
    assert_eq!(got, want);
    assert_eq!(p.sentinels[2].to_string(), "[::1]:26381");
    assert_eq!(p.sentinel_auth.as_deref(), Some("s3cret"));
    // the sentinels sequence may come first, and a pool without it has none
    let text = "p:\n  redis: true\n  sentinels:\n    - 127.0.0.1:26379\n  listen: 127.0.0.1:22121\n  servers:\n    - 127.0.0.1:6379:1 m1\n";
    assert_eq!(ok(text).pools[0].sentinels.len(), 1);
    assert!(ok(&pool("")).pools[0].sentinels.is_empty());
    // the password never shows in an error
    let e = err(&pool(
        "  sentinel_auth: hunter2\n  sentinel_auth: hunter3\n",
    ));
    assert!(!e.to_string().contains("hunter"), "{e}");
    // the unnamed-server error names the pool and the reason
    let e = err(&sentinel_pool(
        "    - 127.0.0.1:26379\n",
        "    - 127.0.0.1:6379:1\n",
    ));
    assert_eq!(
        e.to_string(),
        "conf: 't.yml' pool 'p': pool 'p' has sentinels but server '127.0.0.1:6379:1' has no name (the name is the Sentinel master name)"
    );
}

#[test]
fn every_file_in_conf_dir_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/conf");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let path = path.to_str().unwrap();
            if let Err(e) = load(path) {
                panic!("{e}");
            }
            n += 1;
        }
    }
    assert_eq!(n, 4);
}

#[test]
fn colon_ended_item_is_a_mapping() {
    assert_eq!(
        err(&server("127.0.0.1:")).kind,
        K::Structure(Structure::DepthGreaterThan2)
    );
}

#[test]
fn non_utf8_file_is_a_reader_error() {
    let path = std::env::temp_dir().join(format!("nc-conf-{}.yml", std::process::id()));
    std::fs::write(&path, b"p:\n  listen: 127.0.0.1:1\xff\n").unwrap();
    let e = load(path.to_str().unwrap()).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(e.kind, K::Yaml { code: 2, .. }), "{e:?}");
    assert!(!e.is_open_error());
}

#[test]
fn no_panic_on_any_prefix_or_line_drop() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/nutcracker.yml"))
        .unwrap();
    for (at, _) in text.char_indices() {
        let _ = parse(&text[..at], FILE);
    }
    let lines: Vec<&str> = text.lines().collect();
    for skip in 0..lines.len() {
        let mut t: Vec<&str> = lines.clone();
        t.remove(skip);
        let _ = parse(&t.join("\n"), FILE);
    }
}
