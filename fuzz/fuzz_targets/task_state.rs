//! cargo-fuzz target `task_state`: see `echo_fuzz_logic::task_state` for what the
//! input drives and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    echo_fuzz_logic::task_state::run(data);
});
