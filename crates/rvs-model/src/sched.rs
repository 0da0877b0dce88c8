// SPDX-License-Identifier: MIT OR Apache-2.0
//! Schedulers: which dest a new connection goes to (rr, wrr, lc, wlc, sed, nq, fo, ovf and
//! twos; the hashing and locality schedulers have modules of their own).
//!
//! Each function receives the service's dests in list order (newest first) as
//! [`Candidate`]s and returns the index of the chosen one, or `None` for "no destination
//! available". Ties go to the dest met first, and "x/wx < y/wy" comparisons use 64-bit cross
//! multiplication, exactly as `ip_vs_<name>.c` do. Schedulers with state (rr's cursor, wrr's
//! current weight) keep it in a small struct the caller owns.

/// What a scheduler sees of a dest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Candidate {
    /// Current weight.
    pub weight: i32,
    /// Active connections.
    pub active: u32,
    /// Inactive connections.
    pub inactive: u32,
    /// `OVERLOAD` flag.
    pub overload: bool,
}

impl Candidate {
    /// `ip_vs_dest_conn_overhead`: active × 256 + inactive.
    pub fn overhead(&self) -> i64 {
        (i64::from(self.active) << 8) + i64::from(self.inactive)
    }

    fn usable(&self) -> bool {
        self.weight > 0 && !self.overload
    }
}

/// `rr`: the cursor is the index of the last chosen dest; `None` means the list head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundRobin {
    /// Index of the last pick (the kernel's `sched_data` list pointer).
    pub cursor: Option<usize>,
}

impl RoundRobin {
    /// Picks the next usable dest after the cursor, wrapping once (`ip_vs_rr_schedule`).
    pub fn schedule(&mut self, dests: &[Candidate]) -> Option<usize> {
        let n = dests.len();
        if n == 0 {
            return None;
        }
        // The kernel's cursor starts at the list head sentinel, so the first pick is element 0.
        let start = self.cursor.map_or(0, |c| (c + 1) % n);
        for k in 0..n {
            let i = (start + k) % n;
            if dests[i].usable() {
                self.cursor = Some(i);
                return Some(i);
            }
        }
        None
    }
}

impl RoundRobin {
    /// A dest was inserted at the head of the list: rr has no add hook, the cursor keeps
    /// pointing at the same dest (its position moves by one).
    pub fn dest_added(&mut self) {
        if let Some(c) = self.cursor {
            self.cursor = Some(c + 1);
        }
    }

    /// The dest at position `j` was removed (`ip_vs_rr_del_dest`): a cursor on it moves to
    /// the element before it (the list head for the first one).
    pub fn dest_removed(&mut self, j: usize) {
        self.cursor = match self.cursor {
            Some(c) if j < c => Some(c - 1),
            Some(c) if j == c => c.checked_sub(1),
            other => other,
        };
    }
}

/// Greatest common divisor (of weights).
pub(crate) fn gcd(a: i32, b: i32) -> i32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `wrr` state (`struct ip_vs_wrr_mark`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WeightedRoundRobin {
    /// Current element; `None` is the list head sentinel.
    cl: Option<usize>,
    cw: i32,
    mw: i32,
    di: i32,
}

impl WeightedRoundRobin {
    /// State for a fresh service (`ip_vs_wrr_init_svc`).
    pub fn new(dests: &[Candidate]) -> WeightedRoundRobin {
        let mut s = WeightedRoundRobin::default();
        s.recompute(dests);
        s.cw = s.mw;
        s
    }

    fn recompute(&mut self, dests: &[Candidate]) {
        let mut g = 0;
        let mut max = 0;
        for d in dests.iter().filter(|d| d.weight > 0) {
            g = if g == 0 { d.weight } else { gcd(d.weight, g) };
            max = max.max(d.weight);
        }
        self.di = if g > 0 { g } else { 1 };
        self.mw = max - (self.di - 1);
    }

    /// The state as the packet path keeps it, with the cursor back at the list head (every
    /// wrr update starts there).
    pub fn from_parts(cw: i32, mw: i32, di: i32) -> WeightedRoundRobin {
        WeightedRoundRobin {
            cl: None,
            cw,
            mw,
            di,
        }
    }

    /// The cursor (index of the last pick, `None` for the list head).
    pub fn cursor(&self) -> Option<usize> {
        self.cl
    }

    /// `(cw, mw, di)`, for writing the state where the packet path keeps it.
    pub fn parts(&self) -> (i32, i32, i32) {
        (self.cw, self.mw, self.di)
    }

    /// A dest was added, removed or edited (`ip_vs_wrr_dest_changed`).
    pub fn dests_changed(&mut self, dests: &[Candidate]) {
        self.cl = None;
        self.recompute(dests);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    /// `ip_vs_wrr_schedule`, following its control flow step by step.
    pub fn schedule(&mut self, dests: &[Candidate]) -> Option<usize> {
        if self.mw == 0 || dests.is_empty() {
            return None;
        }
        let last = self.cl;
        let mut d = self.cl;
        let mut stop: Option<Option<usize>> = None;
        let mut last_pass = false;
        let mut restarted = false;
        loop {
            let from = d.map_or(0, |i| i + 1);
            for (e, c) in dests.iter().enumerate().skip(from) {
                if !c.overload && c.weight >= self.cw {
                    self.cl = Some(e);
                    return Some(e);
                }
                if stop == Some(Some(e)) {
                    self.cl = Some(e);
                    return None;
                }
            }
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = Some(last);
            }
            d = None;
        }
    }
}

/// `lc`: least `overhead`, weight ≠ 0 and not OVERLOAD, ties to the first.
pub fn lc(dests: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if d.overload || d.weight == 0 {
            continue;
        }
        if best.is_none_or(|b| d.overhead() < dests[b].overhead()) {
            best = Some(i);
        }
    }
    best
}

/// Shared shape of wlc and sed: first usable dest, then replace on a strictly better
/// `overhead/weight` among non-overloaded dests.
fn weighted_least(dests: &[Candidate], overhead: impl Fn(&Candidate) -> i64) -> Option<usize> {
    let first = dests.iter().position(Candidate::usable)?;
    let mut best = first;
    for (i, d) in dests.iter().enumerate().skip(first + 1) {
        if d.overload {
            continue;
        }
        let b = &dests[best];
        if overhead(b) * i64::from(d.weight) > overhead(d) * i64::from(b.weight) {
            best = i;
        }
    }
    Some(best)
}

/// `wlc`: least `overhead/weight` (the default scheduler).
pub fn wlc(dests: &[Candidate]) -> Option<usize> {
    weighted_least(dests, Candidate::overhead)
}

/// `sed`: least `(active + 1)/weight`.
pub fn sed(dests: &[Candidate]) -> Option<usize> {
    weighted_least(dests, |d| i64::from(d.active) + 1)
}

/// `nq`: the first idle usable dest, else least `(active + 1)/weight`.
pub fn nq(dests: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() {
            continue;
        }
        if d.active == 0 {
            return Some(i);
        }
        let oh = |c: &Candidate| i64::from(c.active) + 1;
        if best.is_none_or(|b| {
            oh(&dests[b]) * i64::from(d.weight) > oh(d) * i64::from(dests[b].weight)
        }) {
            best = Some(i);
        }
    }
    best
}

/// `fo`: the highest weight among non-overloaded dests, ties to the first.
pub fn fo(dests: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.overload && d.weight > best.map_or(0, |b| dests[b].weight) {
            best = Some(i);
        }
    }
    best
}

/// `ovf`: the highest weight among dests with `active <= weight`.
pub fn ovf(dests: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() || i64::from(d.active) > i64::from(d.weight) {
            continue;
        }
        if best.is_none_or(|b| d.weight > dests[b].weight) {
            best = Some(i);
        }
    }
    best
}

/// `twos` (`ip_vs_twos_schedule`): weighted random "power of two choices". `r1` and `r2` are
/// the two random draws, each uniform in `0..=total` where `total` is the sum of the usable
/// weights (the caller draws them; [`twos_total`] gives the bound). Walking the usable dests,
/// each draw loses the dest's weight and chooses the first dest where it reaches zero; the
/// second choice wins if it is strictly less loaded per weight.
pub fn twos(dests: &[Candidate], r1: u32, r2: u32) -> Option<usize> {
    twos_total(dests)?;
    let (mut r1, mut r2) = (i64::from(r1), i64::from(r2));
    let (mut c1, mut c2): (Option<usize>, Option<usize>) = (None, None);
    for (i, d) in dests.iter().enumerate() {
        if !d.usable() {
            continue;
        }
        r1 -= i64::from(d.weight);
        r2 -= i64::from(d.weight);
        if r1 <= 0 && c1.is_none() {
            c1 = Some(i);
        }
        if r2 <= 0 && c2.is_none() {
            c2 = Some(i);
        }
        if c1.is_some() && c2.is_some() {
            break;
        }
    }
    let (a, b) = (c1?, c2?);
    let (da, db) = (&dests[a], &dests[b]);
    if i64::from(db.weight) * da.overhead() > i64::from(da.weight) * db.overhead() {
        Some(b)
    } else {
        Some(a)
    }
}

/// The sum of the usable weights twos draws below (inclusive), `None` if no dest is usable.
pub fn twos_total(dests: &[Candidate]) -> Option<u32> {
    let t: i64 = dests
        .iter()
        .filter(|d| d.usable())
        .map(|d| i64::from(d.weight))
        .sum();
    (t > 0).then_some(t as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(weights: &[i32]) -> Vec<Candidate> {
        weights
            .iter()
            .map(|&weight| Candidate {
                weight,
                ..Default::default()
            })
            .collect()
    }

    /// Spec 11.1: after adding A, B, C the list is [C, B, A] and picks are C, B, A, C...
    #[test]
    fn rr_follows_list_order() {
        let dests = w(&[1, 1, 1]);
        let mut rr = RoundRobin::default();
        let picks: Vec<usize> = (0..6).map(|_| rr.schedule(&dests).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn rr_skips_weight_zero_and_overload() {
        let mut dests = w(&[1, 0, 1]);
        dests[2].overload = true;
        let mut rr = RoundRobin::default();
        assert_eq!(rr.schedule(&dests), Some(0));
        assert_eq!(rr.schedule(&dests), Some(0));
        dests[0].weight = 0;
        assert_eq!(rr.schedule(&dests), None);
    }

    /// Spec 11.2: A(3), B(2), C(1) added in order → list [C, B, A]; period A B A C B A.
    #[test]
    fn wrr_spec_sequence() {
        let dests = w(&[1, 2, 3]); // C, B, A
        let mut s = WeightedRoundRobin::new(&dests);
        let names = ["C", "B", "A"];
        let seq: Vec<&str> = (0..12)
            .map(|_| names[s.schedule(&dests).unwrap()])
            .collect();
        assert_eq!(seq.join(" "), "A B A C B A A B A C B A");
    }

    /// Spec 11.2: X=4, Y=2 (list [Y, X]) → X Y X repeating.
    #[test]
    fn wrr_spec_gcd_sequence() {
        let dests = w(&[2, 4]);
        let mut s = WeightedRoundRobin::new(&dests);
        let names = ["Y", "X"];
        let seq: Vec<&str> = (0..6).map(|_| names[s.schedule(&dests).unwrap()]).collect();
        assert_eq!(seq.join(" "), "X Y X X Y X");
    }

    /// `ip_vs_rr_del_dest`: deleting the cursor's dest moves it back one.
    #[test]
    fn rr_cursor_follows_changes() {
        let dests = w(&[1, 1, 1]);
        let mut rr = RoundRobin::default();
        rr.schedule(&dests);
        rr.schedule(&dests); // cursor on 1
        rr.dest_removed(1);
        assert_eq!(rr.cursor, Some(0));
        rr.dest_added();
        assert_eq!(rr.cursor, Some(1));
        rr.dest_removed(0);
        assert_eq!(rr.cursor, Some(0));
        rr.dest_removed(0);
        assert_eq!(rr.cursor, None);
    }

    #[test]
    fn wrr_all_zero_fails() {
        let dests = w(&[0, 0]);
        assert_eq!(WeightedRoundRobin::new(&dests).schedule(&dests), None);
    }

    /// Spec 11.4 example: A(w=1, overhead 2) beats B(w=3, overhead 256).
    #[test]
    fn wlc_spec_example() {
        let dests = [
            Candidate {
                weight: 1,
                active: 0,
                inactive: 2,
                overload: false,
            },
            Candidate {
                weight: 3,
                active: 1,
                inactive: 0,
                overload: false,
            },
        ];
        assert_eq!(wlc(&dests), Some(0));
    }

    /// The seed: three equal dests; wlc fills them in list order, ties to the first.
    #[test]
    fn wlc_ties_go_to_first_and_balance() {
        let mut dests = w(&[3, 3, 3]);
        let mut picks = vec![];
        for _ in 0..6 {
            let i = wlc(&dests).unwrap();
            dests[i].active += 1;
            picks.push(i);
        }
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn wlc_weight_zero_never_wins() {
        let mut dests = w(&[0, 1]);
        dests[1].active = 100;
        assert_eq!(wlc(&dests), Some(1));
        assert_eq!(wlc(&w(&[0, 0])), None);
    }

    #[test]
    fn lc_ignores_weight_values() {
        let mut dests = w(&[1, 100]);
        dests[1].inactive = 1;
        assert_eq!(lc(&dests), Some(0));
    }

    #[test]
    fn sed_nq_fo_ovf() {
        let mut dests = w(&[1, 3]);
        dests[0].active = 1;
        dests[1].active = 2;
        // sed: (1+1)/1 = 2 vs (2+1)/3 = 1 → second.
        assert_eq!(sed(&dests), Some(1));
        assert_eq!(nq(&dests), Some(1));
        dests[1].active = 0;
        assert_eq!(nq(&dests), Some(1));
        assert_eq!(fo(&w(&[2, 5, 5])), Some(1));
        let mut o = w(&[5, 2]);
        o[0].active = 6;
        assert_eq!(ovf(&o), Some(1));
    }

    #[test]
    fn twos_picks_two_and_keeps_the_lighter() {
        let d = [
            Candidate {
                weight: 1,
                active: 4,
                ..Candidate::default()
            },
            Candidate {
                weight: 0,
                ..Candidate::default()
            },
            Candidate {
                weight: 3,
                active: 1,
                ..Candidate::default()
            },
        ];
        assert_eq!(twos_total(&d), Some(4));
        // r = 0 and 1 land on the first usable dest, 2..=4 on the third.
        assert_eq!(twos(&d, 0, 1), Some(0));
        assert_eq!(twos(&d, 4, 4), Some(2));
        // One draw each: the third is lighter per weight (256/3 < 1024/1).
        assert_eq!(twos(&d, 0, 3), Some(2));
        assert_eq!(twos(&d, 3, 0), Some(2));
        let none = [Candidate {
            weight: 0,
            ..Candidate::default()
        }];
        assert_eq!(twos(&none, 0, 0), None);
    }
}
