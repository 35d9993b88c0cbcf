//! Closing from inside a push handler: it works or answers `Closed`, and
//! never hangs, whether or not another close runs at the same time.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::*;
use ringmq_core::{Broker, ErrorKind, SubOptions};

/// Runs `f` on a thread and fails if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("hung: did not finish in time")
}

#[test]
fn close_from_a_handler_alone_closes_the_broker() {
    within(Duration::from_secs(20), || {
        let mq = broker();
        let t = mq.create_topic("t", small(16)).unwrap();
        let slot: Arc<Mutex<Option<Broker>>> = Arc::new(Mutex::new(Some(mq.clone())));
        let result = Arc::new(Mutex::new(None));
        let (s, r) = (slot.clone(), result.clone());
        t.subscribe("closer", SubOptions::default(), move |_| {
            if let Some(mq) = s.lock().unwrap().take() {
                *r.lock().unwrap() = Some(mq.close(Duration::from_secs(5)).map(|_| ()));
            }
            Ok(())
        })
        .unwrap();
        t.publish(b"close, please").unwrap();
        while result.lock().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(result.lock().unwrap().take().unwrap().is_ok());
        assert!(mq.is_closed());
        // The outer close gets the same report, at once.
        mq.close(Duration::from_secs(5)).unwrap();
        assert_eq!(t.publish(b"x").unwrap_err().kind(), ErrorKind::Closed);
    });
}

#[test]
fn two_closes_one_in_a_handler_never_deadlock() {
    for round in 0..20 {
        within(Duration::from_secs(20), move || {
            let mq = broker();
            let t = mq.create_topic("t", small(16)).unwrap();
            let inner = Arc::new(Mutex::new(None));
            let started = Arc::new(AtomicBool::new(false));
            let holder = Arc::new(Mutex::new(Some(mq.clone())));
            let (i, st, h) = (inner.clone(), started.clone(), holder.clone());
            t.subscribe("closer", SubOptions::default(), move |_| {
                st.store(true, Ordering::SeqCst);
                // Let the outer close begin, then close from here.
                std::thread::sleep(Duration::from_micros(200 * (round % 5)));
                if let Some(mq) = h.lock().unwrap().take() {
                    let r = mq.close(Duration::from_secs(5));
                    *i.lock().unwrap() = Some(r.map(|_| ()).map_err(|e| e.kind()));
                }
                Ok(())
            })
            .unwrap();
            t.publish(b"x").unwrap();
            while !started.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            mq.close(Duration::from_secs(5)).unwrap();
            // The handler stores its answer just after its close returns.
            let r = loop {
                if let Some(r) = inner.lock().unwrap().take() {
                    break r;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            assert!(
                matches!(r, Ok(()) | Err(ErrorKind::Closed)),
                "round {round}: {r:?}"
            );
        });
    }
}
