//! Cancelling a wait from JavaScript (an `AbortSignal`).
//!
//! `index.js` makes a `NativeInterrupt` for a call that waits with a
//! signal, passes it to the wait (`NativePull.wait`, `NativeTopic.publishWait`,
//! `NativeBroker.close`) and calls `interrupt()` from the signal's `abort`
//! listener. The semantics are the core's (`ringmq_core::Interrupt`): the
//! wait ends with `INTERRUPTED` having changed nothing, or, for a close, the
//! drain is cut short and the broker still closes fully. One interrupt per
//! call: it is sticky, so an abort that comes before the wait starts ends
//! the wait at once.

use napi::bindgen_prelude::ClassInstance;
use napi_derive::napi;
use ringmq_core as core;

#[napi]
#[derive(Default)]
pub struct NativeInterrupt {
    inner: core::Interrupt,
}

#[napi]
impl NativeInterrupt {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeInterrupt::default()
    }

    /// Ends the waits given this interrupt, now and later. Never blocks:
    /// it only wakes the waiters, which return on their own threads.
    #[napi]
    pub fn interrupt(&self) {
        self.inner.interrupt();
    }
}

/// The engine's interrupt of an optional JS argument.
pub fn of(arg: Option<ClassInstance<'_, NativeInterrupt>>) -> Option<core::Interrupt> {
    arg.map(|i| i.inner.clone())
}
