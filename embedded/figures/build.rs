//! Puts the memory map of the board being built for on the link path as
//! `memory.x` (and cortex-m-rt's `device.x`).

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let memory = if target.starts_with("riscv32") {
        "virt.x"
    } else if env::var_os("CARGO_FEATURE_BOARD_LM3S").is_some() {
        "lm3s6965evb.x"
    } else {
        "mps2-an385.x"
    };
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("link");
    fs::copy(dir.join(memory), out.join("memory.x")).expect("copy memory.x");
    fs::copy(dir.join("device.x"), out.join("device.x")).expect("copy device.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=link");
    println!("cargo:rerun-if-changed=build.rs");
}
