//! The peer queues behind one small interface, and the scenarios that run on
//! any of them: 1 producer -> 1 consumer, 2 -> 1, fan-out (one queue per
//! consumer, since a channel hands each message to one receiver), ping-pong
//! and publish-to-consumer latency. The `disruptor` crate has its own
//! builder API and so its own functions.
//!
//! Where a queue has no blocking call (rtrb, ArrayQueue) the waiting side
//! uses crossbeam-utils' `Backoff` (spin, then yield), so that on a machine
//! with fewer cores than threads it does not starve the other side.

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::Backoff;
use disruptor::{BusySpin, Polling, Producer, Sequence, Sleep};

use crate::msg::{make, now_ns, seq_of, stamp, stamp_of, Checker};
use crate::{Outcome, RunResult};

pub const CAPACITY: usize = 1024;

pub trait Sender<T>: Send + Sized {
    fn send(&mut self, v: T);
    /// A second sender on the same queue, if the queue has several producers.
    fn try_clone(&self) -> Option<Self>;
}

pub trait Receiver<T>: Send {
    fn recv(&mut self) -> T;
}

/// Starts the threads of a case together and the clock before any of them
/// runs: every thread first reports ready, then the main thread reads the
/// clock and only then releases them. (Reading the clock after the release
/// would miss the work done while the main thread waits to be scheduled
/// again, which on a busy machine can be all of it.)
pub struct StartLine {
    ready: Barrier,
    go: Barrier,
}

impl StartLine {
    /// For `threads` threads besides the one that calls [`StartLine::go`].
    pub fn new(threads: usize) -> StartLine {
        StartLine {
            ready: Barrier::new(threads + 1),
            go: Barrier::new(threads + 1),
        }
    }

    /// In each worker thread: waits for the start.
    pub fn wait(&self) {
        self.ready.wait();
        self.go.wait();
    }

    /// In the timing thread: waits until all are ready, reads the clock,
    /// releases them and returns the start time.
    pub fn go(&self) -> Instant {
        self.ready.wait();
        let t0 = Instant::now();
        self.go.wait();
        t0
    }
}

/// A bounded queue of capacity [`CAPACITY`].
pub trait Queue {
    type Tx<T: Send + 'static>: Sender<T>;
    type Rx<T: Send + 'static>: Receiver<T>;
    fn pair<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>);
}

pub struct CrossbeamChannel;
pub struct StdSyncChannel;
pub struct Flume;
pub struct Rtrb;
pub struct CrossbeamArrayQueue;

impl<T: Send> Sender<T> for crossbeam_channel::Sender<T> {
    fn send(&mut self, v: T) {
        crossbeam_channel::Sender::send(self, v).expect("receiver alive");
    }
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}
impl<T: Send> Receiver<T> for crossbeam_channel::Receiver<T> {
    fn recv(&mut self) -> T {
        crossbeam_channel::Receiver::recv(self).expect("sender alive")
    }
}
impl Queue for CrossbeamChannel {
    type Tx<T: Send + 'static> = crossbeam_channel::Sender<T>;
    type Rx<T: Send + 'static> = crossbeam_channel::Receiver<T>;
    fn pair<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>) {
        crossbeam_channel::bounded(CAPACITY)
    }
}

impl<T: Send> Sender<T> for std::sync::mpsc::SyncSender<T> {
    fn send(&mut self, v: T) {
        std::sync::mpsc::SyncSender::send(self, v).expect("receiver alive");
    }
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}
impl<T: Send> Receiver<T> for std::sync::mpsc::Receiver<T> {
    fn recv(&mut self) -> T {
        std::sync::mpsc::Receiver::recv(self).expect("sender alive")
    }
}
impl Queue for StdSyncChannel {
    type Tx<T: Send + 'static> = std::sync::mpsc::SyncSender<T>;
    type Rx<T: Send + 'static> = std::sync::mpsc::Receiver<T>;
    fn pair<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>) {
        std::sync::mpsc::sync_channel(CAPACITY)
    }
}

impl<T: Send> Sender<T> for flume::Sender<T> {
    fn send(&mut self, v: T) {
        flume::Sender::send(self, v).expect("receiver alive");
    }
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}
impl<T: Send> Receiver<T> for flume::Receiver<T> {
    fn recv(&mut self) -> T {
        flume::Receiver::recv(self).expect("sender alive")
    }
}
impl Queue for Flume {
    type Tx<T: Send + 'static> = flume::Sender<T>;
    type Rx<T: Send + 'static> = flume::Receiver<T>;
    fn pair<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>) {
        flume::bounded(CAPACITY)
    }
}

impl<T: Send> Sender<T> for rtrb::Producer<T> {
    fn send(&mut self, mut v: T) {
        let backoff = Backoff::new();
        loop {
            match self.push(v) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(back)) => v = back,
            }
            backoff.snooze();
        }
    }
    fn try_clone(&self) -> Option<Self> {
        None
    }
}
impl<T: Send> Receiver<T> for rtrb::Consumer<T> {
    fn recv(&mut self) -> T {
        let backoff = Backoff::new();
        loop {
            if let Ok(v) = self.pop() {
                return v;
            }
            backoff.snooze();
        }
    }
}
impl Queue for Rtrb {
    type Tx<T: Send + 'static> = rtrb::Producer<T>;
    type Rx<T: Send + 'static> = rtrb::Consumer<T>;
    fn pair<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>) {
        rtrb::RingBuffer::new(CAPACITY)
    }
}

pub struct ArrayQueueEnd<T>(Arc<ArrayQueue<T>>);
impl<T: Send> Sender<T> for ArrayQueueEnd<T> {
    fn send(&mut self, mut v: T) {
        let backoff = Backoff::new();
        loop {
            match self.0.push(v) {
                Ok(()) => return,
                Err(back) => v = back,
            }
            backoff.snooze();
        }
    }
    fn try_clone(&self) -> Option<Self> {
        Some(ArrayQueueEnd(self.0.clone()))
    }
}
impl<T: Send> Receiver<T> for ArrayQueueEnd<T> {
    fn recv(&mut self) -> T {
        let backoff = Backoff::new();
        loop {
            if let Some(v) = self.0.pop() {
                return v;
            }
            backoff.snooze();
        }
    }
}
impl Queue for CrossbeamArrayQueue {
    type Tx<T: Send + 'static> = ArrayQueueEnd<T>;
    type Rx<T: Send + 'static> = ArrayQueueEnd<T>;
    fn pair<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>) {
        let q = Arc::new(ArrayQueue::new(CAPACITY));
        (ArrayQueueEnd(q.clone()), ArrayQueueEnd(q))
    }
}

/// `producers` threads each send `n / producers` messages to one consumer.
pub fn many_to_one<Q: Queue, const N: usize>(n: u64, producers: usize) -> RunResult {
    let per = n / producers as u64;
    let total = per * producers as u64;
    let (tx, mut rx) = Q::pair::<[u8; N]>();
    let mut txs = vec![tx];
    while txs.len() < producers {
        let more = txs[0]
            .try_clone()
            .ok_or("queue has a single producer only")?;
        txs.push(more);
    }
    let start = StartLine::new(producers + 1);
    thread::scope(|s| {
        let consumer = s.spawn(|| {
            start.wait();
            let mut chk = Checker::new();
            while chk.count < total {
                let m = rx.recv();
                chk.see(&m);
            }
            chk.verdict(total)
        });
        for (p, mut tx) in txs.into_iter().enumerate() {
            let start = &start;
            s.spawn(move || {
                start.wait();
                for i in 0..per {
                    tx.send(make::<N>(i, p as u64));
                }
            });
        }
        let t0 = start.go();
        let verdict = consumer.join().map_err(|_| "consumer panicked")?;
        let secs = t0.elapsed().as_secs_f64();
        verdict?;
        Ok(Outcome::Throughput { msgs: total, secs })
    })
}

/// One producer sends every message to each of `consumers` queues.
pub fn fan_out<Q: Queue, const N: usize>(n: u64, consumers: usize) -> RunResult {
    let mut txs = Vec::new();
    let mut rxs = Vec::new();
    for _ in 0..consumers {
        let (tx, rx) = Q::pair::<[u8; N]>();
        txs.push(tx);
        rxs.push(rx);
    }
    let start = StartLine::new(consumers + 1);
    thread::scope(|s| {
        let mut handles = Vec::new();
        for mut rx in rxs {
            let start = &start;
            handles.push(s.spawn(move || {
                start.wait();
                let mut chk = Checker::new();
                while chk.count < n {
                    let m = rx.recv();
                    chk.see(&m);
                }
                chk.verdict(n)
            }));
        }
        let start_p = &start;
        s.spawn(move || {
            start_p.wait();
            for i in 0..n {
                let m = make::<N>(i, 0);
                for tx in txs.iter_mut() {
                    tx.send(m);
                }
            }
        });
        let t0 = start.go();
        for h in handles {
            h.join().map_err(|_| "consumer panicked")??;
        }
        Ok(Outcome::Throughput {
            msgs: n,
            secs: t0.elapsed().as_secs_f64(),
        })
    })
}

/// Round trips through two queues: this thread sends, an echo thread sends
/// each message back; one sample per round trip.
pub fn ping_pong<Q: Queue, const N: usize>(n: u64) -> RunResult {
    let (mut ping_tx, mut ping_rx) = Q::pair::<[u8; N]>();
    let (mut pong_tx, mut pong_rx) = Q::pair::<[u8; N]>();
    thread::scope(|s| {
        s.spawn(move || {
            for _ in 0..n {
                let m = ping_rx.recv();
                pong_tx.send(m);
            }
        });
        let mut samples = Vec::with_capacity(n as usize);
        for i in 0..n {
            let t0 = Instant::now();
            ping_tx.send(make::<N>(i, 0));
            let back = pong_rx.recv();
            samples.push(t0.elapsed().as_nanos() as u64);
            if seq_of(&back) != i {
                return Err(format!("round trip {i} returned message {}", seq_of(&back)));
            }
        }
        Ok(Outcome::Latency { samples })
    })
}

/// Sends stamped messages at `rate` per second (or as fast as the queue
/// takes them with `None`) to a thread blocked in `recv`, which records the
/// time from send to receipt: the channel counterpart of publish-to-handler.
pub fn send_to_receiver_latency<Q: Queue>(n: u64, rate: Option<u64>) -> RunResult {
    let (mut tx, mut rx) = Q::pair::<[u8; 64]>();
    thread::scope(|s| {
        let consumer = s.spawn(move || {
            let mut samples = Vec::with_capacity(n as usize);
            let mut chk = Checker::new();
            while chk.count < n {
                let m = rx.recv();
                samples.push(now_ns().saturating_sub(stamp_of(&m)));
                chk.see(&m);
            }
            chk.verdict(n).map(|()| samples)
        });
        let t0 = Instant::now();
        for i in 0..n {
            if let Some(r) = rate {
                pace(t0, i, r);
            }
            let mut m = make::<64>(i, 0);
            stamp(&mut m);
            tx.send(m);
        }
        let samples = consumer.join().map_err(|_| "consumer panicked")??;
        Ok(Outcome::Latency { samples })
    })
}

/// Sleeps until message `i` of a steady `rate` per second is due.
pub fn pace(t0: Instant, i: u64, rate: u64) {
    let due = t0 + Duration::from_nanos(i * 1_000_000_000 / rate);
    let now = Instant::now();
    if due > now {
        thread::sleep(due - now);
    }
}

/// The `disruptor` crate's event: the message array, copied in.
pub struct Event<const N: usize>([u8; N]);

/// A disruptor handler that checks its stream and, when it has seen the
/// last of `expected` messages, leaves its checker in `out`.
fn checking_handler<const N: usize>(
    expected: u64,
    out: Arc<Mutex<Option<Checker>>>,
) -> impl FnMut(&Event<N>, Sequence, bool) + Send + 'static {
    let mut chk = Checker::new();
    move |e: &Event<N>, _seq: Sequence, _end: bool| {
        chk.see(&e.0);
        if chk.count == expected {
            *out.lock().unwrap() = Some(chk.clone());
        }
    }
}

fn disruptor_verdict(out: &[Arc<Mutex<Option<Checker>>>], expected: u64) -> Result<(), String> {
    for o in out {
        match o.lock().unwrap().as_ref() {
            Some(chk) => chk.verdict(expected)?,
            None => return Err(format!("a handler saw fewer than {expected} messages")),
        }
    }
    Ok(())
}

/// Which of the disruptor crate's wait strategies a case uses.
#[derive(Clone, Copy, Debug)]
pub enum DisruptorWait {
    BusySpin,
    /// Sleep 10 us when nothing is ready: the crate has no yielding or
    /// blocking strategy, and this is its only one that gives the core away.
    Sleep,
}

fn sleep_strategy() -> Sleep {
    Sleep::new(Duration::from_micros(10))
}

/// `disruptor` with 1 producer and `handlers` handlers each seeing every
/// event; `batch` > 1 publishes that many events per claim.
pub fn disruptor_single<const N: usize>(
    n: u64,
    handlers: usize,
    batch: usize,
    wait: DisruptorWait,
) -> RunResult {
    let n = n / batch as u64 * batch as u64;
    let outs: Vec<_> = (0..handlers).map(|_| Arc::new(Mutex::new(None))).collect();
    let factory = || Event([0u8; N]);
    let h = |i: usize| checking_handler::<N>(n, outs[i].clone());
    // The builder's type changes with each handler, hence one arm per shape.
    macro_rules! timed {
        ($builder:expr) => {{
            let mut producer = $builder.build();
            let t0 = Instant::now();
            publish_all(&mut producer, n, batch);
            drop(producer);
            t0
        }};
    }
    let t0 = match (wait, handlers) {
        (DisruptorWait::BusySpin, 1) => timed!(disruptor::build_single_producer(
            CAPACITY, factory, BusySpin
        )
        .handle_events_with(h(0))),
        (DisruptorWait::BusySpin, 2) => timed!(disruptor::build_single_producer(
            CAPACITY, factory, BusySpin
        )
        .handle_events_with(h(0))
        .handle_events_with(h(1))),
        (DisruptorWait::Sleep, 1) => {
            timed!(
                disruptor::build_single_producer(CAPACITY, factory, sleep_strategy())
                    .handle_events_with(h(0))
            )
        }
        (DisruptorWait::Sleep, 2) => {
            timed!(
                disruptor::build_single_producer(CAPACITY, factory, sleep_strategy())
                    .handle_events_with(h(0))
                    .handle_events_with(h(1))
            )
        }
        _ => return Err(format!("{handlers} disruptor handlers are not set up here")),
    };
    // Dropping the producer waited for the handlers to finish every event.
    let secs = t0.elapsed().as_secs_f64();
    disruptor_verdict(&outs, n)?;
    Ok(Outcome::Throughput { msgs: n, secs })
}

fn publish_all<const N: usize, P: Producer<Event<N>>>(producer: &mut P, n: u64, batch: usize) {
    if batch <= 1 {
        for i in 0..n {
            let m = make::<N>(i, 0);
            producer.publish(|e| e.0 = m);
        }
    } else {
        let mut i = 0;
        while i < n {
            producer.batch_publish(batch, |events| {
                for e in events {
                    e.0 = make::<N>(i, 0);
                    i += 1;
                }
            });
        }
    }
}

/// Round trips through two disruptors: this thread publishes to `ping`,
/// whose handler thread publishes each event to `pong`, which this thread
/// reads with the crate's event poller (spinning, then yielding).
pub fn disruptor_ping_pong<const N: usize>(n: u64) -> RunResult {
    let (mut pong_poller, pong_builder) =
        disruptor::build_single_producer(CAPACITY, || Event([0u8; N]), BusySpin).new_event_poller();
    let mut pong_tx = pong_builder.build();
    let mut ping_tx = disruptor::build_single_producer(CAPACITY, || Event([0u8; N]), BusySpin)
        .handle_events_with(move |e: &Event<N>, _seq: Sequence, _end: bool| {
            let m = e.0;
            pong_tx.publish(|out| out.0 = m);
        })
        .build();
    let mut samples = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t0 = Instant::now();
        ping_tx.publish(|e| e.0 = make::<N>(i, 0));
        let backoff = Backoff::new();
        let back = loop {
            match pong_poller.poll() {
                Ok(mut guard) => {
                    let mut last = None;
                    for e in &mut guard {
                        last = Some(seq_of(&e.0));
                    }
                    break last;
                }
                Err(Polling::NoEvents) => backoff.snooze(),
                Err(Polling::Shutdown) => return Err("pong disruptor shut down".into()),
            }
        };
        samples.push(t0.elapsed().as_nanos() as u64);
        if back != Some(i) {
            return Err(format!("round trip {i} returned message {back:?}"));
        }
    }
    // Joins the echo handler, which drops the pong producer.
    drop(ping_tx);
    Ok(Outcome::Latency { samples })
}

/// `disruptor` with 2 producers (multi-producer sequencer) and 1 handler.
pub fn disruptor_multi<const N: usize>(n: u64, producers: usize) -> RunResult {
    let per = n / producers as u64;
    let total = per * producers as u64;
    let out = Arc::new(Mutex::new(None));
    let mut producer = disruptor::build_multi_producer(CAPACITY, || Event([0u8; N]), BusySpin)
        .handle_events_with(checking_handler::<N>(total, out.clone()))
        .build();
    let start = StartLine::new(producers - 1);
    let t0 = thread::scope(|s| {
        for p in 1..producers {
            let mut mine = producer.clone();
            let start = &start;
            s.spawn(move || {
                start.wait();
                for i in 0..per {
                    let m = make::<N>(i, p as u64);
                    mine.publish(|e| e.0 = m);
                }
            });
        }
        let t0 = start.go();
        for i in 0..per {
            let m = make::<N>(i, 0);
            producer.publish(|e| e.0 = m);
        }
        t0
    });
    drop(producer);
    let secs = t0.elapsed().as_secs_f64();
    disruptor_verdict(&[out], total)?;
    Ok(Outcome::Throughput { msgs: total, secs })
}

/// rtrb's chunk API: the producer writes `batch` slots per commit, the
/// consumer reads whatever is there in one chunk.
pub fn rtrb_batch<const N: usize>(n: u64, batch: usize) -> RunResult {
    let n = n / batch as u64 * batch as u64;
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; N]>::new(CAPACITY);
    let start = StartLine::new(2);
    thread::scope(|s| {
        let consumer = s.spawn(|| {
            start.wait();
            let mut chk = Checker::new();
            let backoff = Backoff::new();
            while chk.count < n {
                let ready = rx.slots();
                if ready == 0 {
                    backoff.snooze();
                    continue;
                }
                backoff.reset();
                let chunk = rx.read_chunk(ready).expect("slots are ready");
                let (a, b) = chunk.as_slices();
                for m in a.iter().chain(b) {
                    chk.see(m);
                }
                chunk.commit_all();
            }
            chk.verdict(n)
        });
        s.spawn(|| {
            start.wait();
            let backoff = Backoff::new();
            let mut i = 0;
            while i < n {
                if tx.slots() < batch {
                    backoff.snooze();
                    continue;
                }
                backoff.reset();
                let chunk = tx.write_chunk_uninit(batch).expect("slots are free");
                let first = i;
                chunk.fill_from_iter((first..first + batch as u64).map(|k| make::<N>(k, 0)));
                i += batch as u64;
            }
        });
        let t0 = start.go();
        consumer.join().map_err(|_| "consumer panicked")??;
        Ok(Outcome::Throughput {
            msgs: n,
            secs: t0.elapsed().as_secs_f64(),
        })
    })
}

/// Counts handled messages across threads (for latency recording).
pub struct Samples {
    pub lat: Vec<AtomicU64>,
}

impl Samples {
    pub fn new(n: u64) -> Samples {
        Samples {
            lat: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    pub fn record(&self, i: u64, ns: u64) {
        if let Some(slot) = self.lat.get(i as usize) {
            slot.store(ns, Relaxed);
        }
    }
    pub fn take(&self) -> Vec<u64> {
        self.lat.iter().map(|a| a.load(Relaxed)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// crossbeam-channel with a fault injected at the 100th send: swapped
    /// with the 101st (`SWAP`), or lost.
    struct Faulty<const SWAP: bool>;

    struct FaultyTx<T, const SWAP: bool> {
        inner: crossbeam_channel::Sender<T>,
        sent: u64,
        held: Option<T>,
    }

    impl<T: Send, const SWAP: bool> Sender<T> for FaultyTx<T, SWAP> {
        fn send(&mut self, v: T) {
            self.sent += 1;
            match self.sent {
                100 if SWAP => self.held = Some(v),
                100 => {}
                101 if SWAP => {
                    self.inner.send(v).unwrap();
                    self.inner.send(self.held.take().unwrap()).unwrap();
                }
                _ => self.inner.send(v).unwrap(),
            }
        }
        fn try_clone(&self) -> Option<Self> {
            None
        }
    }

    impl<const SWAP: bool> Queue for Faulty<SWAP> {
        type Tx<T: Send + 'static> = FaultyTx<T, SWAP>;
        type Rx<T: Send + 'static> = crossbeam_channel::Receiver<T>;
        fn pair<T: Send + 'static>() -> (Self::Tx<T>, Self::Rx<T>) {
            let (inner, rx) = crossbeam_channel::bounded(CAPACITY);
            let tx = FaultyTx {
                inner,
                sent: 0,
                held: None,
            };
            (tx, rx)
        }
    }

    #[test]
    fn a_queue_that_reorders_or_loses_a_message_fails_the_case() {
        let swapped = many_to_one::<Faulty<true>, 64>(1_000, 1);
        let e = swapped.err().expect("a reordered pair must fail the case");
        assert!(e.contains("out of order"), "{e}");
        assert!(fan_out::<Faulty<true>, 64>(1_000, 2).is_err());
        // The lost message leaves the consumer waiting until the producer
        // hangs up, which ends the case as a failure instead of a figure.
        assert!(many_to_one::<Faulty<false>, 64>(1_000, 1).is_err());
        assert!(many_to_one::<CrossbeamChannel, 64>(1_000, 1).is_ok());
    }
}
