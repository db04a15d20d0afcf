//! cargo-fuzz target `steal_tiers`: see `echo_tests::fuzz::steal_tiers` for what the
//! input drives and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    echo_tests::fuzz::steal_tiers::run(data);
});
