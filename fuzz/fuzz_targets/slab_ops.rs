//! cargo-fuzz target `slab_ops`: see `echo_tests::fuzz::slab_ops` for what the
//! input drives and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    echo_tests::fuzz::slab_ops::run(data);
});
