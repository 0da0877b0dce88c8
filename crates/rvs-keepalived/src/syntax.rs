// SPDX-License-Identifier: MIT OR Apache-2.0
//! keepalived.conf's syntax: words, `{ }` blocks, `!`/`#` comments, quoted strings and
//! `include`, read into a tree of [`Node`]s that remember their file and line.
//!
//! A statement is a keyword and the words after it up to the end of its line, or up to a `{`
//! that opens its block; a block's statements run to the matching `}` over any number of
//! lines, so `url {` ending a line and `url { path / }` on one line read the same (as in
//! keepalived, a statement's words end at the end of its line: one statement per line). `include PATTERN` (`*`, `?` and `[...]` in the last component; relative to
//! the including file's directory) is replaced by the statements of the files it names, in
//! name order, wherever it appears.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where something was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Pos {
    /// The file, as given or as found by `include`.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A refusal, at a place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Where.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for Error {}

/// One statement: a keyword, its words, and its block if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The keyword.
    pub key: String,
    /// The words after it (quotes removed).
    pub args: Vec<String>,
    /// The statements of its `{ }` block, `None` when it has none.
    pub block: Option<Vec<Node>>,
    /// Where the keyword is.
    pub pos: Pos,
}

/// How included files are read (a trait so that the fuzzer and tests need no files).
pub trait Source {
    /// The files `pattern` names, relative to `dir`, in the order to read them, each with its
    /// text. An empty list is not an error (keepalived ignores a glob that matches nothing).
    fn expand(&self, dir: &Path, pattern: &str) -> Result<Vec<(PathBuf, String)>, String>;
}

/// Reads includes from the file system.
pub struct Files;

/// One character of a pattern against `c`: `?`, a `[...]` set (with ranges, `!`/`^`
/// negation) or a literal; `None` when it does not match, else the pattern's length used.
fn glob_one(pat: &[u8], c: u8) -> Option<usize> {
    match pat.first()? {
        b'?' => Some(1),
        b'[' => match pat.iter().skip(1).position(|&b| b == b']') {
            Some(end) if end > 0 => {
                let end = end + 1;
                let set = &pat[1..end];
                let (neg, set) = match set.first() {
                    Some(b'!' | b'^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= (set[i]..=set[i + 2]).contains(&c);
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                (hit != neg).then_some(end + 1)
            }
            _ => (c == b'[').then_some(1),
        },
        &p => (p == c).then_some(1),
    }
}

/// Whether `name` matches the shell pattern `pat` (`*`, `?`, `[...]`), in time linear in
/// their lengths times the number of stars (a star only ever resumes at the last one).
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if pat.get(p) == Some(&b'*') {
            star = Some((p + 1, n));
            p += 1;
            continue;
        }
        if let Some(len) = glob_one(&pat[p..], name[n]) {
            p += len;
            n += 1;
            continue;
        }
        match star {
            Some((sp, sn)) => {
                p = sp;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&b| b == b'*')
}

impl Source for Files {
    fn expand(&self, dir: &Path, pattern: &str) -> Result<Vec<(PathBuf, String)>, String> {
        let full = dir.join(pattern);
        let last = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        if !last.contains(['*', '?', '[']) {
            return Ok(vec![(full.clone(), read(&full)?)]);
        }
        let parent = full.parent().unwrap_or(Path::new("/"));
        if parent.to_string_lossy().contains(['*', '?', '[']) {
            return Err(format!(
                "include {pattern}: wildcards are only supported in the file name"
            ));
        }
        let entries = match std::fs::read_dir(parent) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot read {}: {e}", parent.display())),
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    !n.starts_with('.') && glob_match(last.as_bytes(), n.as_bytes())
                }) && p.is_file()
            })
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| Ok((p.clone(), read(&p)?)))
            .collect()
    }
}

/// Includes nested deeper than this are refused (a file that includes itself).
pub const MAX_INCLUDE_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Eol,
}

/// Splits one file's text into tokens with their lines.
fn lex(text: &str, file: &str) -> Result<Vec<(Tok, Pos)>, Error> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, line) in text.lines().enumerate() {
        let pos = Pos {
            file: file.to_string(),
            line: n as u32 + 1,
        };
        let mut chars = line.char_indices().peekable();
        let mut any = false;
        while let Some(&(_, c)) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            if c == '!' || c == '#' {
                break;
            }
            any = true;
            if c == '{' || c == '}' {
                chars.next();
                out.push((if c == '{' { Tok::Open } else { Tok::Close }, pos.clone()));
                continue;
            }
            let mut w = String::new();
            if c == '"' {
                chars.next();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    w.push(c);
                }
                if !closed {
                    return Err(Error {
                        pos,
                        message: "unterminated quoted string".into(),
                    });
                }
            } else {
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || c == '{' || c == '}' || c == '"' {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
            }
            out.push((Tok::Word(w), pos.clone()));
        }
        if any {
            out.push((Tok::Eol, pos));
        }
    }
    Ok(out)
}

struct Reader<'a> {
    source: &'a dyn Source,
}

impl Reader<'_> {
    /// The tokens of `text` with every `include` statement replaced by its files' tokens.
    fn tokens(
        &self,
        text: &str,
        file: &Path,
        depth: usize,
        out: &mut Vec<(Tok, Pos)>,
    ) -> Result<(), Error> {
        let name = file.to_string_lossy();
        let toks = lex(text, &name)?;
        let mut i = 0;
        // `include` is only a statement at the start of one: after an end of line, a brace,
        // or at the start of the file.
        let mut at_start = true;
        while i < toks.len() {
            let (t, pos) = &toks[i];
            if at_start && *t == Tok::Word("include".into()) {
                let Some((Tok::Word(pattern), _)) = toks.get(i + 1) else {
                    return Err(Error {
                        pos: pos.clone(),
                        message: "include needs a file name".into(),
                    });
                };
                if !matches!(toks.get(i + 2), Some((Tok::Eol, _))) {
                    return Err(Error {
                        pos: pos.clone(),
                        message: "include takes one file name (or pattern)".into(),
                    });
                }
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(Error {
                        pos: pos.clone(),
                        message: format!(
                            "include {pattern}: includes nested more than {MAX_INCLUDE_DEPTH} deep (does a file include itself?)"
                        ),
                    });
                }
                let dir = file.parent().unwrap_or(Path::new("."));
                let files = self.source.expand(dir, pattern).map_err(|m| Error {
                    pos: pos.clone(),
                    message: m,
                })?;
                for (path, text) in files {
                    self.tokens(&text, &path, depth + 1, out)?;
                }
                i += 3;
                at_start = true;
                continue;
            }
            at_start = !matches!(t, Tok::Word(_));
            out.push((t.clone(), pos.clone()));
            i += 1;
        }
        Ok(())
    }
}

fn block(
    toks: &[(Tok, Pos)],
    i: &mut usize,
    depth: usize,
    open: Option<&Pos>,
) -> Result<Vec<Node>, Error> {
    let mut nodes = Vec::new();
    loop {
        let Some((t, pos)) = toks.get(*i) else {
            return match open {
                Some(p) => Err(Error {
                    pos: p.clone(),
                    message: "this block's { has no matching }".into(),
                }),
                None => Ok(nodes),
            };
        };
        match t {
            Tok::Eol => *i += 1,
            Tok::Close => {
                if open.is_none() {
                    return Err(Error {
                        pos: pos.clone(),
                        message: "} without a block to close".into(),
                    });
                }
                *i += 1;
                return Ok(nodes);
            }
            Tok::Open => {
                return Err(Error {
                    pos: pos.clone(),
                    message: "{ without a keyword before it".into(),
                });
            }
            Tok::Word(key) => {
                let pos = pos.clone();
                *i += 1;
                let mut args = Vec::new();
                let mut sub = None;
                while let Some((t, p)) = toks.get(*i) {
                    match t {
                        Tok::Word(w) => {
                            args.push(w.clone());
                            *i += 1;
                        }
                        Tok::Eol => {
                            *i += 1;
                            // A `{` alone on the next line still opens this statement's block.
                            if matches!(toks.get(*i), Some((Tok::Open, _))) {
                                continue;
                            }
                            break;
                        }
                        Tok::Open => {
                            if depth >= 16 {
                                return Err(Error {
                                    pos: p.clone(),
                                    message: "blocks nested too deep".into(),
                                });
                            }
                            let p = p.clone();
                            *i += 1;
                            sub = Some(block(toks, i, depth + 1, Some(&p))?);
                            break;
                        }
                        Tok::Close => break,
                    }
                }
                nodes.push(Node {
                    key: key.clone(),
                    args,
                    block: sub,
                    pos,
                });
            }
        }
    }
}

/// Reads `text` (the contents of `file`) into statements, following includes through
/// `source`.
pub fn parse(text: &str, file: &Path, source: &dyn Source) -> Result<Vec<Node>, Error> {
    let mut toks = Vec::new();
    Reader { source }.tokens(text, file, 0, &mut toks)?;
    let mut i = 0;
    block(&toks, &mut i, 0, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoFiles;
    impl Source for NoFiles {
        fn expand(&self, _: &Path, p: &str) -> Result<Vec<(PathBuf, String)>, String> {
            Err(format!("no {p}"))
        }
    }

    fn p(text: &str) -> Result<Vec<Node>, Error> {
        parse(text, Path::new("k.conf"), &NoFiles)
    }

    #[test]
    fn blocks_comments_quotes() {
        let n = p("! comment\nvirtual_server 10.0.0.1 80 { # trailing\n  delay_loop 6\n  real_server 10.0.0.2 80 {\n weight 2\n notify_up \"/bin/echo up now\"\n HTTP_GET { url { path /\n status_code 200 } }\n }\n}\n").unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].key, "virtual_server");
        assert_eq!(n[0].args, ["10.0.0.1", "80"]);
        let b = n[0].block.as_ref().unwrap();
        assert_eq!(b[0].key, "delay_loop");
        assert_eq!(b[0].pos.line, 3);
        let rs = b[1].block.as_ref().unwrap();
        assert_eq!(rs[1].args, ["/bin/echo up now"]);
        let url = &rs[2].block.as_ref().unwrap()[0];
        assert_eq!(url.key, "url");
        let u = url.block.as_ref().unwrap();
        assert_eq!(
            (u[0].key.as_str(), u[1].key.as_str()),
            ("path", "status_code")
        );
    }

    #[test]
    fn brace_on_next_line() {
        let n = p("virtual_server 10.0.0.1 80\n{\n lb_algo rr\n}\n").unwrap();
        assert_eq!(n[0].block.as_ref().unwrap()[0].key, "lb_algo");
    }

    #[test]
    fn unbalanced_braces_are_refused_with_their_line() {
        let e = p("a {\n b 1\n").unwrap_err();
        assert_eq!(e.pos.line, 1);
        let e = p("a 1\n}\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        let e = p("x \"open\n").unwrap_err();
        assert!(e.message.contains("unterminated"));
    }

    #[test]
    fn glob() {
        assert!(glob_match(b"*.conf", b"a.conf"));
        assert!(!glob_match(b"*.conf", b"a.conf.bak"));
        assert!(glob_match(b"vs-?[0-9].conf", b"vs-a7.conf"));
        assert!(!glob_match(b"vs-[!0-9]", b"vs-7"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"a*b*c", b"aXbYbZc"));
        assert!(!glob_match(b"a*b*c", b"aXbYbZ"));
        // Many stars against a long name that never matches: quick, not exponential.
        let name = vec![b'a'; 4000];
        assert!(!glob_match(b"*a*a*a*a*a*a*a*a*a*a*b", &name));
    }

    #[test]
    fn includes_nest_and_self_inclusion_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(dir.path().join("conf.d/b.conf"), "b 2\n").unwrap();
        std::fs::write(dir.path().join("conf.d/a.conf"), "a 1\n").unwrap();
        let main = dir.path().join("main.conf");
        let n = parse("x {\ninclude conf.d/*.conf\n}\nz 3\n", &main, &Files).unwrap();
        let b = n[0].block.as_ref().unwrap();
        assert_eq!((b[0].key.as_str(), b[1].key.as_str()), ("a", "b"));
        assert!(b[1].pos.file.ends_with("conf.d/b.conf"));
        assert_eq!(n[1].key, "z");
        std::fs::write(&main, "include main.conf\n").unwrap();
        let e = parse("include main.conf\n", &main, &Files).unwrap_err();
        assert!(e.message.contains("nested"), "{e}");
        let e = parse("include missing.conf\n", &main, &Files).unwrap_err();
        assert!(e.to_string().contains("main.conf:1: cannot read"), "{e}");
    }
}
