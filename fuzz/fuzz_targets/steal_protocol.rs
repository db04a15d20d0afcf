//! cargo-fuzz target `steal_protocol`: see `echo_fuzz_logic::steal_protocol` for what the
//! input drives and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    echo_fuzz_logic::steal_protocol::run(data);
});
