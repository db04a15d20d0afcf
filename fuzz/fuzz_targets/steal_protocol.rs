//! cargo-fuzz target `steal_protocol`: see `echo_tests::fuzz::steal_protocol` for what the
//! input drives and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    echo_tests::fuzz::steal_protocol::run(data);
});
