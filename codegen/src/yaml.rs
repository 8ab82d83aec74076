//! Source positions for a YAML document.
//!
//! `serde_yaml` parses the document into values but keeps no positions. This module replays
//! the same text through `yaml-rust2`'s event parser and records where every mapping key and
//! every value starts, keyed by its path from the root, so that diagnostics can point at the
//! exact line and column of the offending key.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the document root.
pub type Path = Vec<Seg>;

/// Renders a path as `a.b[2].c`.
pub fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push_str(&format!("[{i}]"));
            }
        }
    }
    s
}

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Where every key and value of a document starts.
#[derive(Debug, Default)]
pub struct PosIndex {
    keys: HashMap<Path, Pos>,
    values: HashMap<Path, Pos>,
}

impl PosIndex {
    /// Indexes `text`. A document that does not parse gives an empty index (the caller
    /// reports the syntax error from `serde_yaml`).
    pub fn build(text: &str) -> PosIndex {
        let mut b = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut b, false).is_err() {
            return PosIndex::default();
        }
        b.index
    }

    /// Position of the key at `path` (for a mapping entry), else of its value, else of the
    /// nearest ancestor that has one; 1:1 when nothing is known.
    pub fn pos(&self, path: &[Seg]) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.keys.get(p).or_else(|| self.values.get(p)) {
                return *pos;
            }
            if p.is_empty() {
                return Pos { line: 1, column: 1 };
            }
            p = &p[..p.len() - 1];
        }
    }

    /// Position of the value at `path`, falling back like [`PosIndex::pos`].
    pub fn value_pos(&self, path: &[Seg]) -> Pos {
        self.values
            .get(path)
            .copied()
            .unwrap_or_else(|| self.pos(path))
    }
}

enum Frame {
    Map {
        pending_key: Option<String>,
        expect_key: bool,
    },
    Seq {
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    index: PosIndex,
    stack: Vec<Frame>,
    path: Path,
}

fn to_pos(mark: Marker) -> Pos {
    Pos {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl Builder {
    /// Called before a node starts: works out the node's path and whether it is a key.
    /// Returns `Some(path)` for a value node, `None` for a key node (already recorded).
    fn begin_node(&mut self, scalar: Option<&str>, pos: Pos) -> Option<Path> {
        match self.stack.last_mut() {
            None => Some(Vec::new()),
            Some(Frame::Seq { next }) => {
                let mut p = self.path.clone();
                p.push(Seg::Index(*next));
                *next += 1;
                Some(p)
            }
            Some(Frame::Map {
                pending_key,
                expect_key,
            }) => {
                if *expect_key {
                    *expect_key = false;
                    let key = scalar.unwrap_or("?").to_string();
                    let mut p = self.path.clone();
                    p.push(Seg::Key(key.clone()));
                    self.index.keys.entry(p).or_insert(pos);
                    *pending_key = Some(key);
                    None
                } else {
                    *expect_key = true;
                    let mut p = self.path.clone();
                    p.push(Seg::Key(pending_key.take().unwrap_or_default()));
                    Some(p)
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = to_pos(mark);
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(p) = self.begin_node(Some(&value), pos) {
                    self.index.values.entry(p).or_insert(pos);
                }
            }
            Event::Alias(_) => {
                if let Some(p) = self.begin_node(None, pos) {
                    self.index.values.entry(p).or_insert(pos);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                match self.begin_node(None, pos) {
                    Some(p) => {
                        self.index.values.entry(p.clone()).or_insert(pos);
                        self.path = p;
                    }
                    // A complex key: give it a placeholder path so nesting stays balanced.
                    None => self.path.push(Seg::Key("?".into())),
                }
                self.stack.push(if is_map {
                    Frame::Map {
                        pending_key: None,
                        expect_key: true,
                    }
                } else {
                    Frame::Seq { next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.path.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_keys() {
        let text = "api: x\nrequest:\n  page: { type: Page }\n  list:\n    - a\n    - b: 1\n";
        let idx = PosIndex::build(text);
        let k = |s: &str| Seg::Key(s.to_string());
        assert_eq!(idx.pos(&[k("api")]), Pos { line: 1, column: 1 });
        assert_eq!(
            idx.pos(&[k("request"), k("page")]),
            Pos { line: 3, column: 3 }
        );
        assert_eq!(
            idx.pos(&[k("request"), k("page"), k("type")]),
            Pos {
                line: 3,
                column: 11
            }
        );
        assert_eq!(
            idx.pos(&[k("request"), k("list"), Seg::Index(1), k("b")]),
            Pos { line: 6, column: 7 }
        );
        // Unknown paths fall back to the nearest known ancestor.
        assert_eq!(
            idx.pos(&[k("request"), k("nope")]),
            Pos { line: 2, column: 1 }
        );
    }
}
