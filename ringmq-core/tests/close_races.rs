//! Topics and subscriptions created while the broker closes: each is either
//! refused with `Closed` or shut down with the rest, and nothing is leaked
//! (a subscription that reached its topic's registry after the close emptied
//! it, or a topic added after the close listed the topics, would keep itself
//! and its topic alive for good). A counting allocator tracks the bytes
//! alive: many rounds of such races must leave none behind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ringmq_core::{Broker, BrokerOptions, ErrorKind, SubOptions, TopicOptions};

struct Live;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: defers every call to the system allocator unchanged; it only
// keeps a count of the bytes allocated and not yet freed.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

/// One broker; `threads` threads create topics and subscriptions (pull and
/// push) as fast as they can while the main thread closes the broker after
/// `after`. Every call either works or answers `Closed`.
fn round(threads: usize, after: Duration, seq: &AtomicU64) {
    let mq = Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 2,
        ..BrokerOptions::default()
    })
    .unwrap();
    let start = Arc::new(Barrier::new(threads + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let (mq, start, stop) = (mq.clone(), start.clone(), stop.clone());
            let n = seq.fetch_add(1_000_000, Ordering::Relaxed);
            std::thread::spawn(move || {
                start.wait();
                let opts = TopicOptions {
                    capacity: 16,
                    slot_size: 32,
                    ..TopicOptions::default()
                };
                for i in n.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let t = match mq.create_topic(&format!("t{i}"), opts.clone()) {
                        Ok(t) => t,
                        Err(e) if e.kind() == ErrorKind::Closed => break,
                        Err(e) => panic!("create_topic: {e}"),
                    };
                    for g in 0..3 {
                        let r = if g == 2 {
                            t.subscribe(&format!("g{g}"), SubOptions::default(), |_| Ok(()))
                                .map(drop)
                        } else {
                            t.subscribe_pull(&format!("g{g}"), SubOptions::default())
                                .map(drop)
                        };
                        match r {
                            Ok(()) => {}
                            Err(e) if e.kind() == ErrorKind::Closed => return,
                            Err(e) => panic!("subscribe: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    start.wait();
    std::thread::sleep(after);
    mq.close(Duration::ZERO).unwrap();
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn creating_while_closing_leaks_nothing() {
    let seq = AtomicU64::new(0);
    // Warm up: statics made once per process (the broker registry, the
    // barrier's mode, thread-locals of this thread) are not leaks.
    for _ in 0..3 {
        round(2, Duration::from_micros(200), &seq);
    }
    let before = LIVE.load(Ordering::SeqCst);
    for r in 0..200u64 {
        round(3, Duration::from_micros(50 + (r * 37) % 400), &seq);
    }
    let grown = LIVE.load(Ordering::SeqCst) - before;
    // A leaked topic holds its ring and slot states: tens of kilobytes.
    assert!(
        grown < 4096,
        "{grown} bytes still allocated after 200 rounds"
    );
}
