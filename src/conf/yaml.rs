//! The YAML half of configuration loading (twemproxy: the libyaml passes of nc_conf.c:
//! `conf_validate_document`, `conf_validate_tokens`, `conf_validate_structure`, `conf_parse`).
//!
//! Turns the text of a configuration file into [`RawPool`]s: pool name plus the `key: value`
//! scalars in file order, a sequence flattened into one pair per item under its key. The three
//! pre-validation passes of §CONF.1 run in 0.5.0's order: document count, token filter,
//! structure check.
//!
//! # Invariants
//! - `yaml_tree` is the only function that touches serde_yaml (archived upstream): swapping the
//!   YAML library changes that one function.
//! - Scalars are kept as written (`0x10`, `True`, `~` stay text); typing is the directive's job.
//! - Duplicate keys are kept (0.5.0 reports them as duplicate directives or pools, not as YAML errors).

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use std::fmt;

/// A libyaml token that 0.5.0 refuses (§CONF.1 pass 2); the discriminant is libyaml's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    VersionDirective = 3,
    TagDirective = 4,
    DocumentStart = 5,
    DocumentEnd = 6,
    FlowSequenceStart = 10,
    FlowSequenceEnd = 11,
    FlowMappingStart = 12,
    FlowMappingEnd = 13,
    FlowEntry = 15,
    Alias = 18,
    Anchor = 19,
    Tag = 20,
}

impl Token {
    /// 0.5.0's name of the token, as in `conf: <name> token (<n>) is disallowed`.
    pub fn name(self) -> &'static str {
        match self {
            Token::VersionDirective => "version directive",
            Token::TagDirective => "tag directive",
            Token::DocumentStart => "document start",
            Token::DocumentEnd => "document end",
            Token::FlowSequenceStart => "flow sequence start",
            Token::FlowSequenceEnd => "flow sequence end",
            Token::FlowMappingStart => "flow mapping start",
            Token::FlowMappingEnd => "flow mapping end",
            Token::FlowEntry => "flow entry",
            Token::Alias => "alias",
            Token::Anchor => "anchor",
            Token::Tag => "tag",
        }
    }
}

/// A document shape 0.5.0 refuses (§CONF.1 pass 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure {
    EmptyKey,            // the document is a bare scalar
    InvalidMapping,      // a pool whose value is a scalar
    MoreThanOneKeyValue, // a mapping used as a pool name
    DepthGreaterThan2,   // a mapping inside a pool
    SequenceAt(u8),      // a sequence outside a pool value, at this depth
    MoreThanOneSequence, // two sequences in one pool
    InvalidKeyValue,     // a sequence used as a key inside a pool
    MissingSequence,     // a pool without any sequence
}

impl fmt::Display for Structure {
    /// 0.5.0's text after `conf: '<file>' `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Structure::EmptyKey => f.write_str("has invalid empty \"key:\" at depth 0"),
            Structure::InvalidMapping => f.write_str("has invalid mapping \"key:\" at depth 1"),
            Structure::MoreThanOneKeyValue => {
                f.write_str("has more than one \"key:value\" at depth 1")
            }
            Structure::DepthGreaterThan2 => f.write_str("has a depth greater than 2"),
            Structure::SequenceAt(d) => write!(f, "has sequence at depth {d} instead of 2"),
            Structure::MoreThanOneSequence => f.write_str("has more than one sequence directive"),
            Structure::InvalidKeyValue => f.write_str("has invalid \"key:value\" at depth 2"),
            Structure::MissingSequence => f.write_str("missing sequence directive at depth 2"),
        }
    }
}

/// Why the YAML layer refused a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum YamlError {
    Syntax {
        code: u8,
        detail: String,
    }, // libyaml error class (2 reader, 3 scanner, 4 parser, 5 composer)
    Documents(usize), // not exactly one document
    Token {
        token: Token,
        line: usize,
    }, // disallowed token, 1-based line
    Structure {
        shape: Structure,
        pool: Option<String>,
    },
}

/// One pool as written: its name and its `key: value` pairs in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RawPool {
    pub name: String, // may be empty: the caller rejects it (§CONF.2)
    pub directives: Vec<(String, String)>, // a sequence contributes one pair per item
}

/// A YAML node with scalars kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// Runs the three §CONF.1 passes and returns the pools in file order.
pub(super) fn pools(text: &str) -> Result<Vec<RawPool>, YamlError> {
    let root = yaml_tree(text)?;
    structure(root)
}

/// The only serde_yaml user. Pass 1 counts documents (syntax errors surface here), pass 2 is
/// the textual token filter, then the one document is read twice: once for its shape (scalar,
/// sequence or mapping at each position) and once, guided by that shape, with every scalar
/// read as its raw text.
fn yaml_tree(text: &str) -> Result<Node, YamlError> {
    let mut ndoc = 0;
    for doc in serde_yaml::Deserializer::from_str(text) {
        IgnoredAny::deserialize(doc).map_err(syntax_error)?;
        ndoc += 1;
    }
    if !has_content(text) {
        ndoc = 0; // serde_yaml reports an empty stream as one null document; libyaml as none
    }
    if ndoc != 1 {
        return Err(YamlError::Documents(ndoc));
    }
    token_filter(text)?;
    let shape: Shape = serde_yaml::from_str(text).map_err(syntax_error)?;
    let de = serde_yaml::Deserializer::from_str(text);
    Raw(&shape).deserialize(de).map_err(syntax_error)
}

/// Maps a serde_yaml error to libyaml's error class number (serde_yaml shows it only in Debug).
fn syntax_error(e: serde_yaml::Error) -> YamlError {
    let debug = format!("{e:?}");
    let code = [
        ("READER", 2),
        ("SCANNER", 3),
        ("PARSER", 4),
        ("COMPOSER", 5),
    ]
    .iter()
    .find(|(k, _)| debug.contains(k))
    .map_or(4, |&(_, c)| c);
    YamlError::Syntax {
        code,
        detail: e.to_string(),
    }
}

/// Whether the text holds anything besides blank lines and comments.
fn has_content(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    })
}

/// The kind of node at each position of a document.
#[derive(Debug)]
enum Shape {
    Scalar,
    Seq(Vec<Shape>),
    Map(Vec<(Shape, Shape)>),
}

impl<'de> de::Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

/// Every typed scalar serde_yaml reports is just a scalar for the shape pass.
macro_rules! scalar_visits {
    ($($visit:ident($t:ty)),* $(,)?) => {$(
        fn $visit<E>(self, _: $t) -> Result<Shape, E> {
            Ok(Shape::Scalar)
        }
    )*};
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML node")
    }
    scalar_visits! { visit_bool(bool), visit_i64(i64), visit_i128(i128), visit_u64(u64),
    visit_u128(u128), visit_f64(f64), visit_str(&str) }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Shape::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Shape::Map(entries))
    }
}

/// Reads the node at a position whose shape is known, scalars as raw text.
struct Raw<'s>(&'s Shape);

impl<'de> DeserializeSeed<'de> for Raw<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        match self.0 {
            Shape::Scalar => d.deserialize_str(RawVisitor(self.0)),
            Shape::Seq(_) => d.deserialize_seq(RawVisitor(self.0)),
            Shape::Map(_) => d.deserialize_map(RawVisitor(self.0)),
        }
    }
}

struct RawVisitor<'s>(&'s Shape);

impl<'de> Visitor<'de> for RawVisitor<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a YAML node shaped like {:?}", self.0)
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let Shape::Seq(shapes) = self.0 else {
            return Err(de::Error::custom("shape changed between passes"));
        };
        let mut items = Vec::with_capacity(shapes.len());
        for s in shapes {
            match seq.next_element_seed(Raw(s))? {
                Some(n) => items.push(n),
                None => return Err(de::Error::custom("sequence shorter than its shape")),
            }
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let Shape::Map(shapes) = self.0 else {
            return Err(de::Error::custom("shape changed between passes"));
        };
        let mut entries = Vec::with_capacity(shapes.len());
        for (ks, vs) in shapes {
            let Some(k) = map.next_key_seed(Raw(ks))? else {
                return Err(de::Error::custom("mapping shorter than its shape"));
            };
            let v = map.next_value_seed(Raw(vs))?;
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}

/// Pass 2 of §CONF.1 over the text: finds the first token 0.5.0 disallows, outside comments,
/// quoted scalars and block scalars. It looks at node starts only (line start, after `- `,
/// `? ` or `: `), where libyaml would scan an indicator rather than plain-scalar text.
pub(super) fn token_filter(text: &str) -> Result<(), YamlError> {
    let mut quote: Option<u8> = None; // inside a quoted scalar that spans lines
    let mut block: Option<usize> = None; // inside a block scalar (`|`, `>`) opened at this indent
    for (n, line) in text.lines().enumerate() {
        let b = line.as_bytes();
        let indent = b.iter().take_while(|&&c| c == b' ').count();
        if let Some(open) = block {
            if b.iter().all(u8::is_ascii_whitespace) || indent > open {
                continue;
            }
            block = None;
        }
        let fail = |token| Err(YamlError::Token { token, line: n + 1 });
        let mut i = 0;
        let mut at_node = true;
        if let Some(q) = quote {
            match skip_quoted(b, 0, q) {
                Some(end) => (i, at_node, quote) = (end, false, None),
                None => continue,
            }
        } else if let Some(t) = line_marker(b) {
            return fail(t);
        }
        while i < b.len() {
            let c = b[i];
            if c == b' ' || c == b'\t' {
                i += 1;
                continue;
            }
            if c == b'#' {
                break;
            }
            let spaced = b.get(i + 1).is_none_or(|&d| d == b' ' || d == b'\t');
            if at_node {
                if matches!(c, b'-' | b'?' | b':') && spaced {
                    i += 1;
                    continue;
                }
                if let Some(t) = indicator(c) {
                    return fail(t);
                }
                if c == b'"' || c == b'\'' {
                    match skip_quoted(b, i + 1, c) {
                        Some(end) => (i, at_node) = (end, false),
                        None => {
                            quote = Some(c);
                            break;
                        }
                    }
                    continue;
                }
                if c == b'|' || c == b'>' {
                    block = Some(indent);
                    break;
                }
                at_node = false;
            }
            // plain text (or the tail of a quoted key): a `: ` starts the value node
            if c == b':' && spaced {
                at_node = true;
            }
            if c == b'#' && i > 0 && b[i - 1].is_ascii_whitespace() {
                break;
            }
            i += 1;
        }
    }
    Ok(())
}

/// Directive and document markers, recognised at column 0 only.
fn line_marker(b: &[u8]) -> Option<Token> {
    let marker_end =
        |m: &[u8]| b.starts_with(m) && b.get(3).is_none_or(|c| c.is_ascii_whitespace());
    if b.starts_with(b"%YAML") {
        Some(Token::VersionDirective)
    } else if b.starts_with(b"%TAG") {
        Some(Token::TagDirective)
    } else if marker_end(b"---") {
        Some(Token::DocumentStart)
    } else if marker_end(b"...") {
        Some(Token::DocumentEnd)
    } else {
        None
    }
}

/// The disallowed token an indicator character opens at a node start.
fn indicator(c: u8) -> Option<Token> {
    match c {
        b'[' => Some(Token::FlowSequenceStart),
        b']' => Some(Token::FlowSequenceEnd),
        b'{' => Some(Token::FlowMappingStart),
        b'}' => Some(Token::FlowMappingEnd),
        b',' => Some(Token::FlowEntry),
        b'*' => Some(Token::Alias),
        b'&' => Some(Token::Anchor),
        b'!' => Some(Token::Tag),
        _ => None,
    }
}

/// Index just past the closing quote `q` at or after `from`, or None if the line ends first.
fn skip_quoted(b: &[u8], from: usize, q: u8) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'\\' if q == b'"' => i += 2,
            b'\'' if q == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == q => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Pass 3 of §CONF.1 on the tree, then flattening into pools.
fn structure(root: Node) -> Result<Vec<RawPool>, YamlError> {
    let fail = |shape, pool: Option<&str>| {
        Err(YamlError::Structure {
            shape,
            pool: pool.map(str::to_owned),
        })
    };
    let entries = match root {
        Node::Scalar(_) => return fail(Structure::EmptyKey, None),
        Node::Seq(_) => return fail(Structure::SequenceAt(0), None),
        Node::Map(entries) => entries,
    };
    let mut pools = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let name = match k {
            Node::Scalar(s) => s,
            Node::Map(_) => return fail(Structure::MoreThanOneKeyValue, None),
            Node::Seq(_) => return fail(Structure::SequenceAt(1), None),
        };
        let body = match v {
            Node::Scalar(_) => return fail(Structure::InvalidMapping, Some(&name)),
            Node::Seq(_) => return fail(Structure::SequenceAt(1), Some(&name)),
            Node::Map(body) => body,
        };
        match pool_body(body) {
            Ok(directives) => pools.push(RawPool { name, directives }),
            Err(shape) => return fail(shape, Some(&name)),
        }
    }
    Ok(pools)
}

/// The one key whose sequence does not count as a pool's sequence directive: a pool may list
/// `servers:` and `sentinels:` (issue 13), where 0.5.0 allows a single sequence.
const EXTRA_SEQUENCE: &str = "sentinels";

/// Checks one pool mapping (depth 2) and flattens it into `key: value` pairs.
fn pool_body(body: Vec<(Node, Node)>) -> Result<Vec<(String, String)>, Structure> {
    let mut seq = false;
    let mut directives = Vec::with_capacity(body.len());
    for (k, v) in body {
        let key = match k {
            Node::Scalar(s) => s,
            Node::Map(_) => return Err(Structure::DepthGreaterThan2),
            Node::Seq(_) if seq => return Err(Structure::MoreThanOneSequence),
            Node::Seq(_) => return Err(Structure::InvalidKeyValue),
        };
        match v {
            Node::Scalar(s) => directives.push((key, s)),
            Node::Map(_) => return Err(Structure::DepthGreaterThan2),
            Node::Seq(_) if seq && key != EXTRA_SEQUENCE => {
                return Err(Structure::MoreThanOneSequence)
            }
            Node::Seq(items) => {
                seq |= key != EXTRA_SEQUENCE;
                for item in items {
                    match item {
                        Node::Scalar(s) => directives.push((key.clone(), s)),
                        Node::Map(_) => return Err(Structure::DepthGreaterThan2),
                        Node::Seq(_) => return Err(Structure::MoreThanOneSequence),
                    }
                }
            }
        }
    }
    if !seq {
        return Err(Structure::MissingSequence);
    }
    Ok(directives)
}
