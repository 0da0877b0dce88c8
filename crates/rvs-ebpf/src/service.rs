// SPDX-License-Identifier: MIT OR GPL-2.0
//! Finding a packet's service as `ip_vs_service_find` does: the fwmark of the `rvs fwmark`
//! rules, then (protocol, VIP, port), then the VIP's port-0 service; and the runtime switches
//! (`RVS_CONFIG`).

use aya_ebpf::macros::map;
use aya_ebpf::maps::{Array, HashMap};
use rvs_common::maps::{
    CONFIG_FWMARK_RULES, CONFIG_SLOTS, FWMARK_PORT_RANGES, FWMARK_SLOTS, FwmarkRule, SVC_SLOTS,
    SvcKey, SvcVal,
};

use crate::parse;
use crate::scratch::scratch;

/// Services by (family, protocol, VIP, port).
#[map(name = "RVS_SERVICES")]
pub(crate) static SERVICES: HashMap<SvcKey, SvcVal> = HashMap::with_max_entries(SVC_SLOTS, 0);

/// Runtime switches (`CONFIG_*` indexes).
#[map(name = "RVS_CONFIG")]
pub(crate) static CONFIG: Array<u32> = Array::with_max_entries(CONFIG_SLOTS, 0);

/// `rvs fwmark` rules; `CONFIG[CONFIG_FWMARK_RULES]` of them are in use.
#[map(name = "RVS_FWMARKS")]
pub(crate) static FWMARKS: Array<FwmarkRule> = Array::with_max_entries(FWMARK_SLOTS, 0);

/// One `rvs fwmark` rule against the packet in the scratch space; `index` is the rule slot.
/// The first match sets `mark` and ends the walk.
pub(crate) extern "C" fn fwmark_probe(index: u64, _ctx: *mut core::ffi::c_void) -> i64 {
    let Some(s) = scratch() else { return 1 };
    let Some(r) = FWMARKS.get(index as u32) else {
        return 1;
    };
    // SAFETY: the scratch space's rule (`scratch`): [`fwmark`] wrote the packet's fields
    // before the walk; the walk reads them and writes `mark` alone.
    let (af, proto, dport, daddr) = unsafe { ((*s).af, (*s).proto, (*s).dport, &(*s).daddr) };
    if r.af != af || (r.proto != 0 && r.proto != proto) {
        return 0;
    }
    #[allow(
        clippy::needless_range_loop,
        reason = "three arrays walked in step, a loop the verifier bounds at a glance"
    )]
    for i in 0..16 {
        if daddr[i] & r.mask[i] != r.addr[i] {
            return 0;
        }
    }
    let n = r.nports as usize;
    let mut hit = n == 0;
    for i in 0..FWMARK_PORT_RANGES {
        if i >= n {
            break;
        }
        if dport >= r.ports[i][0] && dport <= r.ports[i][1] {
            hit = true;
            break;
        }
    }
    if hit {
        // SAFETY: as above.
        unsafe { (*s).mark = r.mark };
        return 1;
    }
    0
}

/// The mark the `rvs fwmark` rules give the packet, 0 for none.
pub(crate) fn fwmark(pkt: &parse::Packet, rules: u32) -> u32 {
    let Some(s) = scratch() else { return 0 };
    // SAFETY: the scratch space's rule (`scratch`): the walk's fields are written here before
    // it starts and read after it ends; the callback, in between, writes `mark` alone. The
    // callback follows `bpf_loop`'s contract; it takes no context.
    unsafe {
        (*s).daddr = pkt.daddr;
        (*s).af = pkt.af;
        (*s).proto = pkt.proto;
        (*s).dport = u16::from_be(pkt.dport_be);
        (*s).mark = 0;
        aya_ebpf::helpers::bpf_loop(
            rules.min(FWMARK_SLOTS),
            fwmark_probe as *mut core::ffi::c_void,
            core::ptr::null_mut(),
            0,
        );
        (*s).mark
    }
}

/// The service of a packet, in the kernel's order (`ip_vs_service_find`): the fwmark service
/// of the packet's mark, the `(protocol, VIP, port)` service, the VIP's port-0 service.
pub(crate) fn find_service(pkt: &parse::Packet) -> Option<&'static SvcVal> {
    let rules = CONFIG.get(CONFIG_FWMARK_RULES).copied().unwrap_or(0);
    let mut key = SvcKey {
        addr: [0; 16],
        port_be: 0,
        proto: 0,
        af: pkt.af,
    };
    if rules != 0 {
        let mark = fwmark(pkt, rules);
        if mark != 0 {
            let m = mark.to_be_bytes();
            key.addr[..4].copy_from_slice(&m);
            // SAFETY: read-only use of a value that user space replaces whole.
            if let Some(s) = unsafe { SERVICES.get(&key) } {
                return Some(s);
            }
        }
    }
    key.addr = pkt.daddr;
    key.proto = pkt.proto;
    key.port_be = pkt.dport_be;
    // SAFETY: as above.
    if let Some(s) = unsafe { SERVICES.get(&key) } {
        return Some(s);
    }
    key.port_be = 0;
    // SAFETY: as above.
    unsafe { SERVICES.get(&key) }
}
