//! The C stats structs only ever grow at the end: the fields of each
//! released version must stay a prefix of the core's table (and so of the
//! generated struct), or programs built against the older header would
//! read the wrong counters.

#[cfg(test)]
mod tests {
    use ringmq_core::surface::StatsTable;
    use ringmq_core::{PoolStats, SubStats, TopicStats};

    use crate::stats::{POOL_STATS_FIELDS, SUB_STATS_FIELDS, TOPIC_STATS_FIELDS};

    /// The layouts of version 0.1.0.
    const RELEASED_TOPIC: &[&str] = &[
        "published",
        "rejected",
        "timed_out",
        "dropped",
        "depth",
        "capacity",
        "subscriptions",
    ];
    const RELEASED_SUB: &[&str] = &[
        "delivered",
        "acked",
        "nacked",
        "retried",
        "dead_lettered",
        "dropped",
        "expired",
        "handler_panics",
        "in_flight",
        "waiting_retry",
        "lag",
        "latency_p50_ns",
        "latency_p99_ns",
        "latency_p999_ns",
        "latency_max_ns",
        "latency_count",
        "latency_sum_ns",
    ];
    const RELEASED_POOL: &[&str] = &[
        "workers", "busy", "idle", "panics", "grown", "shrunk", "target",
    ];

    fn names<S: StatsTable>() -> Vec<&'static str> {
        S::FIELDS.iter().map(|f| f.name).collect()
    }

    #[test]
    fn released_layouts_are_a_prefix_of_the_tables() {
        for (what, released, table) in [
            ("ringmq_topic_stats", RELEASED_TOPIC, names::<TopicStats>()),
            ("ringmq_sub_stats", RELEASED_SUB, names::<SubStats>()),
            ("ringmq_pool_stats", RELEASED_POOL, names::<PoolStats>()),
        ] {
            assert!(
                table.starts_with(released),
                "{what}: the core's table reorders or removes released fields \
                 (append new fields at the end)"
            );
        }
    }

    #[test]
    fn the_generated_structs_are_current() {
        for (what, generated, table) in [
            (
                "ringmq_topic_stats",
                TOPIC_STATS_FIELDS,
                names::<TopicStats>(),
            ),
            ("ringmq_sub_stats", SUB_STATS_FIELDS, names::<SubStats>()),
            ("ringmq_pool_stats", POOL_STATS_FIELDS, names::<PoolStats>()),
        ] {
            assert_eq!(
                generated,
                &table[..],
                "ringmq-ffi/src/stats.rs ({what}) is stale: run `cargo run -p gen-surface`, \
                 then scripts/gen-header.sh"
            );
        }
    }
}
