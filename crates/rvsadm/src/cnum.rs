// SPDX-License-Identifier: MIT OR Apache-2.0
//! The C library number and address parsers ipvsadm relies on, reproduced so that the same
//! argument strings are accepted and refused: `strtol`/`strtoul` (base 10, leading blanks and
//! a sign allowed), `atoi`, and glibc's `inet_aton` with its shorthand forms (`10.1`,
//! `0x0a000001`, octal `010`).

use std::net::Ipv4Addr;

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parses like `strtol(s, &end, 10)` and returns `(value, rest, overflowed)`; `None` when no
/// digits were consumed.
fn strto(s: &str) -> Option<(bool, u128, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u128 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(u128::from(b[i] - b'0'));
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((neg, v, &s[i..]))
}

/// ipvsadm's `string_to_number`: the whole string must be a base-10 `long` within
/// `min..=max`.
pub fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let (neg, v, rest) = strto(s)?;
    if !rest.is_empty() || v > i64::MAX as u128 + u128::from(neg) {
        return None;
    }
    let n = if neg {
        (v as i128).wrapping_neg() as i64
    } else {
        v as i64
    };
    (min..=max).contains(&n).then_some(n)
}

/// `strtoul(s, &end, 10)` with the whole string consumed; negative values wrap as in C.
pub fn strtoul_full(s: &str) -> Option<u64> {
    let (neg, v, rest) = strto(s)?;
    if !rest.is_empty() || v > u128::from(u64::MAX) {
        return None;
    }
    let v = v as u64;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `atoi`: leading number, 0 if none, no error.
pub fn atoi(s: &str) -> i64 {
    match strto(s) {
        Some((neg, v, _)) => {
            let v = v.min(i64::MAX as u128) as i64;
            if neg { -v } else { v }
        }
        None => 0,
    }
}

/// glibc `inet_aton`.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    let mut parts: [u64; 4] = [0; 4];
    let mut n = 0;
    let mut i = 0;
    loop {
        if i >= b.len() || !b[i].is_ascii_digit() {
            return None;
        }
        let mut base = 10;
        if b[i] == b'0' {
            i += 1;
            if i < b.len() && (b[i] == b'x' || b[i] == b'X') {
                base = 16;
                i += 1;
            } else {
                base = 8;
            }
        }
        let mut val: u64 = 0;
        while i < b.len() {
            let c = b[i];
            let d = if c.is_ascii_digit() {
                if base == 8 && (c == b'8' || c == b'9') {
                    return None;
                }
                u64::from(c - b'0')
            } else if base == 16 && c.is_ascii_hexdigit() {
                u64::from(c.to_ascii_lowercase() - b'a' + 10)
            } else {
                break;
            };
            val = val * base + d;
            if val > 0xffff_ffff {
                return None;
            }
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            if n >= 3 || val > 0xff {
                return None;
            }
            parts[n] = val;
            n += 1;
            i += 1;
            continue;
        }
        // Anything after the number must start with white space.
        if i < b.len() && !is_c_space(b[i]) {
            return None;
        }
        let limits = [0xffff_ffff, 0x00ff_ffff, 0xffff, 0xff];
        if val > limits[n] {
            return None;
        }
        let mut addr = val;
        for (k, p) in parts.iter().take(n).enumerate() {
            addr |= p << (24 - 8 * k);
        }
        return Some(Ipv4Addr::from(addr as u32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_forms() {
        let a = |s| inet_aton(s).map(|a| a.to_string());
        assert_eq!(a("10.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(a("1.2.3").as_deref(), Some("1.2.0.3"));
        assert_eq!(a("0x0a000001").as_deref(), Some("10.0.0.1"));
        assert_eq!(a("010.0.0.1").as_deref(), Some("8.0.0.1"));
        assert_eq!(a("24").as_deref(), Some("0.0.0.24"));
        assert_eq!(a("255.255.255.0").as_deref(), Some("255.255.255.0"));
        assert_eq!(a("1.2.3.4 trailing").as_deref(), Some("1.2.3.4"));
        for bad in [
            "",
            "1.2.3.4.5",
            "256.1.1.1",
            "1..2",
            "08",
            "a.b",
            "1.2.3.256",
            "1.2.3.4x",
            ".",
        ] {
            assert_eq!(inet_aton(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn string_to_number_like_strtol() {
        assert_eq!(string_to_number("080", 0, 65535), Some(80));
        assert_eq!(string_to_number(" +7", 0, 10), Some(7));
        assert_eq!(string_to_number("-0", 0, 10), Some(0));
        assert_eq!(string_to_number("65536", 0, 65535), None);
        assert_eq!(string_to_number("", 0, 1), None);
        assert_eq!(string_to_number("1x", 0, 10), None);
        assert_eq!(
            string_to_number("99999999999999999999999", 0, i64::MAX),
            None
        );
    }

    #[test]
    fn strtoul_and_atoi() {
        assert_eq!(strtoul_full("4294967295"), Some(4294967295));
        assert_eq!(strtoul_full("-1"), Some(u64::MAX));
        assert_eq!(strtoul_full("7a"), None);
        assert_eq!(atoi("64abc"), 64);
        assert_eq!(atoi("abc"), 0);
    }
}
