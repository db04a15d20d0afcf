//! Picks the chip from the target: `thumbv7m-none-eabi` is QEMU's
//! `mps2-an385` (Cortex-M3), `thumbv6m-none-eabi` its `microbit` (nRF51,
//! Cortex-M0). Puts that chip's `memory.x` where cortex-m-rt's `link.x`
//! finds it, and tells the code which chip it is built for.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    println!("cargo::rustc-check-cfg=cfg(chip, values(\"mps2_an385\", \"microbit\"))");
    println!("cargo::rerun-if-changed=memory");
    let chip = match target.as_str() {
        "thumbv7m-none-eabi" => "mps2_an385",
        "thumbv6m-none-eabi" => "microbit",
        // A host build (clippy on the workspace, say) has no chip.
        _ => return,
    };
    println!("cargo::rustc-cfg=chip=\"{chip}\"");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(format!("memory/{chip}.x"), out.join("memory.x")).expect("memory/<chip>.x");
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rustc-link-arg-bins=-Tlink.x");
}
