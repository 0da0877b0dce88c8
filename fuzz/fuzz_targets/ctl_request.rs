// SPDX-License-Identifier: MIT OR Apache-2.0
//! rvsd's handling of arbitrary request bytes: decode errors are replies, decoded requests are
//! answered, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let state = rvsd::state::State::in_memory(rvs_model::Table::new(), 4096);
    if let Ok(req) = rvs_ctl::decode::<rvs_ctl::Request>(data) {
        let _ = state.handle(req, 0);
    }
});
