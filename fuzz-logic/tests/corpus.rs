//! Replays the checked-in cargo-fuzz corpora (`fuzz/corpus/<target>/`)
//! through the targets' logic on stable, so `cargo test --workspace` keeps
//! every input the fuzzers found interesting, crash regressions included,
//! passing.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus for {target}");
    for file in &files {
        let data = std::fs::read(file).expect("a readable corpus file");
        let result = std::panic::catch_unwind(|| run(&data));
        if let Err(e) = result {
            eprintln!("{target}: {} failed", file.display());
            std::panic::resume_unwind(e);
        }
    }
    eprintln!("{target}: replayed {} inputs", files.len());
}

#[test]
fn steal_protocol_corpus() {
    replay("steal_protocol", echo_fuzz_logic::steal_protocol::run);
}

#[test]
fn steal_tiers_corpus() {
    replay("steal_tiers", echo_fuzz_logic::steal_tiers::run);
}

#[test]
fn task_state_corpus() {
    replay("task_state", echo_fuzz_logic::task_state::run);
}

#[test]
fn slab_ops_corpus() {
    replay("slab_ops", echo_fuzz_logic::slab_ops::run);
}

#[test]
fn scheduler_ops_corpus() {
    replay("scheduler_ops", echo_fuzz_logic::scheduler_ops::run);
}
