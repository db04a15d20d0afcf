//! tokio habits on Echo: `#[echo_std::main]`, `Handle`, `JoinSet`,
//! `task_local!` and the worker thread hooks.
//!
//! `cargo run -p echo-std --example habits`

use echo_std::{Handle, Priority, task::JoinSet};

echo_std::task_local! {
    /// The request a task is serving.
    static REQUEST_ID: u64;
}

/// Serves one request: yields a few times (the task may move between
/// workers) and still sees its own id.
async fn serve() -> u64 {
    for _ in 0..3 {
        echo_std::yield_now().await;
    }
    REQUEST_ID.get()
}

#[echo_std::main(worker_count = 4)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handle = Handle::current();
    println!("running on {} workers", handle.worker_count());

    let mut set = JoinSet::new();
    for id in 0..8 {
        let priority = if id % 2 == 0 {
            Priority::High
        } else {
            Priority::Low
        };
        set.spawn(REQUEST_ID.scope(id, serve()), priority);
    }
    // Results come back in the order the requests finished.
    while let Some(done) = set.join_next().await {
        println!("request {} done", done?);
    }

    // A handle works from any thread, and keeps nothing alive.
    let from_thread = std::thread::spawn(move || handle.spawn(async { "hello" }, Priority::Normal))
        .join()
        .expect("the thread panicked");
    println!("{}", from_thread.await?);
    Ok(())
}
