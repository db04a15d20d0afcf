//! cargo-fuzz target `slab_ops`: see `echo_fuzz_logic::slab_ops` for what the
//! input drives and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    echo_fuzz_logic::slab_ops::run(data);
});
