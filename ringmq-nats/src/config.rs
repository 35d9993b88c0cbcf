//! The bridge's configuration: what to export and import, where NATS is,
//! and how to reconnect; read from JSON or TOML and checked before anything
//! starts.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::BridgeError;

/// Default first reconnect delay.
pub const DEFAULT_RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Default longest reconnect delay.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Default `ExportConfig::max_in_flight`.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
/// Default `ImportConfig::batch`.
pub const DEFAULT_BATCH: usize = 64;

/// Everything one bridge does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Names this bridge: it prefixes the `Nats-Msg-Id` of every exported
    /// message, so two bridges with the same id de-duplicate each other's
    /// replays. No whitespace.
    pub id: String,
    /// NATS server URLs (`nats://host:port` or `host:port`), at least one.
    pub servers: Vec<String>,
    /// RingMQ topics copied into JetStream.
    pub exports: Vec<ExportConfig>,
    /// JetStream streams copied into RingMQ topics.
    pub imports: Vec<ImportConfig>,
    /// First delay before reconnecting (and before republishing after a
    /// transient failure); doubles per attempt.
    pub reconnect_min: Duration,
    /// Longest such delay.
    pub reconnect_max: Duration,
}

/// One RingMQ topic exported to a NATS subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// The RingMQ topic (it must exist when the bridge starts).
    pub topic: String,
    /// The RingMQ pull subscription (consumer group) the bridge reads with;
    /// created if missing, resumed if it exists.
    pub group: String,
    /// The subject messages are published to (no wildcards).
    pub subject: String,
    /// A stream created, if missing, capturing `subject`. None: a stream
    /// must already capture it (else messages are dead-lettered).
    pub stream: Option<String>,
    /// Most messages published and not yet acknowledged by JetStream.
    pub max_in_flight: usize,
}

/// One JetStream stream imported into a RingMQ topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportConfig {
    /// The JetStream stream read (it must exist).
    pub stream: String,
    /// The durable JetStream pull consumer's name: created if missing
    /// (explicit acks, `max_deliver` the topic's `max_attempts`, `ack_wait`
    /// twice its `ack_timeout`, at least 1 s); an existing one is updated to
    /// those, and refused if its ack policy or filter differs.
    pub consumer: String,
    /// Only messages of this subject (wildcards allowed).
    pub filter_subject: Option<String>,
    /// The RingMQ topic published into.
    pub topic: String,
    /// The RingMQ pull subscription (consumer group) of `topic` whose
    /// settles map back to JetStream: created if missing, before importing,
    /// so that imported messages are kept for it; its retries are handed to
    /// JetStream.
    pub group: String,
    /// Most messages fetched from JetStream at once (fewer when the ring
    /// has less free room).
    pub batch: usize,
}

/// A duration in a file: milliseconds as a number, or a string with a
/// unit (`"250ms"`, `"2s"`, `"1m"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Millis(u64),
    Text(String),
}

impl RawDuration {
    fn parse(&self, field: &str) -> Result<Duration, BridgeError> {
        match self {
            RawDuration::Millis(ms) => Ok(Duration::from_millis(*ms)),
            RawDuration::Text(s) => parse_duration(s).ok_or_else(|| {
                BridgeError::Config(format!(
                    "{field} {s:?} is not a duration (a number of milliseconds, or a number with ms, s or m)"
                ))
            }),
        }
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mul_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else {
        (s, 1)
    };
    let n: u64 = num.trim().parse().ok()?;
    n.checked_mul(mul_ms).map(Duration::from_millis)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBridge {
    id: String,
    servers: Vec<String>,
    #[serde(default)]
    exports: Vec<RawExport>,
    #[serde(default)]
    imports: Vec<RawImport>,
    reconnect_min: Option<RawDuration>,
    reconnect_max: Option<RawDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExport {
    topic: String,
    group: String,
    subject: String,
    stream: Option<String>,
    max_in_flight: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImport {
    stream: String,
    consumer: String,
    filter_subject: Option<String>,
    topic: String,
    group: String,
    batch: Option<usize>,
}

impl RawBridge {
    fn into_config(self) -> Result<BridgeConfig, BridgeError> {
        let config = BridgeConfig {
            id: self.id,
            servers: self.servers,
            exports: self
                .exports
                .into_iter()
                .map(|e| ExportConfig {
                    topic: e.topic,
                    group: e.group,
                    subject: e.subject,
                    stream: e.stream,
                    max_in_flight: e.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
                })
                .collect(),
            imports: self
                .imports
                .into_iter()
                .map(|i| ImportConfig {
                    stream: i.stream,
                    consumer: i.consumer,
                    filter_subject: i.filter_subject,
                    topic: i.topic,
                    group: i.group,
                    batch: i.batch.unwrap_or(DEFAULT_BATCH),
                })
                .collect(),
            reconnect_min: match &self.reconnect_min {
                Some(d) => d.parse("reconnect_min")?,
                None => DEFAULT_RECONNECT_MIN,
            },
            reconnect_max: match &self.reconnect_max {
                Some(d) => d.parse("reconnect_max")?,
                None => DEFAULT_RECONNECT_MAX,
            },
        };
        config.validate()?;
        Ok(config)
    }
}

impl BridgeConfig {
    /// A configuration with the given id and servers, nothing to export or
    /// import, and the default reconnect delays.
    pub fn new(id: impl Into<String>, servers: Vec<String>) -> BridgeConfig {
        BridgeConfig {
            id: id.into(),
            servers,
            exports: Vec::new(),
            imports: Vec::new(),
            reconnect_min: DEFAULT_RECONNECT_MIN,
            reconnect_max: DEFAULT_RECONNECT_MAX,
        }
    }

    /// Parses and checks a JSON configuration. Durations are milliseconds
    /// or strings such as `"250ms"`; `max_in_flight` and `batch` may be left
    /// out (defaults 256 and 64).
    pub fn from_json(text: &str) -> Result<BridgeConfig, BridgeError> {
        let raw: RawBridge = serde_json::from_str(text)
            .map_err(|e| BridgeError::Config(format!("bad JSON configuration: {e}")))?;
        raw.into_config()
    }

    /// Parses and checks a TOML configuration (the same fields as JSON;
    /// exports and imports as `[[exports]]` and `[[imports]]` tables).
    pub fn from_toml(text: &str) -> Result<BridgeConfig, BridgeError> {
        let raw: RawBridge = toml::from_str(text)
            .map_err(|e| BridgeError::Config(format!("bad TOML configuration: {e}")))?;
        raw.into_config()
    }

    /// Reads a file: `.json` as JSON, `.toml` as TOML.
    pub fn load(path: impl AsRef<Path>) -> Result<BridgeConfig, BridgeError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| BridgeError::Config(format!("cannot read {}: {e}", path.display())))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json(&text),
            Some("toml") => Self::from_toml(&text),
            _ => Err(BridgeError::Config(format!(
                "{}: unknown configuration format (the name must end in .json or .toml)",
                path.display()
            ))),
        }
    }

    /// Checks every field; the first problem is the error.
    pub fn validate(&self) -> Result<(), BridgeError> {
        let bad = |m: String| Err(BridgeError::Config(m));
        if self.id.is_empty() {
            return bad("id is empty".into());
        }
        if self.id.chars().any(|c| c.is_whitespace() || c.is_control()) || self.id.len() > 64 {
            return bad(format!(
                "id {:?} must be at most 64 characters without whitespace",
                self.id
            ));
        }
        if self.servers.is_empty() {
            return bad("servers is empty: give at least one NATS URL".into());
        }
        for s in &self.servers {
            if s.parse::<async_nats::ServerAddr>().is_err() {
                return bad(format!("server {s:?} is not a NATS URL"));
            }
        }
        if self.reconnect_min.is_zero() {
            return bad("reconnect_min is zero".into());
        }
        if self.reconnect_max < self.reconnect_min {
            return bad(format!(
                "reconnect_max {:?} is shorter than reconnect_min {:?}",
                self.reconnect_max, self.reconnect_min
            ));
        }
        if self.exports.is_empty() && self.imports.is_empty() {
            return bad("nothing to do: no exports and no imports".into());
        }
        for (i, e) in self.exports.iter().enumerate() {
            let at = format!("exports[{i}]");
            check_name(&at, "topic", &e.topic)?;
            check_name(&at, "group", &e.group)?;
            check_subject(&at, "subject", &e.subject, false)?;
            if let Some(s) = &e.stream {
                check_stream(&at, "stream", s)?;
            }
            if e.max_in_flight == 0 {
                return bad(format!("{at}: max_in_flight is 0 (at least 1)"));
            }
            if e.max_in_flight > 65_536 {
                return bad(format!(
                    "{at}: max_in_flight {} is over the limit of 65536",
                    e.max_in_flight
                ));
            }
            if self.exports[..i]
                .iter()
                .any(|o| o.topic == e.topic && o.group == e.group)
            {
                return bad(format!(
                    "{at}: topic {:?} group {:?} is exported twice",
                    e.topic, e.group
                ));
            }
        }
        for (i, m) in self.imports.iter().enumerate() {
            let at = format!("imports[{i}]");
            check_stream(&at, "stream", &m.stream)?;
            check_stream(&at, "consumer", &m.consumer)?;
            if let Some(f) = &m.filter_subject {
                check_subject(&at, "filter_subject", f, true)?;
            }
            check_name(&at, "topic", &m.topic)?;
            check_name(&at, "group", &m.group)?;
            if m.batch == 0 {
                return bad(format!("{at}: batch is 0 (at least 1)"));
            }
        }
        Ok(())
    }
}

/// A RingMQ topic or group name.
fn check_name(at: &str, field: &str, v: &str) -> Result<(), BridgeError> {
    if v.is_empty() {
        return Err(BridgeError::Config(format!("{at}: {field} is empty")));
    }
    if v.len() > ringmq_core::MAX_NAME_LEN {
        return Err(BridgeError::Config(format!(
            "{at}: {field} is longer than {} bytes",
            ringmq_core::MAX_NAME_LEN
        )));
    }
    Ok(())
}

/// A JetStream stream or consumer name.
fn check_stream(at: &str, field: &str, v: &str) -> Result<(), BridgeError> {
    if v.is_empty() {
        return Err(BridgeError::Config(format!("{at}: {field} is empty")));
    }
    if v.len() > 255
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c))
    {
        return Err(BridgeError::Config(format!(
            "{at}: {field} {v:?} is not a JetStream name (no whitespace, '.', '*', '>', '/' or '\\')"
        )));
    }
    Ok(())
}

/// A NATS subject: dot-separated non-empty tokens without whitespace;
/// wildcards (`*` as a token, `>` as the last token) only if allowed.
fn check_subject(at: &str, field: &str, v: &str, wildcards: bool) -> Result<(), BridgeError> {
    let bad = |why: &str| {
        Err(BridgeError::Config(format!(
            "{at}: {field} {v:?} is not a valid subject: {why}"
        )))
    };
    if v.is_empty() {
        return bad("it is empty");
    }
    let tokens: Vec<&str> = v.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return bad("empty token");
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("whitespace");
        }
        let wild = *t == "*" || (*t == ">" && i == tokens.len() - 1);
        if wild && !wildcards {
            return bad("wildcards are not allowed here");
        }
        if !wild && (t.contains('*') || t.contains('>')) {
            return bad("'*' and '>' must be whole tokens ('>' only last)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("7"), Some(Duration::from_millis(7)));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn subjects() {
        assert!(check_subject("", "s", "a.b.c", false).is_ok());
        assert!(check_subject("", "s", "a.*.>", true).is_ok());
        assert!(check_subject("", "s", "a.*", false).is_err());
        assert!(check_subject("", "s", "a..b", false).is_err());
        assert!(check_subject("", "s", "a b", false).is_err());
        assert!(check_subject("", "s", "a.>.b", true).is_err());
        assert!(check_subject("", "s", "a*", true).is_err());
    }
}
