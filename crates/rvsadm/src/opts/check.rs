// SPDX-License-Identifier: MIT OR Apache-2.0
//! The whole-invocation checks of ipvsadm.c: the command × option matrix
//! (`commands_v_options`) and the tunnel options' consistency.

use rvs_model::TunType;

use super::{CMDNAMES, Cmd, Exit, fail, opt};

pub(super) const OPTNAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// `commands_v_options` of ipvsadm.c: one string per option row, one column per command in
/// [`Cmd`] order. `+` required, `x` illegal, `1` at most one of the `1`s, `.` optional.
pub(super) const MATRIX: [&str; 34] = [
    //A E D C L a d e S s d R S Z  (add edit del flush list addsrv delsrv editsrv set start stop restore save zero)
    "xxxx.xxxxxxx.x", // numeric
    "xxxx1xxxxxxxxx", // connection
    "+++x1+++xxxxx.", // service-address
    "..xxxxxxxxxxxx", // scheduler
    "..xxxxxxxxxxxx", // persistent
    "..xxxxxxxxxxxx", // netmask
    "xxxxx+++xxxxxx", // real-server
    "xxxxx.x.xxxxxx", // forwarding-method
    "xxxxx.x.xxxxxx", // weight
    "xxxxx.x.xxxxxx", // u-threshold
    "xxxxx.x.xxxxxx", // l-threshold
    "xxxxxxxxx.xxxx", // mcast-interface
    "xxxx1xxxxxxxxx", // timeout
    "xxxx1xxxxxxxxx", // daemon
    "xxxx.xxxxxxxxx", // stats
    "xxxx.xxxxxxxxx", // rate
    "xxxx.xxxxxxxxx", // thresholds
    "xxxx.xxxxxxxxx", // persistent-conn
    "xxxx.xxxxxxxxx", // nosort
    "xxxx.xxxx..xxx", // syncid
    "xxxx.xxxxxxxxx", // exact
    "..xxxxxxxxxxxx", // ops
    "..xxxxxxxxxxxx", // pe
    "..xxxxxxxxxxxx", // sched-flags
    "xxxxxxxxx.xxxx", // mcast-group
    "xxxxxxxxx.xxxx", // mcast-port
    "xxxxxxxxx.xxxx", // mcast-ttl
    "xxxxxxxxx.xxxx", // sync-maxlen
    "xxxx.xxxxxxxxx", // tun-info
    "xxxxx.x.xxxxxx", // tun-type
    "xxxxx.x.xxxxxx", // tun-port
    "xxxxx.x.xxxxxx", // tun-nocsum
    "xxxxx.x.xxxxxx", // tun-csum
    "xxxxx.x.xxxxxx", // tun-remcsum
];

/// The command × option matrix (`generic_opt_check`).
pub(super) fn generic_opt_check(cmd: Cmd, options: u64) -> Result<(), Exit> {
    let col = cmd as usize;
    let cmdname = CMDNAMES[col];
    let mut last: Option<usize> = None;
    for (j, row) in MATRIX.iter().enumerate() {
        let rule = row.as_bytes()[col];
        if options & (1 << j) == 0 {
            if rule == b'+' {
                return Err(fail(format!(
                    "You need to supply the '{}' option for the '{cmdname}' command",
                    OPTNAMES[j]
                )));
            }
        } else {
            if rule == b'x' {
                return Err(fail(format!(
                    "Illegal '{}' option with the '{cmdname}' command",
                    OPTNAMES[j]
                )));
            }
            if rule == b'1' {
                if let Some(l) = last {
                    return Err(fail(format!(
                        "The option '{}' conflicts with the '{}' option in the '{cmdname}' command",
                        OPTNAMES[j], OPTNAMES[l]
                    )));
                }
                last = Some(j);
            }
        }
    }
    Ok(())
}

/// The tunnel type × option matrix of `-a`/`-e`: ipip takes no tunnel option, gue needs
/// `--tun-port` and at most one checksum option, gre at most one of `--tun-csum` and
/// `--tun-nocsum`.
pub(super) fn tunnel_opt_check(tun: TunType, options: u64) -> Result<(), Exit> {
    const OPTS: [(u64, &str); 4] = [
        (opt::TUN_PORT, "tun-port"),
        (opt::TUN_NOCSUM, "tun-nocsum"),
        (opt::TUN_CSUM, "tun-csum"),
        (opt::TUN_REMCSUM, "tun-remcsum"),
    ];
    let (rules, name) = match tun {
        TunType::Ipip => (b"xxxx", "ipip"),
        TunType::Gue => (b"+111", "gue"),
        TunType::Gre => (b"x11x", "gre"),
    };
    let mut last: Option<&str> = None;
    for (k, (bit, optname)) in OPTS.iter().enumerate() {
        let rule = rules[k];
        if options & bit == 0 {
            if rule == b'+' {
                return Err(fail(format!(
                    "You need to supply the '{optname}' option for the '{name}' tunnel type"
                )));
            }
        } else {
            if rule == b'x' {
                return Err(fail(format!(
                    "Illegal '{optname}' option with the '{name}' tunnel type"
                )));
            }
            if rule == b'1' {
                if let Some(l) = last {
                    return Err(fail(format!(
                        "The option '{optname}' conflicts with the '{l}' option in the '{name}' tunnel type"
                    )));
                }
                last = Some(optname);
            }
        }
    }
    Ok(())
}
