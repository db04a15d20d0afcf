//! Links with `link.x`, this crate's memory layout for QEMU's `virt`.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it");
    println!("cargo::rerun-if-changed=link.x");
    if std::env::var("TARGET").is_ok_and(|t| t.starts_with("riscv32")) {
        println!("cargo::rustc-link-arg-bins=-T{dir}/link.x");
    }
}
