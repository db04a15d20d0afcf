//! cargo-fuzz target `steal_tiers`: see `echo_fuzz_logic::steal_tiers` for what the
//! input drives and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    echo_fuzz_logic::steal_tiers::run(data);
});
