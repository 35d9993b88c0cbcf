//! RingMQ's cases: the raw ring through pull subscriptions (poll_batch and
//! one `ack_all` per batch), with single or batch publishes, and the full
//! push path (a handler on the broker's pool, one ack per message).

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ringmq_core::{Broker, BrokerOptions, HandlerError, SubOptions, Topic, TopicOptions};

use crate::msg::{make, now_ns, producer_of, seq_of, stamp, stamp_of, Checker, MAX_PRODUCERS};
use crate::peers::{pace, Samples, StartLine, CAPACITY};
use crate::{Outcome, RunResult};

/// Most deliveries one `poll_batch` takes.
pub const POLL_MAX: usize = 256;
/// A consumer that gets nothing for this long fails its case (a lost
/// message would otherwise leave it waiting for ever).
pub(crate) const STALL: Duration = Duration::from_secs(10);
/// Messages per `publish_batch` in the batch scenario.
pub const BATCH: usize = 64;

/// The bytes of ring memory one message of `payload` bytes occupies: its
/// slot's 32-byte header and its body, the payload rounded up to whole
/// cache lines (checked against the topic's own `ring_bytes` by a test).
/// The `disruptor-slot-sized` case carries events of this size, so that the
/// disruptor moves as many bytes a message as RingMQ does.
pub const fn slot_bytes(payload: usize) -> usize {
    32 + payload.next_multiple_of(64)
}

pub(crate) fn err(e: ringmq_core::Error) -> String {
    format!("ringmq: {e:?}")
}

fn broker_and_topic(slot_size: usize) -> Result<(Broker, Topic), String> {
    let broker = Broker::new(BrokerOptions::default()).map_err(err)?;
    let topic = broker
        .create_topic(
            "bench",
            TopicOptions {
                capacity: CAPACITY,
                slot_size,
                ..TopicOptions::default()
            },
        )
        .map_err(err)?;
    Ok((broker, topic))
}

pub(crate) fn close(broker: Broker) -> Result<(), String> {
    let report = broker.close(Duration::from_secs(5)).map_err(err)?;
    if report.undelivered != 0 {
        return Err(format!("close left {} undelivered", report.undelivered));
    }
    Ok(())
}

/// How a pull consumer takes its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// `poll_batch(256)` and one `ack_all` per batch (`ringmq-raw`).
    PollBatch,
    /// `consume(256, handler)`: the handler runs in place, acks settle
    /// together (`ringmq-consume`).
    Consume,
    /// `poll` and `ack` per message, the simplest API (`ringmq-poll`).
    PollAck,
}

/// `producers` threads publish `n / producers` messages each (one by one, or
/// `BATCH` per `publish_batch` when `batch`); `subs` pull subscriptions,
/// each polled by its own thread, must each see every message.
pub fn raw<const N: usize>(n: u64, producers: usize, subs: usize, batch: bool) -> RunResult {
    pull::<N>(n, producers, subs, batch, Take::PollBatch)
}

/// As [`raw`], the consumers taking messages as `take` says.
pub fn pull<const N: usize>(
    n: u64,
    producers: usize,
    subs: usize,
    batch: bool,
    take: Take,
) -> RunResult {
    let per = if batch {
        n / (producers * BATCH) as u64 * BATCH as u64
    } else {
        n / producers as u64
    };
    let total = per * producers as u64;
    let (broker, topic) = broker_and_topic(N)?;
    let pulls = (0..subs)
        .map(|i| topic.subscribe_pull(&format!("pull{i}"), SubOptions::default()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let start = StartLine::new(producers + subs);
    let secs = thread::scope(|s| -> Result<f64, String> {
        let mut consumers = Vec::new();
        for sub in &pulls {
            let start = &start;
            consumers.push(s.spawn(move || -> Result<(), String> {
                start.wait();
                let mut chk = Checker::new();
                let mut got = Vec::with_capacity(POLL_MAX);
                while chk.count < total {
                    let n = match take {
                        Take::PollBatch => {
                            let n = sub
                                .poll_batch(POLL_MAX, Some(STALL), &mut got)
                                .map_err(err)?;
                            for d in &got {
                                chk.see(d.data());
                            }
                            sub.ack_all(&mut got).map_err(err)?;
                            n
                        }
                        Take::Consume => sub
                            .consume(POLL_MAX, Some(STALL), |m| {
                                chk.see(m.data);
                                Ok(())
                            })
                            .map_err(err)?,
                        Take::PollAck => match sub.poll(Some(STALL)).map_err(err)? {
                            Some(d) => {
                                chk.see(d.data());
                                d.ack().map_err(err)?;
                                1
                            }
                            None => 0,
                        },
                    };
                    if n == 0 {
                        return Err(format!(
                            "consumer got nothing for {STALL:?} after {} of {total} messages",
                            chk.count
                        ));
                    }
                }
                chk.verdict(total)
            }));
        }
        let mut pubs = Vec::new();
        for p in 0..producers {
            let (start, topic) = (&start, &topic);
            pubs.push(s.spawn(move || -> Result<(), String> {
                start.wait();
                if batch {
                    let mut items = [[0u8; N]; BATCH];
                    let mut i = 0;
                    while i < per {
                        for (k, item) in items.iter_mut().enumerate() {
                            *item = make::<N>(i + k as u64, p as u64);
                        }
                        topic.publish_batch(&items, 0, None).map_err(err)?;
                        i += BATCH as u64;
                    }
                } else {
                    for i in 0..per {
                        topic.publish(&make::<N>(i, p as u64)).map_err(err)?;
                    }
                }
                Ok(())
            }));
        }
        let t0 = start.go();
        for c in consumers {
            c.join().map_err(|_| "consumer panicked")??;
        }
        let secs = t0.elapsed().as_secs_f64();
        for p in pubs {
            p.join().map_err(|_| "producer panicked")??;
        }
        Ok(secs)
    })?;
    drop(pulls);
    close(broker)?;
    Ok(Outcome::Throughput { msgs: total, secs })
}

/// A push subscription's checks, shared with its handler. Handlers of one
/// subscription (concurrency 1) never overlap, so plain loads and stores
/// keep the order check exact.
#[derive(Default)]
struct PushCheck {
    next: [AtomicU64; MAX_PRODUCERS],
    count: AtomicU64,
    bad: AtomicU64,
}

impl PushCheck {
    fn see(&self, b: &[u8]) {
        let p = (producer_of(b) as usize).min(MAX_PRODUCERS - 1);
        let s = seq_of(b);
        if self.next[p].load(Relaxed) != s {
            self.bad.fetch_add(1, Relaxed);
        }
        self.next[p].store(s + 1, Relaxed);
        self.count.fetch_add(1, Release);
    }

    fn verdict(&self, expected: u64) -> Result<(), String> {
        let (count, bad) = (self.count.load(Acquire), self.bad.load(Relaxed));
        if count != expected {
            return Err(format!("handler ran {count} times, expected {expected}"));
        }
        if bad != 0 {
            return Err(format!("handler saw {bad} messages out of order"));
        }
        Ok(())
    }
}

/// Waits (sleeping, so as not to take a core from the pool) until `done`
/// says all `expected` messages were handled, or fails when the handled
/// count has not moved for [`STALL`].
fn wait_for(expected: u64, mut handled: impl FnMut() -> u64) -> Result<(), String> {
    let mut last = (handled(), Instant::now());
    loop {
        let now = handled();
        if now >= expected {
            return Ok(());
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > STALL {
            return Err(format!(
                "handlers stalled for {STALL:?} at {now} of {expected} messages"
            ));
        }
        thread::sleep(Duration::from_micros(50));
    }
}

/// `producers` threads publish; `subs` push subscriptions each handle every
/// message on the pool.
pub fn push<const N: usize>(n: u64, producers: usize, subs: usize) -> RunResult {
    let per = n / producers as u64;
    let total = per * producers as u64;
    let (broker, topic) = broker_and_topic(N)?;
    let checks: Vec<Arc<PushCheck>> = (0..subs).map(|_| Arc::default()).collect();
    let mut handles = Vec::new();
    for (i, c) in checks.iter().enumerate() {
        let c = c.clone();
        handles.push(
            topic
                .subscribe(&format!("push{i}"), SubOptions::default(), move |m| {
                    c.see(m.data);
                    Ok::<(), HandlerError>(())
                })
                .map_err(err)?,
        );
    }
    let start = StartLine::new(producers);
    let secs = thread::scope(|s| -> Result<f64, String> {
        let mut pubs = Vec::new();
        for p in 0..producers {
            let (start, topic) = (&start, &topic);
            pubs.push(s.spawn(move || -> Result<(), String> {
                start.wait();
                for i in 0..per {
                    topic.publish(&make::<N>(i, p as u64)).map_err(err)?;
                }
                Ok(())
            }));
        }
        let t0 = start.go();
        for p in pubs {
            p.join().map_err(|_| "producer panicked")??;
        }
        wait_for(total, || {
            checks
                .iter()
                .map(|c| c.count.load(Acquire))
                .min()
                .unwrap_or(0)
        })?;
        Ok(t0.elapsed().as_secs_f64())
    })?;
    for c in &checks {
        c.verdict(total)?;
    }
    drop(handles);
    close(broker)?;
    Ok(Outcome::Throughput { msgs: total, secs })
}

/// Round trips through two topics: publish to `ping`; an echo thread polls
/// it, publishes the payload to `pong`, which this thread polls, and then
/// acks it.
pub fn ping_pong<const N: usize>(n: u64) -> RunResult {
    let (broker, ping) = broker_and_topic(N)?;
    let pong = broker
        .create_topic(
            "pong",
            TopicOptions {
                capacity: CAPACITY,
                slot_size: N,
                ..TopicOptions::default()
            },
        )
        .map_err(err)?;
    let ping_sub = ping
        .subscribe_pull("echo", SubOptions::default())
        .map_err(err)?;
    let pong_sub = pong
        .subscribe_pull("back", SubOptions::default())
        .map_err(err)?;
    let samples = thread::scope(|s| -> Result<Vec<u64>, String> {
        let echo = s.spawn(|| -> Result<(), String> {
            let mut got = Vec::with_capacity(1);
            for _ in 0..n {
                ping_sub.poll_batch(1, None, &mut got).map_err(err)?;
                let d = got
                    .pop()
                    .ok_or("poll_batch without a timeout returned nothing")?;
                // The reply first, then the ack: at-least-once work acks
                // when its effects are done, as the disruptor's echo
                // handler's sequence moves on only after its publish.
                pong.publish(d.data()).map_err(err)?;
                d.ack().map_err(err)?;
            }
            Ok(())
        });
        let mut samples = Vec::with_capacity(n as usize);
        let mut got = Vec::with_capacity(1);
        for i in 0..n {
            let t0 = Instant::now();
            ping.publish(&make::<N>(i, 0)).map_err(err)?;
            pong_sub.poll_batch(1, None, &mut got).map_err(err)?;
            samples.push(t0.elapsed().as_nanos() as u64);
            let d = got
                .pop()
                .ok_or("poll_batch without a timeout returned nothing")?;
            if seq_of(d.data()) != i {
                return Err(format!(
                    "round trip {i} returned message {}",
                    seq_of(d.data())
                ));
            }
            d.ack().map_err(err)?;
        }
        echo.join().map_err(|_| "echo thread panicked")??;
        Ok(samples)
    })?;
    drop((ping_sub, pong_sub));
    close(broker)?;
    Ok(Outcome::Latency { samples })
}

/// Publish-to-handler latency: stamped 64 B messages at `rate` per second
/// (`None`: as fast as publish returns, so the ring is full and the figure
/// includes queueing), the handler recording now minus stamp.
pub fn push_latency(n: u64, rate: Option<u64>) -> RunResult {
    let (broker, topic) = broker_and_topic(64)?;
    let samples = Arc::new(Samples::new(n));
    let check = Arc::new(PushCheck::default());
    let (s2, c2) = (samples.clone(), check.clone());
    let sub = topic
        .subscribe("latency", SubOptions::default(), move |m| {
            s2.record(seq_of(m.data), now_ns().saturating_sub(stamp_of(m.data)));
            c2.see(m.data);
            Ok::<(), HandlerError>(())
        })
        .map_err(err)?;
    let t0 = Instant::now();
    for i in 0..n {
        if let Some(r) = rate {
            pace(t0, i, r);
        }
        let mut m = make::<64>(i, 0);
        stamp(&mut m);
        topic.publish(&m).map_err(err)?;
    }
    wait_for(n, || check.count.load(Acquire))?;
    check.verdict(n)?;
    drop(sub);
    close(broker)?;
    Ok(Outcome::Latency {
        samples: samples.take(),
    })
}
