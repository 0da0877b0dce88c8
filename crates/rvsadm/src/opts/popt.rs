// SPDX-License-Identifier: MIT OR Apache-2.0
//! A minimal popt: the argument walk ipvsadm gets from the library (options anywhere, bundled
//! short options, `--long=value`, optional arguments, leftovers, `--`).

use super::table::{Arg, TABLE, Tag};

/// One step of popt's option scan.
pub(super) enum Next {
    Opt(Tag, Option<String>, String),
    End,
    Error(String, &'static str),
}

/// A minimal popt: options anywhere, words collected as leftovers, `--` ends options.
pub(super) struct Popt<'a> {
    args: &'a [String],
    next: usize,
    /// Rest of a short-option bundle being walked, and the word it came from.
    bundle: Option<(String, String)>,
    pub(super) leftovers: Vec<String>,
    no_more_options: bool,
}

impl<'a> Popt<'a> {
    pub(super) fn new(args: &'a [String]) -> Popt<'a> {
        Popt {
            args,
            next: 0,
            bundle: None,
            leftovers: Vec::new(),
            no_more_options: false,
        }
    }

    pub(super) fn take_next_word(&mut self) -> Option<String> {
        let w = self.args.get(self.next).cloned();
        if w.is_some() {
            self.next += 1;
        }
        w
    }

    pub(super) fn get_next(&mut self) -> Next {
        if let Some((rest, word)) = self.bundle.take() {
            return self.short(rest, word);
        }
        loop {
            let Some(word) = self.take_next_word() else {
                return Next::End;
            };
            if self.no_more_options || !word.starts_with('-') || word == "-" {
                self.leftovers.push(word);
                continue;
            }
            if word == "--" {
                self.no_more_options = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let Some(&(_, _, arg, tag)) = TABLE.iter().find(|e| e.0 == name) else {
                    return Next::Error(word, "unknown option");
                };
                return match (arg, inline) {
                    (Arg::None, Some(_)) => Next::Error(word, "option does not take an argument"),
                    (Arg::None, None) => Next::Opt(tag, None, word),
                    (_, Some(v)) => Next::Opt(tag, Some(v), word),
                    (Arg::Required, None) => match self.take_next_word() {
                        Some(v) => Next::Opt(tag, Some(v), word),
                        None => Next::Error(word, "missing argument"),
                    },
                    (Arg::Optional, None) => {
                        let v = self.optional_word();
                        Next::Opt(tag, v, word)
                    }
                };
            }
            return self.short(word[1..].to_string(), word);
        }
    }

    pub(super) fn optional_word(&mut self) -> Option<String> {
        match self.args.get(self.next) {
            Some(w) if !w.starts_with('-') => self.take_next_word(),
            _ => None,
        }
    }

    pub(super) fn short(&mut self, rest: String, word: String) -> Next {
        let mut chars = rest.chars();
        let Some(c) = chars.next() else {
            return Next::End;
        };
        let remaining: String = chars.collect();
        let Some(&(_, _, arg, tag)) = TABLE.iter().find(|e| e.1 == Some(c)) else {
            return Next::Error(word, "unknown option");
        };
        match arg {
            Arg::None => {
                if !remaining.is_empty() {
                    self.bundle = Some((remaining, word.clone()));
                }
                Next::Opt(tag, None, word)
            }
            _ if !remaining.is_empty() => Next::Opt(tag, Some(remaining), word),
            Arg::Required => match self.take_next_word() {
                Some(v) => Next::Opt(tag, Some(v), word),
                None => Next::Error(word, "missing argument"),
            },
            Arg::Optional => {
                let v = self.optional_word();
                Next::Opt(tag, v, word)
            }
        }
    }
}
