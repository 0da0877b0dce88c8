// SPDX-License-Identifier: MIT OR Apache-2.0
//! Counters and the IPVS rate estimator, kept per service and per dest as the kernel does.
//!
//! Counters only ever grow; `-Z` records the current values as a new zero point
//! ([`Stats::zero`]) instead of resetting them, as the kernel does. The estimator is the
//! kernel's fixed-point EWMA with a 2-second period and weight 1/4; the caller drives it every
//! two seconds with the raw counters.

use serde::{Deserialize, Serialize};

/// The five IPVS counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Connections scheduled.
    pub conns: u64,
    /// Client-to-server packets.
    pub inpkts: u64,
    /// Server-to-client packets.
    pub outpkts: u64,
    /// Client-to-server bytes (IP datagram bytes).
    pub inbytes: u64,
    /// Server-to-client bytes.
    pub outbytes: u64,
}

impl Counters {
    /// Field-wise wrapping difference `self - base`.
    pub fn since(&self, base: &Counters) -> Counters {
        Counters {
            conns: self.conns.wrapping_sub(base.conns),
            inpkts: self.inpkts.wrapping_sub(base.inpkts),
            outpkts: self.outpkts.wrapping_sub(base.outpkts),
            inbytes: self.inbytes.wrapping_sub(base.inbytes),
            outbytes: self.outbytes.wrapping_sub(base.outbytes),
        }
    }
}

/// Per-second rates as `--rate` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Input packets per second.
    pub inpps: u64,
    /// Output packets per second.
    pub outpps: u64,
    /// Input bytes per second.
    pub inbps: u64,
    /// Output bytes per second.
    pub outbps: u64,
}

/// The kernel's estimator state (`struct ip_vs_estimator`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimator {
    last: Counters,
    avg_conns: i64,
    avg_inpkts: i64,
    avg_outpkts: i64,
    avg_inbytes: i64,
    avg_outbytes: i64,
}

impl Estimator {
    /// One 2-second tick with the current raw counters (`ip_vs_chain_estimation`).
    pub fn tick(&mut self, cur: &Counters) {
        fn ewma(avg: &mut i64, cur: u64, last: u64, shift: u32) {
            let rate = (cur.wrapping_sub(last) as i64) << shift;
            *avg += (rate - *avg) >> 2;
        }
        ewma(&mut self.avg_conns, cur.conns, self.last.conns, 9);
        ewma(&mut self.avg_inpkts, cur.inpkts, self.last.inpkts, 9);
        ewma(&mut self.avg_outpkts, cur.outpkts, self.last.outpkts, 9);
        ewma(&mut self.avg_inbytes, cur.inbytes, self.last.inbytes, 4);
        ewma(&mut self.avg_outbytes, cur.outbytes, self.last.outbytes, 4);
        self.last = *cur;
    }

    /// The rates the kernel reports (`ip_vs_read_estimator`).
    pub fn rates(&self) -> Rates {
        let pps = |a: i64| ((a + 0x1FF) >> 10).max(0) as u64;
        let bps = |a: i64| ((a + 0xF) >> 5).max(0) as u64;
        Rates {
            cps: pps(self.avg_conns),
            inpps: pps(self.avg_inpkts),
            outpps: pps(self.avg_outpkts),
            inbps: bps(self.avg_inbytes),
            outbps: bps(self.avg_outbytes),
        }
    }

    /// An estimator whose averages report exactly `r` (to carry rates over a restart, or to
    /// build fixtures).
    pub fn from_rates(r: &Rates, last: Counters) -> Estimator {
        let pps = |v: u64| (v as i64) << 10;
        let bps = |v: u64| (v as i64) << 5;
        Estimator {
            last,
            avg_conns: pps(r.cps),
            avg_inpkts: pps(r.inpps),
            avg_outpkts: pps(r.outpps),
            avg_inbytes: bps(r.inbps),
            avg_outbytes: bps(r.outbps),
        }
    }

    /// `-Z`: rates become 0 and the next tick measures from `cur`.
    pub fn zero(&mut self, cur: &Counters) {
        *self = Estimator {
            last: *cur,
            ..Estimator::default()
        };
    }
}

/// Counters of one object (service, dest or the total) with their `-Z` zero point and rates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Raw counters, never reset.
    pub raw: Counters,
    /// Values recorded by the last `-Z`.
    pub zero_point: Counters,
    /// Rate estimator.
    pub est: Estimator,
}

impl Stats {
    /// What listings show: raw minus the zero point.
    pub fn shown(&self) -> Counters {
        self.raw.since(&self.zero_point)
    }

    /// `-Z` for this object.
    pub fn zero(&mut self) {
        self.zero_point = self.raw;
        self.est.zero(&self.raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec 12.2: a steady 100 conn/s converges to 100 after about ten rounds.
    #[test]
    fn steady_rate_converges() {
        let mut e = Estimator::default();
        let mut c = Counters::default();
        for _ in 0..100 {
            c.conns += 200; // 100/s over 2 s
            c.inpkts += 2000;
            c.inbytes += 3_000_000;
            e.tick(&c);
        }
        let r = e.rates();
        assert_eq!(r.cps, 100);
        assert_eq!(r.inpps, 1000);
        assert_eq!(r.inbps, 1_500_000);
        assert_eq!(r.outpps, 0);
    }

    #[test]
    fn from_rates_reports_them() {
        let r = Rates {
            cps: 19,
            inpps: 480,
            outpps: 392,
            inbps: 61440,
            outbps: 592896,
        };
        assert_eq!(Estimator::from_rates(&r, Counters::default()).rates(), r);
    }

    #[test]
    fn zero_records_point_and_clears_rates() {
        let mut s = Stats::default();
        s.raw.conns = 10;
        s.est.tick(&s.raw);
        assert_ne!(s.est.rates().cps, 0);
        s.zero();
        assert_eq!(s.shown(), Counters::default());
        assert_eq!(s.est.rates(), Rates::default());
        s.raw.conns = 12;
        assert_eq!(s.shown().conns, 2);
    }
}
