//! The timeline recorder's track (`internals::Track`): one writer appends
//! while a reader copies. The reader must see a prefix of what was pushed,
//! each value whole; loom's cell tracker reports a read of a slot that was
//! not published (it fails with the publishing store made relaxed). The
//! reader runs on a thread of its own: loom explores no schedule in which
//! a spawned writer runs before the model's main thread reads.

use echo_sched_core::internals::Track;
use loom::sync::Arc;
use loom::thread;

#[test]
fn a_reader_copies_while_the_writer_appends() {
    crate::model("track::reader_and_writer", || {
        let track = Arc::new(Track::<(u32, u32)>::new(2));
        let writer = {
            let track = track.clone();
            thread::spawn(move || {
                for i in 0..3u32 {
                    // SAFETY: this thread is the track's only writer.
                    unsafe { track.push((i, i * 10)) };
                }
            })
        };
        let reader = {
            let track = track.clone();
            thread::spawn(move || track.snapshot())
        };
        let seen = reader.join().unwrap();
        assert!(seen.len() <= 2);
        for (i, &(a, b)) in seen.iter().enumerate() {
            assert_eq!((a, b), (i as u32, i as u32 * 10), "a torn or stale slot");
        }
        writer.join().unwrap();
        assert_eq!(track.snapshot(), [(0, 0), (1, 10)]);
        assert_eq!(track.dropped(), 1, "the third push found the track full");
    });
}
