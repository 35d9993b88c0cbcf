//! Which round trips are slow, and where their threads ran: a ping-pong
//! through two topics (64 B, `poll_batch` + `ack`, as the bench's
//! `pingpong` case), recording for every round trip its time and the CPU
//! each of the two threads was on. Rounds alternate with a ping-pong that
//! parks at every hop (`std::sync::mpsc`), as the bench's parking peers
//! do between RingMQ's runs.
//!
//! ```text
//! cargo run --release -p ringmq-bench --example round_trip_cpus
//! ```
//!
//! Each RingMQ round prints how many round trips took over 2 us, how many
//! ran with both threads on one CPU (in how many stretches, from the first
//! such round trip to the last), how many
//! of the slow ones did, and the round's p50 and p99 in nanoseconds.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringmq_core::{Broker, BrokerOptions, SubOptions, TopicOptions};

const ROUND_TRIPS: usize = 20_000;
const SLOW_NS: u64 = 2_000;

#[cfg(target_os = "linux")]
extern "C" {
    fn sched_getcpu() -> i32;
}

/// The CPU this thread runs on; -1 where that cannot be told (and on
/// systems without `sched_getcpu`, where every round trip then counts as
/// sharing a CPU: the example is for Linux).
fn cpu() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu takes no arguments and touches no memory
        // of ours; it returns -1 where it cannot tell.
        unsafe { sched_getcpu() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        -1
    }
}

/// A ping-pong whose every hop parks (a bounded std channel).
fn parking_round(n: usize) {
    let (to_echo, echo_in) = mpsc::sync_channel::<usize>(1024);
    let (to_main, main_in) = mpsc::sync_channel::<usize>(1024);
    thread::scope(|s| {
        s.spawn(move || {
            for _ in 0..n {
                let v = echo_in.recv().expect("the main thread sends n");
                to_main.send(v).expect("the main thread receives n");
            }
        });
        for i in 0..n {
            to_echo.send(i).expect("the echo thread receives n");
            main_in.recv().expect("the echo thread sends n");
        }
    });
}

/// One RingMQ round: per round trip, its nanoseconds and the two CPUs.
fn ringmq_round(n: usize) -> (Vec<u64>, Vec<i32>, Vec<i32>) {
    let broker = Broker::new(BrokerOptions::default()).expect("a broker");
    let opts = || TopicOptions {
        capacity: 1024,
        slot_size: 64,
        ..TopicOptions::default()
    };
    let ping = broker.create_topic("ping", opts()).expect("topic ping");
    let pong = broker.create_topic("pong", opts()).expect("topic pong");
    let echo_sub = ping
        .subscribe_pull("echo", SubOptions::default())
        .expect("a subscription");
    let back_sub = pong
        .subscribe_pull("back", SubOptions::default())
        .expect("a subscription");
    let mut times = Vec::with_capacity(n);
    let mut main_cpus = Vec::with_capacity(n);
    let echo_cpus = thread::scope(|s| {
        let echo = s.spawn(|| {
            let mut got = Vec::with_capacity(1);
            let mut cpus = Vec::with_capacity(n);
            for _ in 0..n {
                echo_sub.poll_batch(1, None, &mut got).expect("a poll");
                let d = got.pop().expect("a poll without a timeout takes one");
                let mut copy = [0u8; 64];
                copy.copy_from_slice(d.data());
                d.ack().expect("an ack");
                pong.publish(&copy).expect("a publish");
                cpus.push(cpu());
            }
            cpus
        });
        let mut got = Vec::with_capacity(1);
        for i in 0..n {
            let t0 = Instant::now();
            let mut msg = [0u8; 64];
            msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
            ping.publish(&msg).expect("a publish");
            back_sub.poll_batch(1, None, &mut got).expect("a poll");
            times.push(t0.elapsed().as_nanos() as u64);
            main_cpus.push(cpu());
            got.pop()
                .expect("a poll without a timeout takes one")
                .ack()
                .expect("an ack");
        }
        echo.join().expect("the echo thread")
    });
    drop((echo_sub, back_sub));
    broker
        .close(Duration::from_secs(5))
        .expect("the broker closes");
    (times, main_cpus, echo_cpus)
}

fn main() {
    for round in 1..=4 {
        let (times, main_cpus, echo_cpus) = ringmq_round(ROUND_TRIPS);
        let shared = |i: &usize| main_cpus[*i] == echo_cpus[*i];
        let slow: Vec<usize> = (0..times.len()).filter(|&i| times[i] > SLOW_NS).collect();
        let on_one = (0..times.len()).filter(shared).count();
        let stretches = (0..times.len())
            .filter(|i| shared(i) && (*i == 0 || !shared(&(i - 1))))
            .count();
        let slow_on_one = slow.iter().filter(|i| shared(i)).count();
        let first = (0..times.len()).find(shared);
        let last = (0..times.len()).rev().find(shared);
        let span = match (first, last) {
            (Some(a), Some(b)) => format!(", round trips {a}..={b}"),
            _ => String::new(),
        };
        let mut sorted = times.clone();
        sorted.sort_unstable();
        println!(
            "round {round}: {} of {} round trips over {SLOW_NS} ns; both threads on one CPU in {on_one} ({stretches} stretches{span}), {slow_on_one} of them slow; p50 {} ns, p99 {} ns",
            slow.len(),
            times.len(),
            sorted[sorted.len() / 2],
            sorted[sorted.len() * 99 / 100],
        );
        parking_round(ROUND_TRIPS);
    }
}
