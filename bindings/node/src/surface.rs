//! The core's declarations as JS sees them: stats and options objects built
//! from the core's tables (names in camelCase by rule), engine errors as
//! `Error`s whose `code` is set here, and `surface()`, the tables
//! themselves plus the typed-array layouts, which `index.js` reads at load.

use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;
use ringmq_core::surface::{
    camel_case, OptionKind, OptionValue, OptionsTable, StatValue, StatsTable,
};
use ringmq_core::{self as core, ErrorKind};

use crate::layout;

/// A JS `Error` with `message` and its `code` property set to the kind's
/// code, made by N-API itself.
///
/// # Safety
/// `env` is the env of the running call, on the JS thread.
pub unsafe fn error_value(
    env: sys::napi_env,
    kind: ErrorKind,
    message: &str,
) -> Option<sys::napi_value> {
    let (mut code, mut msg, mut err) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    let code_text = kind.code();
    // SAFETY: plain N-API calls with valid lengths and out-pointers.
    let made = unsafe {
        sys::napi_create_string_utf8(
            env,
            code_text.as_ptr().cast(),
            code_text.len() as isize,
            &mut code,
        ) == sys::Status::napi_ok
            && sys::napi_create_string_utf8(
                env,
                message.as_ptr().cast(),
                message.len() as isize,
                &mut msg,
            ) == sys::Status::napi_ok
            && sys::napi_create_error(env, code, msg, &mut err) == sys::Status::napi_ok
    };
    made.then_some(err)
}

/// An engine error as a napi error that throws (or rejects with) the JS
/// `Error` of [`error_value`].
pub fn fail(env: &Env, e: core::Error) -> Error {
    fail_with(env, e.kind(), e.message())
}

pub fn fail_with(env: &Env, kind: ErrorKind, message: &str) -> Error {
    // SAFETY: napi calls these on the JS thread with its env.
    let made = unsafe { error_value(env.raw(), kind, message) }
        // SAFETY: a value just made in this env.
        .and_then(|v| unsafe { Unknown::from_napi_value(env.raw(), v) }.ok());
    match made {
        Some(v) => Error::from(v),
        // N-API could not make the object (the env is going away): a plain
        // error, which index.js reports as INTERNAL.
        None => Error::from_reason(message),
    }
}

fn set_value(obj: &mut Object<'_>, name: &str, v: StatValue) -> Result<()> {
    match v {
        StatValue::U64(n) => obj.set_named_property(name, n as f64),
        StatValue::F64(x) => obj.set_named_property(name, x),
    }
}

/// A stats snapshot as a plain object: every field of the table, then the
/// text fields (`null` when empty).
pub fn stats_object<'env, S: StatsTable>(env: &'env Env, s: &S) -> Result<Object<'env>> {
    let mut obj = Object::new(env)?;
    for (f, v) in s.values() {
        set_value(&mut obj, &camel_case(f.name), v)?;
    }
    for (i, t) in S::TEXT.iter().enumerate() {
        obj.set_named_property(&camel_case(t.name), s.text(i))?;
    }
    Ok(obj)
}

fn option_js<'env>(env: &'env Env, v: OptionValue) -> Result<Unknown<'env>> {
    match v {
        OptionValue::Int(n) | OptionValue::Millis(n) => (n as f64).into_unknown(env),
        OptionValue::Bool(b) => b.into_unknown(env),
        OptionValue::Choice(s) => s.into_unknown(env),
        OptionValue::Computed(_) | OptionValue::Unset => Null.into_unknown(env),
        OptionValue::Number(bits) => f64::from_bits(bits).into_unknown(env),
        // A value with no static form (a set path): options objects of the
        // binding never hold one, and no default is one.
        OptionValue::Given => Null.into_unknown(env),
    }
}

/// An options struct as JS spells it (durations in milliseconds).
pub fn options_object<'env, O: OptionsTable>(env: &'env Env, o: &O) -> Result<Object<'env>> {
    let mut obj = Object::new(env)?;
    for (i, f) in O::FIELDS.iter().enumerate() {
        obj.set_named_property(&camel_case(&f.ms_name()), option_js(env, o.value(i))?)?;
    }
    Ok(obj)
}

fn stats_list<'env, S: StatsTable>(env: &'env Env) -> Result<Array<'env>> {
    let mut arr = env.create_array(S::FIELDS.len() as u32)?;
    for (i, f) in S::FIELDS.iter().enumerate() {
        let mut o = Object::new(env)?;
        o.set_named_property("name", camel_case(f.name))?;
        o.set_named_property("help", f.help)?;
        o.set_named_property("prometheus", f.metric.prometheus_type())?;
        o.set_named_property("unit", f.unit.as_str())?;
        arr.set(i as u32, o)?;
    }
    Ok(arr)
}

fn text_list<S: StatsTable>() -> Vec<String> {
    S::TEXT.iter().map(|t| camel_case(t.name)).collect()
}

fn kind_name(kind: OptionKind) -> &'static str {
    match kind {
        OptionKind::Count => "count",
        OptionKind::Duration => "ms",
        OptionKind::Bool => "bool",
        OptionKind::Choice(_) => "choice",
        OptionKind::Rate => "rate",
        // A message id: a safe integer or a bigint.
        OptionKind::Id => "id",
        // Milliseconds since the Unix epoch, or a Date.
        OptionKind::Time => "time",
        // A file system path: a string.
        OptionKind::Path => "path",
        OptionKind::Name => "name",
    }
}

fn options_list<'env, O: OptionsTable>(env: &'env Env) -> Result<Array<'env>> {
    let mut arr = env.create_array(O::FIELDS.len() as u32)?;
    for (i, f) in O::FIELDS.iter().enumerate() {
        let mut o = Object::new(env)?;
        o.set_named_property("name", camel_case(&f.ms_name()))?;
        o.set_named_property("help", f.help)?;
        o.set_named_property("kind", kind_name(f.kind))?;
        if let OptionKind::Choice(names) = f.kind {
            o.set_named_property("choices", names.to_vec())?;
        }
        o.set_named_property("default", option_js(env, f.default)?)?;
        arr.set(i as u32, o)?;
    }
    Ok(arr)
}

fn layout_object<'env>(env: &'env Env, names: &[&str]) -> Result<Object<'env>> {
    let mut o = Object::new(env)?;
    for (i, n) in names.iter().enumerate() {
        o.set_named_property(n, i as u32)?;
    }
    o.set_named_property("stride", names.len() as u32)?;
    Ok(o)
}

/// The core's declarations and the typed-array layouts (see the module
/// docs); `index.js` reads it once at load.
#[napi(ts_return_type = "Record<string, unknown>")]
pub fn surface(env: &Env) -> Result<Object<'_>> {
    let mut s = Object::new(env)?;
    s.set_named_property(
        "errorCodes",
        ErrorKind::ALL.iter().map(|k| k.code()).collect::<Vec<_>>(),
    )?;
    s.set_named_property("overflow", core::Overflow::NAMES.to_vec())?;
    s.set_named_property("start", core::StartAt::NAMES.to_vec())?;
    let mut stats = Object::new(env)?;
    stats.set_named_property("topic", stats_list::<core::TopicStats>(env)?)?;
    stats.set_named_property("sub", stats_list::<core::SubStats>(env)?)?;
    stats.set_named_property("pool", stats_list::<core::PoolStats>(env)?)?;
    s.set_named_property("stats", stats)?;
    let mut texts = Object::new(env)?;
    texts.set_named_property("topic", text_list::<core::TopicStats>())?;
    texts.set_named_property("sub", text_list::<core::SubStats>())?;
    texts.set_named_property("pool", text_list::<core::PoolStats>())?;
    s.set_named_property("statsText", texts)?;
    let mut options = Object::new(env)?;
    options.set_named_property("broker", options_list::<core::BrokerOptions>(env)?)?;
    options.set_named_property("topic", options_list::<core::TopicOptions>(env)?)?;
    options.set_named_property("sub", options_list::<core::SubOptions>(env)?)?;
    s.set_named_property("options", options)?;
    let mut l = Object::new(env)?;
    let mut pull = layout_object(env, layout::pull::NAMES)?;
    pull.set_named_property("count", layout::HEADER_COUNT as u32)?;
    pull.set_named_property("first", layout::HEADER_FIRST as u32)?;
    pull.set_named_property("messages", layout::HEADER_MESSAGES as u32)?;
    l.set_named_property("pull", pull)?;
    l.set_named_property("push", layout_object(env, layout::push::NAMES)?)?;
    s.set_named_property("layout", l)?;
    Ok(s)
}
