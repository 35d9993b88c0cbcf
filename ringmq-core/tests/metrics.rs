//! The Prometheus text exposition: parsed back and checked against stats.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use ringmq_core::SubOptions;

/// Parses the text format strictly enough to catch malformed output:
/// every sample belongs to a family declared by HELP and TYPE lines before
/// it, label values are quoted, and values are numbers.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty());
            helped.insert(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "summary", "histogram"].contains(&kind),
                "{line}"
            );
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "family twice: {name}"
            );
        } else {
            let (series, value) = line.rsplit_once(' ').expect("sample value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let name = series.split('{').next().unwrap();
            let family = ["_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).is_some_and(|k| k == "summary"))
                })
                .unwrap_or(name);
            assert!(types.contains_key(family), "sample without TYPE: {line}");
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    let inner = labels
                        .strip_prefix('{')
                        .and_then(|l| l.strip_suffix('}'))
                        .expect("braces");
                    for pair in inner.split(',') {
                        let (k, v) = pair.split_once('=').expect("label=value");
                        assert!(
                            k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                            "{line}"
                        );
                        assert!(
                            v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                            "{line}"
                        );
                    }
                }
            }
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "duplicate series {series}"
            );
        }
    }
    samples
}

#[test]
fn metrics_text_parses_and_matches_stats() {
    let mq = broker();
    let t = mq.create_topic("orders", small(64)).unwrap();
    let s = t.subscribe_pull("audit", SubOptions::default()).unwrap();
    let p = t
        .subscribe("bill\"ing", SubOptions::default(), |m| {
            if m.data == b"bad" {
                Err("no".into())
            } else {
                Ok(())
            }
        })
        .unwrap();
    for _ in 0..10 {
        t.publish(b"ok").unwrap();
    }
    for _ in 0..3 {
        poll1(&s).ack().unwrap();
    }
    let t0 = std::time::Instant::now();
    while p.stats().acked < 10 {
        assert!(t0.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(2));
    }
    let m = parse(&mq.metrics_text());
    assert_eq!(m["ringmq_topic_published_total{topic=\"orders\"}"], 10.0);
    assert_eq!(m["ringmq_topic_capacity{topic=\"orders\"}"], 64.0);
    assert_eq!(m["ringmq_topic_published_total{topic=\"orders.dlq\"}"], 0.0);
    let audit = "topic=\"orders\",group=\"audit\"";
    assert_eq!(
        m[&format!("ringmq_subscription_acked_total{{{audit}}}")],
        3.0
    );
    assert_eq!(m[&format!("ringmq_subscription_lag{{{audit}}}")], 7.0);
    assert_eq!(
        m[&format!("ringmq_subscription_latency_seconds_count{{{audit}}}")],
        3.0
    );
    let p50 = m[&format!("ringmq_subscription_latency_seconds{{{audit},quantile=\"0.5\"}}")];
    let max = m[&format!("ringmq_subscription_latency_seconds{{{audit},quantile=\"1\"}}")];
    assert!(p50 > 0.0 && p50 <= max, "{p50} {max}");
    // The quote in the group name is escaped.
    let billing = "topic=\"orders\",group=\"bill\\\"ing\"";
    assert_eq!(
        m[&format!("ringmq_subscription_acked_total{{{billing}}}")],
        10.0
    );
    assert!(m["ringmq_pool_workers"] >= 1.0);
    assert_eq!(m["ringmq_pool_panics_total"], 0.0);
}

#[test]
fn a_metrics_source_appends_its_text_and_can_be_removed() {
    let mq = ringmq_core::Broker::new(ringmq_core::BrokerOptions::default()).unwrap();
    let source: ringmq_core::MetricsSource = std::sync::Arc::new(|out: &mut String| {
        out.push_str("# HELP ringmq_bridge_up 1 while the bridge is connected.\n");
        out.push_str("# TYPE ringmq_bridge_up gauge\nringmq_bridge_up 1\n");
    });
    mq.add_metrics_source("bridge", source.clone());
    mq.add_metrics_source("bridge", source); // replaced, not doubled
    let text = mq.metrics_text();
    assert_eq!(text.matches("ringmq_bridge_up 1\n").count(), 1);
    mq.remove_metrics_source("bridge");
    assert!(!mq.metrics_text().contains("ringmq_bridge_up"));
    mq.close(std::time::Duration::ZERO).unwrap();
}
