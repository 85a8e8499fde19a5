//! Unit tests of the sentinel session: the bytes sent, the replies of a real Sentinel
//! (captured from redis-server 7.0 in sentinel mode), every split of them, and garbage.

use super::*;

fn a(host: &str, port: u16) -> Addr {
    Addr {
        host: host.to_owned(),
        port,
    }
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| (*s).to_owned()).collect()
}

/// Feeds `bytes` in one piece, then byte by byte and at every 2-way split: all must agree.
fn feed_all(
    auth: Option<&str>,
    n: &[&str],
    bytes: &[u8],
) -> (Vec<Event>, Result<(), SessionError>) {
    let run = |pieces: &[&[u8]]| {
        let (mut s, _) = Session::new(auth, names(n));
        let mut out = Vec::new();
        let mut r = Ok(());
        for p in pieces {
            r = s.feed(p, &mut out);
            if r.is_err() {
                break;
            }
        }
        (out, r)
    };
    let whole = run(&[bytes]);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run(&bytewise), whole, "byte by byte");
    for at in 0..=bytes.len() {
        assert_eq!(run(&[&bytes[..at], &bytes[at..]]), whole, "split at {at}");
    }
    whole
}

const ADDR_M1: &[u8] = b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n7001\r\n";
const NULL: &[u8] = b"*-1\r\n";
const SUBSCRIBED: &[u8] = b"*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n";

fn switch(payload: &str) -> Vec<u8> {
    format!(
        "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n${}\r\n{payload}\r\n",
        payload.len()
    )
    .into_bytes()
}

#[test]
fn hello_bytes() {
    let (s, out) = Session::new(Some("pw"), names(&["m1", "m2"]));
    assert_eq!(
        out,
        b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n\
          *3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$2\r\nm1\r\n\
          *3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$2\r\nm2\r\n\
          *2\r\n$9\r\nSUBSCRIBE\r\n$14\r\n+switch-master\r\n"
    );
    assert!(!s.ready());
    let (_, out) = Session::new(None, names(&["m1"]));
    assert!(out.starts_with(b"*3\r\n$8\r\nSENTINEL"));
}

#[test]
fn answers_then_switches() {
    let mut bytes = b"+OK\r\n".to_vec();
    bytes.extend_from_slice(ADDR_M1);
    bytes.extend_from_slice(NULL);
    bytes.extend_from_slice(SUBSCRIBED);
    bytes.extend(switch("m1 127.0.0.1 7001 127.0.0.1 7002"));
    bytes.extend(switch("other 127.0.0.1 1 127.0.0.1 2"));
    bytes.extend(switch("m2 ::1 7003 ::1 7004"));
    let (ev, r) = feed_all(Some("pw"), &["m1", "m2"], &bytes);
    assert_eq!(r, Ok(()));
    assert_eq!(
        ev,
        vec![
            Event::Master {
                name: "m1".into(),
                addr: a("127.0.0.1", 7001)
            },
            Event::NoMaster {
                name: "m2".into(),
                why: "unknown master name".into()
            },
            Event::Subscribed,
            Event::Switch {
                name: "m1".into(),
                old: a("127.0.0.1", 7001),
                new: a("127.0.0.1", 7002)
            },
            Event::Switch {
                name: "m2".into(),
                old: a("::1", 7003),
                new: a("::1", 7004)
            },
        ]
    );
    assert_eq!(a("::1", 7004).to_string(), "[::1]:7004");
}

#[test]
fn ready_after_subscribe_only() {
    let (mut s, _) = Session::new(None, names(&["m1"]));
    let mut out = Vec::new();
    s.feed(ADDR_M1, &mut out).unwrap();
    assert!(!s.ready());
    s.feed(SUBSCRIBED, &mut out).unwrap();
    assert!(s.ready());
}

#[test]
fn error_answers() {
    let mut bytes = b"-IDONTKNOW I'm not sure\r\n".to_vec();
    bytes.extend_from_slice(SUBSCRIBED);
    let (ev, r) = feed_all(None, &["m1"], &bytes);
    assert_eq!(r, Ok(()));
    assert_eq!(
        ev[0],
        Event::NoMaster {
            name: "m1".into(),
            why: "IDONTKNOW I'm not sure".into()
        }
    );
    let (ev, r) = feed_all(
        Some("bad"),
        &["m1"],
        b"-WRONGPASS invalid username-password pair\r\n",
    );
    assert!(ev.is_empty());
    assert_eq!(
        r,
        Err(SessionError::Auth(
            "WRONGPASS invalid username-password pair".into()
        ))
    );
}

#[test]
fn garbage_ends_the_session() {
    let cases: &[(&[u8], &str)] = &[
        (b"hello\r\n", "protocol"),
        (b"+OK\r\n", "master address"),
        (b"*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n", "master address"),
        (
            b"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n70000\r\n",
            "master address",
        ),
        (b"*2\r\n$9\r\n127.0.0.1\r\n:7001\r\n", "master address"),
        (b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "master address"),
        (b"*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n", "master address"),
        (b"$5\r\nhello\r\n", "master address"),
        (b":1\r\n", "master address"),
        (b"*2\r\n$2\r\na \r\n$1\r\n1\r\n", "master address"),
    ];
    for (bytes, what) in cases {
        let (ev, r) = feed_all(None, &["m1"], bytes);
        assert!(ev.is_empty(), "{bytes:?}");
        match r {
            Err(SessionError::Protocol(_)) => assert_eq!(*what, "protocol"),
            Err(SessionError::Unexpected(w)) => assert_eq!(w, *what, "{bytes:?}"),
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
    // after subscribing: announcements that are not announcements
    let bad_pushes = [
        switch("m1 127.0.0.1 7001 127.0.0.1"),
        switch("m1 127.0.0.1 7001 127.0.0.1 7002 extra"),
        switch(" 127.0.0.1 7001 127.0.0.1 7002"),
        switch("m1 127.0.0.1 x 127.0.0.1 7002"),
        b"*3\r\n$7\r\nmessage\r\n$5\r\nother\r\n$1\r\nx\r\n".to_vec(),
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n".to_vec(),
        b"+OK\r\n".to_vec(),
    ];
    for push in bad_pushes {
        let mut bytes = ADDR_M1.to_vec();
        bytes.extend_from_slice(SUBSCRIBED);
        bytes.extend_from_slice(&push);
        let (ev, r) = feed_all(None, &["m1"], &bytes);
        assert_eq!(ev.len(), 2, "{push:?}");
        assert!(
            matches!(r, Err(SessionError::Unexpected(_))),
            "{push:?}: {r:?}"
        );
    }
    // a bad subscribe confirmation
    let mut bytes = ADDR_M1.to_vec();
    bytes.extend_from_slice(b"*3\r\n$9\r\nsubscribe\r\n$3\r\nfoo\r\n:1\r\n");
    let (_, r) = feed_all(None, &["m1"], &bytes);
    assert_eq!(r, Err(SessionError::Unexpected("SUBSCRIBE confirmation")));
}

#[test]
fn ping_pong_after_subscribing() {
    let (mut s, _) = Session::new(None, names(&["m1"]));
    let mut out = Vec::new();
    s.feed(ADDR_M1, &mut out).unwrap();
    s.feed(SUBSCRIBED, &mut out).unwrap();
    assert_eq!(s.ping(), b"*1\r\n$4\r\nPING\r\n");
    assert!(s.ping_owed());
    let pong = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    s.feed(&pong[..7], &mut out).unwrap();
    assert!(s.ping_owed());
    s.feed(&pong[7..], &mut out).unwrap();
    assert!(!s.ping_owed());
    // an announcement between PING and pong is still one
    s.ping();
    let mut bytes = switch("m1 127.0.0.1 7001 127.0.0.1 7002");
    bytes.extend_from_slice(pong);
    s.feed(&bytes, &mut out).unwrap();
    assert!(!s.ping_owed());
    assert_eq!(out.len(), 3);
    // a pong nobody asked for is not
    assert_eq!(
        s.feed(pong, &mut out),
        Err(SessionError::Unexpected("pushed message shape"))
    );
}

#[test]
fn buffer_is_bounded() {
    let (mut s, _) = Session::new(None, names(&["m1"]));
    let mut out = Vec::new();
    let mut big = format!("${}\r\n", MAX_BUFFER * 4).into_bytes();
    big.resize(MAX_BUFFER * 3, b'x');
    assert!(matches!(
        s.feed(&big, &mut out),
        Err(SessionError::Protocol(_))
    ));
    assert!(s.buf.len() <= MAX_BUFFER + 1);
    // a status line that never ends
    let (mut s, _) = Session::new(Some("pw"), names(&["m1"]));
    let long = vec![b'+'; MAX_BUFFER * 2];
    assert!(s.feed(&long, &mut out).is_err());
}

#[test]
fn rotation_round_robin_and_backoff() {
    let max = Duration::from_millis(1000);
    let mut r = Rotation::new(3, max);
    let mut seen = Vec::new();
    for _ in 0..9 {
        let (i, wait) = r.pick();
        seen.push((i, wait.as_millis()));
        r.failed();
    }
    assert_eq!(
        seen,
        vec![
            (0, 0),
            (1, 0),
            (2, 0),
            (0, 100),
            (1, 200),
            (2, 400),
            (0, 800),
            (1, 1000),
            (2, 1000)
        ]
    );
    r.ready();
    assert_eq!(r.pick(), (0, Duration::ZERO));
    // one sentinel: a lost session reconnects after the base wait, then doubles
    let mut r = Rotation::new(1, Duration::from_millis(150));
    assert_eq!(r.pick(), (0, Duration::ZERO));
    r.failed();
    assert_eq!(r.pick(), (0, Duration::from_millis(100)));
    r.failed();
    assert_eq!(r.pick(), (0, Duration::from_millis(150)));
    for _ in 0..100 {
        r.failed();
    }
    assert_eq!(r.pick().1, Duration::from_millis(150));
}

#[test]
fn no_panic_on_any_bytes() {
    // every prefix and every single-byte corruption of a valid conversation
    let mut good = b"+OK\r\n".to_vec();
    good.extend_from_slice(ADDR_M1);
    good.extend_from_slice(SUBSCRIBED);
    good.extend(switch("m1 127.0.0.1 7001 127.0.0.1 7002"));
    for at in 0..good.len() {
        for b in [0u8, b'\r', b'\n', b'*', b'$', b'-', b'9', 0xff] {
            let mut bytes = good.clone();
            bytes[at] = b;
            let (mut s, _) = Session::new(Some("pw"), names(&["m1"]));
            let mut out = Vec::new();
            let _ = s.feed(&bytes, &mut out);
            assert!(out.len() <= 3);
        }
    }
}
