//! The NATS JetStream bridge (`NatsBridge` in `index.js`): `index.js` turns
//! the camelCase options into the bridge's JSON configuration, checked here
//! by `ringmq-nats` field by field; stopping waits on a thread of its own.

use std::sync::Mutex;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use ringmq_core as core;
use ringmq_nats::{Bridge, BridgeConfig, BridgeError, BridgeStats};

use crate::surface::{fail, fail_with};
use crate::{ms, NativeBroker};

/// A bridge's counters, as JS sees them.
#[napi(object)]
pub struct NatsBridgeStatsJs {
    pub exported: f64,
    pub imported: f64,
    pub in_flight: f64,
    pub reconnects: f64,
    pub dead_lettered: f64,
    pub connected: bool,
    pub last_error: Option<String>,
}

impl From<BridgeStats> for NatsBridgeStatsJs {
    fn from(s: BridgeStats) -> Self {
        NatsBridgeStatsJs {
            exported: s.exported as f64,
            imported: s.imported as f64,
            in_flight: s.in_flight as f64,
            reconnects: s.reconnects as f64,
            dead_lettered: s.dead_lettered as f64,
            connected: s.connected,
            last_error: s.last_error,
        }
    }
}

/// The JS error of a bridge error: a bad configuration is
/// `INVALID_ARGUMENT`, RingMQ's errors keep their code, NATS refusing is
/// `IO`.
fn bridge_fail(env: &Env, e: BridgeError) -> Error {
    let kind = match &e {
        BridgeError::Config(_) => core::ErrorKind::InvalidArgument,
        BridgeError::RingMq(inner) => return fail(env, inner.clone()),
        BridgeError::Nats(_) => core::ErrorKind::Io,
        BridgeError::Runtime(_) => core::ErrorKind::Internal,
    };
    fail_with(env, kind, &e.to_string())
}

enum State {
    /// Boxed: a bridge is far larger than its stats.
    Running(Box<Bridge>),
    /// Stopping or stopped: the counters when it was last seen.
    Stopped(BridgeStats),
}

/// A running bridge.
#[napi]
pub struct NativeNatsBridge {
    state: Mutex<State>,
}

#[napi]
impl NativeNatsBridge {
    #[napi(constructor)]
    pub fn new(env: &Env, broker: &NativeBroker, config_json: String) -> Result<Self> {
        let config = BridgeConfig::from_json(&config_json).map_err(|e| bridge_fail(env, e))?;
        let bridge = Bridge::start(&broker.inner, config).map_err(|e| bridge_fail(env, e))?;
        Ok(NativeNatsBridge {
            state: Mutex::new(State::Running(Box::new(bridge))),
        })
    }

    #[napi]
    pub fn stats(&self) -> NatsBridgeStatsJs {
        self.stats_now().into()
    }

    #[napi]
    pub fn is_stopped(&self) -> bool {
        matches!(
            &*self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Stopped(_)
        )
    }

    /// Stops on a thread of its own (the drain waits for JetStream's acks);
    /// resolves to the final counters. A second call resolves at once.
    #[napi(ts_return_type = "Promise<NatsBridgeStatsJs>")]
    pub fn stop<'env>(&self, env: &'env Env, drain_ms: f64) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred()?;
        let running = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match &*state {
                State::Running(b) => {
                    let last = b.stats();
                    match std::mem::replace(&mut *state, State::Stopped(last)) {
                        State::Running(b) => Some(b),
                        State::Stopped(_) => None,
                    }
                }
                State::Stopped(_) => None,
            }
        };
        // A second call resolves to the counters seen when the first began.
        let seen = self.stats_now();
        let drain = ms(drain_ms);
        std::thread::Builder::new()
            .name("ringmq-nats-stop".into())
            .spawn(move || {
                let done = match running {
                    Some(bridge) => (*bridge).stop(drain),
                    None => Ok(seen),
                };
                deferred.resolve(move |env| match done {
                    Ok(s) => Ok(NatsBridgeStatsJs::from(s)),
                    Err(e) => Err(bridge_fail(&env, e)),
                });
            })
            .map_err(|e| {
                fail_with(
                    env,
                    core::ErrorKind::Internal,
                    &format!("cannot start a thread: {e}"),
                )
            })?;
        Ok(promise)
    }
}

impl NativeNatsBridge {
    fn stats_now(&self) -> BridgeStats {
        match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            State::Running(b) => b.stats(),
            State::Stopped(s) => s.clone(),
        }
    }
}

/// A bridge garbage-collected unstopped stops without a drain on a thread
/// of its own: stopping can take a few seconds, which the finalizer would
/// otherwise spend on the JS thread.
impl Drop for NativeNatsBridge {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let State::Running(_) = state {
            if let State::Running(bridge) =
                std::mem::replace(state, State::Stopped(BridgeStats::default()))
            {
                // If no thread can be started, the closure (and the bridge)
                // is dropped here instead.
                let _ = std::thread::Builder::new()
                    .name("ringmq-nats-drop".into())
                    .spawn(move || drop(bridge));
            }
        }
    }
}
