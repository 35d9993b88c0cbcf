//! A W3C trace context carried from a producer, through a handler that
//! publishes onward, to a second handler: each hop reads `traceparent` from
//! the message's headers, keeps the trace id and makes its own span id, as
//! a tracing library would.
//!
//! Run: `cargo run -p ringmq-examples --bin trace`

use std::sync::mpsc;
use std::time::Duration;

use ringmq_core::{
    Broker, BrokerOptions, HandlerError, PublishOptions, SubOptions, Topic, TopicOptions,
};

/// `00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags>`.
fn traceparent(trace_id: &str, span_id: u64) -> String {
    format!("00-{trace_id}-{span_id:016x}-01")
}

/// The trace id and the parent span id of a `traceparent` value.
fn parse(value: &[u8]) -> Result<(String, String), HandlerError> {
    let text =
        std::str::from_utf8(value).map_err(|_| HandlerError::term("traceparent is not text"))?;
    let parts: Vec<&str> = text.split('-').collect();
    match parts.as_slice() {
        ["00", trace, parent, _flags] if trace.len() == 32 && parent.len() == 16 => {
            Ok((trace.to_string(), parent.to_string()))
        }
        _ => Err(HandlerError::term(format!(
            "malformed traceparent {text:?}"
        ))),
    }
}

fn publish_traced(topic: &Topic, data: &[u8], tp: &str) -> ringmq_core::Result<u64> {
    let headers: &[(&str, &[u8])] = &[("traceparent", tp.as_bytes())];
    topic.publish_opts(
        data,
        &PublishOptions {
            headers,
            ..Default::default()
        },
    )
}

fn main() -> ringmq_core::Result<()> {
    let mq = Broker::new(BrokerOptions::default())?;
    let orders = mq.create_topic("orders", TopicOptions::default())?;
    let invoices = mq.create_topic("invoices", TopicOptions::default())?;

    // Hop 1: billing reads the context, makes its span, publishes onward.
    let onward = invoices.clone();
    let _billing = orders.subscribe("billing", SubOptions::default(), move |m| {
        let tp = m
            .headers
            .get("traceparent")
            .ok_or_else(|| HandlerError::term("no traceparent"))?;
        let (trace, parent) = parse(tp)?;
        let span = 0xb111_0000_0000_0000 | m.id;
        println!("billing  trace {trace} parent {parent} -> span {span:016x}");
        publish_traced(&onward, m.data, &traceparent(&trace, span))
            .map(|_| ())
            .map_err(|e| HandlerError::new(e.to_string()))
    })?;

    // Hop 2: the mailer sees the same trace, with billing's span as parent.
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let _mailer = invoices.subscribe("mailer", SubOptions::default(), move |m| {
        let (trace, parent) = parse(m.headers.get("traceparent").unwrap_or_default())?;
        println!("mailer   trace {trace} parent {parent}");
        let _ = tx.lock().unwrap().send((trace, parent));
        Ok(())
    })?;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let tp = traceparent(trace, 0x00f0_67aa_0ba9_02b7);
    println!("producer trace {trace} span 00f067aa0ba902b7");
    let id = publish_traced(&orders, b"order 1", &tp)?;

    let (seen_trace, seen_parent) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the mailer handles the invoice within 5 s");
    assert_eq!(
        seen_trace, trace,
        "the trace id travelled two hops untouched"
    );
    assert_eq!(
        seen_parent,
        format!("{:016x}", 0xb111_0000_0000_0000u64 | id),
        "the mailer's parent is billing's span"
    );
    println!("trace context carried producer -> billing -> mailer");
    mq.close(Duration::from_secs(2))?;
    Ok(())
}
