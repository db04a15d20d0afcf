//! Tells the tests whether they are built with AddressSanitizer
//! (`--cfg echo_asan`): its quarantine keeps freed memory resident on
//! purpose, so the resident-set test (`tests/burst_rss.rs`) does not apply
//! there.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(echo_asan)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.split('\x1f').any(|f| f.contains("sanitizer=address")) {
        println!("cargo::rustc-cfg=echo_asan");
    }
}
