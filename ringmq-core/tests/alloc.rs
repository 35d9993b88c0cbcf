//! A counting global allocator proves that publish, poll, ack and push
//! dispatch allocate nothing per message in steady state.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringmq_core::{Broker, BrokerOptions, PublishOptions, SubOptions, TopicOptions};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Count only this thread's allocations (the test harness's own threads
/// allocate now and then); the push phase counts every thread.
static ONLY_TEST_THREAD: AtomicBool = AtomicBool::new(false);

thread_local! {
    static IS_TEST_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn counts_here() -> bool {
    COUNTING.load(Ordering::Relaxed)
        && (!ONLY_TEST_THREAD.load(Ordering::Relaxed) || IS_TEST_THREAD.with(|t| t.get()))
}

// SAFETY: defers every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counts_here() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if counts_here() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted(f: impl FnOnce()) -> u64 {
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

// One test function, so no other test allocates while we count.
#[test]
fn steady_state_allocates_nothing_per_message() {
    let mq = Broker::new(BrokerOptions {
        workers_min: 1,
        workers_max: 1,
        ..BrokerOptions::default()
    })
    .unwrap();
    let t = mq
        .create_topic(
            "t",
            TopicOptions {
                capacity: 256,
                slot_size: 64,
                ..TopicOptions::default()
            },
        )
        .unwrap();
    let s = t.subscribe_pull("pull", SubOptions::default()).unwrap();
    let payload = [7u8; 64];
    let mut batch = Vec::with_capacity(32);
    let round = |batch: &mut Vec<_>| {
        for i in 0..32 {
            if i % 2 == 0 {
                t.publish_with(&payload, 1, None).unwrap();
            } else {
                // The v2 entry point without headers, id, delay or ttl takes
                // the same path.
                let o = PublishOptions {
                    key: 1,
                    ..PublishOptions::default()
                };
                t.publish_opts(&payload, &o).unwrap();
            }
        }
        let d = s.poll(Some(Duration::from_secs(1))).unwrap().unwrap();
        d.ack().unwrap();
        let mut got = 1;
        while got < 32 {
            got += s
                .poll_batch(32, Some(Duration::from_secs(1)), batch)
                .unwrap();
            s.ack_all(batch).unwrap();
        }
    };
    // Warm up: first uses of lazily sized things.
    for _ in 0..10 {
        round(&mut batch);
    }
    IS_TEST_THREAD.with(|t| t.set(true));
    ONLY_TEST_THREAD.store(true, Ordering::SeqCst);
    let n = counted(|| {
        for _ in 0..1000 {
            round(&mut batch);
        }
    });
    assert_eq!(
        n, 0,
        "publish/poll/ack allocated {n} times for 32,000 messages"
    );
    assert_eq!(s.stats().acked, 32 * 1010);
    ONLY_TEST_THREAD.store(false, Ordering::SeqCst);

    // Push dispatch: the handler, the pool and the acks.
    let handled = Arc::new(AtomicU64::new(0));
    let h2 = handled.clone();
    let _p = t
        .subscribe("push", SubOptions::default(), move |m| {
            assert_eq!(m.data.len(), 64);
            h2.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    let wait = |target: u64| {
        let t0 = Instant::now();
        while handled.load(Ordering::Relaxed) < target {
            assert!(t0.elapsed() < Duration::from_secs(10));
            std::thread::yield_now();
        }
    };
    for _ in 0..10 {
        round(&mut batch);
    }
    wait(320);
    let n = counted(|| {
        for _ in 0..300 {
            round(&mut batch);
        }
        wait(320 + 300 * 32);
    });
    // The pool's supervisor may start or retire a thread while we count; a
    // handful of allocations is that, not per-message cost (9,600 messages).
    assert!(n <= 8, "push path allocated {n} times for 9,600 messages");
}
