'use strict'
// RingMQ for Node: the JavaScript half of the package. It checks arguments
// and builds Message objects; the native addon (ringmq.node, built from src/
// at install time) translates to the engine, throws Errors whose `code` it
// sets itself, and tells this file at load time the engine's error codes,
// enum spellings, option names and the layout of the typed arrays it fills.
// No call here waits on the JS thread.

const path = require('node:path')
const { EventEmitter } = require('node:events')

// The broker whose push handler is running on the JS thread now (a sync
// handler, or an async one up to its first await), else null: Broker.close
// reads it to tell a close from inside one of its own handlers. (Following
// a handler past its awaits would take an AsyncLocalStorage, which before
// Node 24 slows every promise of the process.)
let handlerOf = null

const { prebuiltName } = require('./scripts/platform.js')

// The addon built from source next to this file (`npm install` without a
// prebuilt package, or `node scripts/build.js`), else the prebuilt one.
function loadNative() {
  const file = path.join(__dirname, 'ringmq.node')
  const fs = require('node:fs')
  const from = fs.existsSync(file) ? file : prebuiltName()
  try {
    return require(from)
  } catch (e) {
    const err = new Error(
      `ringmq: cannot load the native addon ${from} (${e.message}); ` +
        `install the prebuilt package ${prebuiltName()}, or build it from source with cargo ` +
        '(`node scripts/build.js` in the package)',
    )
    err.code = 'INTERNAL'
    throw err
  }
}

const native = loadNative()
// The engine's declarations and the typed-array layouts, as the addon
// states them (see src/surface.rs and src/layout.rs).
const SURFACE = native.surface()
const CODES = new Set(SURFACE.errorCodes)

/** Every failure of this package: an Error with a `code` ('FULL', 'TIMEOUT', …). */
class RingMQError extends Error {
  constructor(code, message) {
    super(message)
    this.name = 'RingMQError'
    this.code = code
  }
}

/** A native failure as a RingMQError; the addon set its `code`. */
function fromNative(e) {
  if (e instanceof RingMQError) return e
  if (e instanceof Error) {
    if (CODES.has(e.code)) return new RingMQError(e.code, e.message)
    // napi-rs's own argument conversions answer InvalidArg.
    if (e.code === 'InvalidArg') return new RingMQError('INVALID_ARGUMENT', e.message)
    return new RingMQError('INTERNAL', e.message)
  }
  return new RingMQError('INTERNAL', String(e))
}

function invalid(message) {
  return new RingMQError('INVALID_ARGUMENT', message)
}

/**
 * Thrown (or rejected with) by a push handler: the message is retried after
 * `ms` milliseconds instead of the topic's backoff (still dead-lettered
 * once it has had maxAttempts deliveries).
 */
class Retry extends Error {
  constructor(ms, message) {
    millis(ms, 'Retry ms')
    super(message === undefined ? `retry after ${ms} ms` : String(message))
    this.name = 'Retry'
    /** The delay before the next delivery, in milliseconds. */
    this.ms = ms
  }
}

/**
 * Thrown (or rejected with) by a push handler: the message goes straight to
 * the dead-letter topic with `reason`, no more attempts.
 */
class Term extends Error {
  constructor(reason) {
    super(reason === undefined ? 'termed' : String(reason))
    this.name = 'Term'
    /** Why, as the dead letter's error will read. */
    this.reason = this.message
  }
}

// ---- argument checks -------------------------------------------------------

function describe(v) {
  if (v === null) return 'null'
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'object') return v.constructor ? `a ${v.constructor.name}` : 'an object'
  return String(v)
}

function options(opts, what, allowed) {
  if (opts === undefined || opts === null) return {}
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw invalid(`${what} must be an object, got ${describe(opts)}`)
  }
  if (opts instanceof AbortSignal) {
    // Its keys are not own properties: it would pass as {} and be ignored.
    throw invalid(`${what} options must be an object, got an AbortSignal (pass it as { signal })`)
  }
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) {
      throw invalid(`unknown ${what} option ${JSON.stringify(k)} (expected one of ${allowed.join(', ')})`)
    }
  }
  return opts
}

function int(v, name, min, max) {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw invalid(`${name} must be an integer, got ${describe(v)}`)
  }
  if (v < min || v > max) throw invalid(`${name} ${v} is not between ${min} and ${max}`)
  return v
}

function optInt(v, name, min, max) {
  return v === undefined ? undefined : int(v, name, min, max)
}

function millis(v, name) {
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw invalid(`${name} must be a number of milliseconds, got ${describe(v)}`)
  }
  if (v < 0) throw invalid(`${name} ${v} must not be negative`)
  if (!Number.isFinite(v)) throw invalid(`${name} must be finite`)
  return v
}

function optMillis(v, name) {
  return v === undefined ? undefined : millis(v, name)
}

/** A timeout: undefined, null or Infinity wait for ever (-1 for the addon). */
function timeoutArg(v, name) {
  if (v === undefined || v === null || v === Infinity) return -1
  return millis(v, name)
}

/** A rate (messages per second): undefined for no limit, else a number the engine checks. */
function optRate(v, name) {
  if (v === undefined) return undefined
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw invalid(`${name} must be a number of messages per second, got ${describe(v)}`)
  }
  return v
}

function optBool(v, name) {
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw invalid(`${name} must be a boolean, got ${describe(v)}`)
  return v
}

/** A file system path: undefined for none, else a non-empty string without NUL. */
function optPath(v, name) {
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw invalid(`${name} must be a string (a path), got ${describe(v)}`)
  if (v === '') throw invalid(`${name} must not be empty (leave it out for none)`)
  if (v.includes('\0')) throw invalid(`${name} ${describe(v)} contains a NUL character`)
  return v
}

function nameArg(v, what) {
  if (typeof v !== 'string') throw invalid(`${what} name must be a string, got ${describe(v)}`)
  return v
}

const TWO32 = 4294967296
const MAX_KEY = (1n << 64n) - 1n

/** Splits a key (safe integer or bigint, 0..2^64-1) into [hi, lo]. */
function splitKey(key) {
  if (key === undefined) return [0, 0]
  return split64(key, 'key')
}

/** Splits a safe integer or a bigint in 0..2^64-1 into [hi, lo]. */
function split64(v, name) {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw invalid(`${name} must be a non-negative safe integer or a bigint, got ${describe(v)}`)
    }
    return [Math.floor(v / TWO32), v % TWO32]
  }
  if (typeof v === 'bigint') {
    if (v < 0n || v > MAX_KEY) throw invalid(`${name} ${v}n is not between 0 and 2^64-1`)
    return [Number(v >> 32n), Number(v & 0xffffffffn)]
  }
  throw invalid(`${name} must be a non-negative safe integer or a bigint, got ${describe(v)}`)
}

/** A point in time: milliseconds since the Unix epoch, or a Date; as milliseconds. */
function optTime(v, name) {
  if (v === undefined) return undefined
  let ms
  if (v instanceof Date) {
    ms = v.getTime()
    if (Number.isNaN(ms)) throw invalid(`${name} is an invalid Date`)
  } else if (typeof v === 'number') {
    ms = v
    if (Number.isNaN(ms)) throw invalid(`${name} must be milliseconds since the Unix epoch, got NaN`)
  } else {
    throw invalid(`${name} must be milliseconds since the Unix epoch or a Date, got ${describe(v)}`)
  }
  if (ms < 0) throw invalid(`${name} ${v instanceof Date ? v.toISOString() : ms} is before 1970`)
  if (!Number.isFinite(ms)) throw invalid(`${name} must be finite`)
  return ms
}

function joinKey(hi, lo) {
  return hi < 0x200000 ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo)
}

function dataArg(data, name) {
  if (!(data instanceof Uint8Array)) {
    throw invalid(`${name} must be a Buffer or Uint8Array, got ${describe(data)}`)
  }
  if (data.byteLength === 0 && isDetached(data.buffer)) throw detachedArg(name)
  return data
}

/**
 * Whether `ab` was detached (transferred with structuredClone or
 * postMessage, or by ArrayBuffer.prototype.transfer): its views then read
 * as empty, so only empty views need the question.
 */
function isDetached(ab) {
  if (typeof ab.detached === 'boolean') return ab.detached
  try {
    new Uint8Array(ab, 0, 0)
    return false
  } catch {
    return true
  }
}

function detachedArg(name) {
  return invalid(`${name} is a view of a detached ArrayBuffer (it was transferred)`)
}

/** A Buffer, Uint8Array or string (as UTF-8) argument, as bytes. */
function bytesArg(v, name) {
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  if (v instanceof Uint8Array) {
    if (v.byteLength === 0 && isDetached(v.buffer)) throw detachedArg(name)
    return v
  }
  throw invalid(`${name} must be a Buffer, Uint8Array or string, got ${describe(v)}`)
}

function errorText(e) {
  if (e instanceof Error) return e.message || e.name || 'Error'
  if (e === undefined) return 'handler rejected with undefined'
  try {
    return String(e)
  } catch {
    return 'handler failed'
  }
}

// ---- cancellation ----------------------------------------------------------
//
// A call that can wait takes an AbortSignal as its `signal` option (see
// docs/NODE.md, Cancellation). The native wait gets an interrupt of its own,
// which the signal's abort listener sets; the core ends the wait having
// changed nothing, and the call rejects with `signal.reason`. The listener
// is removed when the last call waiting with the signal settles.

/** The `signal` option: undefined, or an AbortSignal (else INVALID_ARGUMENT). */
function signalArg(v, name) {
  if (v === undefined) return undefined
  if (!(v instanceof AbortSignal)) throw invalid(`${name} must be an AbortSignal, got ${describe(v)}`)
  return v
}

/** The options of a positional call that waits (`{ signal }`): its signal. */
function waitSignal(opts, what) {
  return signalArg(options(opts, what, ['signal']).signal, `${what} signal`)
}

// The calls waiting with each signal, by signal: a signal gets one abort
// listener however many calls wait with it (no MaxListenersExceededWarning
// for many consumers sharing one signal), removed when the last settles.
const waitingOn = new WeakMap()

/**
 * An interrupt that `signal`'s abort sets, for the native waits of one call
 * (`Armed.of` gives null without a signal). `disarm()` unlists it; the call
 * does so once it settles.
 */
class Armed {
  constructor(signal) {
    this.signal = signal
    this.n = new native.NativeInterrupt()
    let w = waitingOn.get(signal)
    if (w === undefined) {
      const calls = new Set()
      const onAbort = () => {
        for (const n of calls) n.interrupt()
      }
      w = { calls, onAbort }
      waitingOn.set(signal, w)
      signal.addEventListener('abort', onAbort, { once: true })
    }
    w.calls.add(this.n)
  }

  static of(signal) {
    return signal === undefined ? null : new Armed(signal)
  }

  disarm() {
    const w = waitingOn.get(this.signal)
    if (w === undefined || !w.calls.delete(this.n) || w.calls.size > 0) return
    waitingOn.delete(this.signal)
    this.signal.removeEventListener('abort', w.onAbort)
  }

  /** A native failure, or the signal's reason for the interrupt its abort set. */
  error(e) {
    if (e !== null && typeof e === 'object' && e.code === 'INTERRUPTED' && this.signal.aborted) {
      return this.signal.reason
    }
    return fromNative(e)
  }
}

// ---- messages --------------------------------------------------------------

/**
 * The headers object of a message's extension array ([msgId | null, name,
 * value, …]): name -> Buffer, the last of a repeated name winning.
 */
function headersObject(ext) {
  const out = {}
  if (ext === null) return out
  for (let i = 1; i < ext.length; i += 2) {
    const name = ext[i]
    if (name === '__proto__') {
      Object.defineProperty(out, name, { value: ext[i + 1], enumerable: true, writable: true, configurable: true })
    } else {
      out[name] = ext[i + 1]
    }
  }
  return out
}

/** The fields both kinds of message share, kept as the engine gives them. */
class MessageFields {
  /**
   * The message's headers: an object of name -> Buffer (the last value of
   * a repeated name), empty for none. Made on first access.
   */
  get headers() {
    let h = this._headers
    if (h === null) {
      h = headersObject(this._ext)
      this._headers = h
    }
    return h
  }

  /** The id it was published with for de-duplication (a Buffer), or null. */
  get msgId() {
    return this._ext === null ? null : this._ext[0]
  }

  /** The key: a number, or a bigint when above Number.MAX_SAFE_INTEGER. */
  get key() {
    return joinKey(this._keyHi, this._keyLo)
  }

  /** Publish time, nanoseconds since the Unix epoch. */
  get timestampNs() {
    return (BigInt(this._tsHi) << 32n) | BigInt(this._tsLo)
  }

  /** Publish time, milliseconds since the Unix epoch (as Date.now()). */
  get timestampMs() {
    return (this._tsHi * TWO32 + this._tsLo) / 1e6
  }
}

/** A message as a push handler sees it; the handler's outcome settles it. */
class PushMessage extends MessageFields {
  constructor(id, keyHi, keyLo, tsHi, tsLo, attempt, data, error, deadLetterGroup, ext, origin) {
    super()
    /** The topic's sequence number (a dead letter keeps it). */
    this.id = id
    /** 1 on the first delivery. */
    this.attempt = attempt
    /** A copy of the payload (a view of a Buffer shared with its batch). */
    this.data = data
    /** For a message of a dead-letter topic: why the engine dead-lettered it; else null. */
    this.error = error
    /** For a message of a dead-letter topic: the group that dead-lettered it; else null. */
    this.deadLetterGroup = deadLetterGroup
    this._keyHi = keyHi
    this._keyLo = keyLo
    this._tsHi = tsHi
    this._tsLo = tsLo
    this._ext = ext
    this._headers = null
    // { topic, group } of the subscription (shown by util.inspect).
    this._origin = origin
  }
}

/** A message from a pull subscription: settle it with ack, nack or term. */
class Message extends MessageFields {
  constructor(pull, id, keyHi, keyLo, tsHi, tsLo, attempt, tagHi, tagLo, ab, off, len, note, ext) {
    super()
    /** The topic's sequence number (a dead letter keeps it). */
    this.id = id
    /** 1 on the first delivery. */
    this.attempt = attempt
    /**
     * For a message of a dead-letter topic: why the engine dead-lettered it
     * (a nack's reason, 'termed', 'ack timeout', a handler's error text,
     * after 'failed N deliveries (max_attempts M): ' when it ran out of
     * attempts); else null.
     */
    this.error = note === null ? null : note[0]
    /** For a message of a dead-letter topic: the group that dead-lettered it; else null. */
    this.deadLetterGroup = note === null ? null : note[1]
    this._keyHi = keyHi
    this._keyLo = keyLo
    this._tsHi = tsHi
    this._tsLo = tsLo
    this._pull = pull
    this._tagHi = tagHi
    this._tagLo = tagLo
    this._ab = ab
    this._off = off
    this._len = len
    this._data = null
    this._settled = false
    this._ext = ext
    this._headers = null
  }


  /**
   * A copy of the payload, taken out of the ring at poll time: a Buffer
   * view of a pool Buffer shared with other messages (as Buffer.allocUnsafe
   * gives), made on first access.
   */
  get data() {
    let d = this._data
    if (d === null) {
      d = Buffer.from(this._ab, this._off, this._len)
      this._data = d
    }
    return d
  }

  /** True once ack, nack, requeue or term was called. */
  get settled() {
    return this._settled
  }

  _settle(what) {
    if (this._settled) throw invalid(`message ${this.id} is already settled (${what})`)
    this._settled = true
  }

  /** Done: not delivered again to this subscription. */
  ack() {
    this._settle('ack')
    try {
      this._pull._ack(this._tagHi, this._tagLo)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Failed: redelivered after delayMs, or after the topic's backoff when omitted. */
  nack(delayMs) {
    const d = delayMs === undefined ? -1 : millis(delayMs, 'nack delayMs')
    this._settle('nack')
    try {
      this._pull._n.nack(this._tagHi, this._tagLo, d)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /**
   * Not handled, and not a failure: back to be delivered again at once (to
   * any consumer of the subscription), not counted as an attempt. For a
   * consumer that took a message it will not handle (shutting down); a
   * failure is a nack.
   */
  requeue() {
    this._settle('requeue')
    try {
      this._pull._n.release(this._tagHi, this._tagLo)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Poison: straight to the dead-letter topic. */
  term() {
    this._settle('term')
    try {
      this._pull._n.term(this._tagHi, this._tagLo)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Still working on it: restarts the ack timer. */
  inProgress() {
    if (this._settled) throw invalid(`message ${this.id} is already settled (inProgress)`)
    try {
      this._pull._n.inProgress(this._tagHi, this._tagLo)
    } catch (e) {
      throw fromNative(e)
    }
  }
}

// ---- subscriptions ---------------------------------------------------------

// Where a take describes each message in the header array (H_*), and a
// push dispatch in its meta array (M_*).
const HDR = SURFACE.layout.pull
const H_COUNT = HDR.count
const H_FIRST = HDR.first
const H_STRIDE = HDR.stride
const H_ID = HDR.id
const H_KEY_HI = HDR.keyHi
const H_KEY_LO = HDR.keyLo
const H_TS_HI = HDR.tsHi
const H_TS_LO = HDR.tsLo
const H_ATTEMPT = HDR.attempt
const H_TAG_HI = HDR.tagHi
const H_TAG_LO = HDR.tagLo
const H_LEN = HDR.len
const H_NOTE = HDR.note
const H_EXT_AT = HDR.extAt
const H_EXT_LEN = HDR.extLen
const META = SURFACE.layout.push
const M_STRIDE = META.stride
const M_TOKEN = META.token
const M_ID = META.id
const M_KEY_HI = META.keyHi
const M_KEY_LO = META.keyLo
const M_TS_HI = META.tsHi
const M_TS_LO = META.tsLo
const M_ATTEMPT = META.attempt
const M_LEN = META.len
const M_NOTE = META.note
const M_HEADERS = META.headers
const M_MSG_ID = META.msgId
// Payloads of pulled messages are copied into pool Buffers of this size and
// handed out as views of them, as Node's own Buffer.allocUnsafe pool does (a
// Buffer per message would cost a native allocation each); slots larger
// than POOL_ITEM_MAX get a Buffer per batch instead.
const POOL_SIZE = 64 * 1024
// Raw batches keep their header records and arrays in pool ArrayBuffers of
// this size (one batch of 256 takes about 26 KiB).
const META_POOL_SIZE = 256 * 1024
const POOL_ITEM_MAX = 16 * 1024
// publishMany stages up to STAGE_ITEMS items of slots up to STAGE_ITEM_MAX
// bytes in one Buffer; larger batches and slots are read item by item.
const STAGE_ITEMS = 1024
const STAGE_ITEM_MAX = 1024
// Messages one native take describes (the size of its header array).
const TAKE_MAX = HDR.messages

/**
 * Messages of one raw poll, without an object per message: the payloads
 * back to back in one Buffer (`data`, with `offsets` and `lengths`), and the
 * fields by index. Settle them all with ackAll, or one by one.
 */
class RawBatch {
  constructor(pull, hdr, n, ab, base, offsets, lengths, settled) {
    this._pull = pull
    this._hdr = hdr
    /** How many messages. */
    this.length = n
    this._settled = n > 0 ? settled : null
    this._open = n
    if (n === 0) {
      this.data = Buffer.alloc(0)
      this.offsets = new Uint32Array(0)
      this.lengths = new Uint32Array(0)
      return
    }
    let off = 0
    // Dead-letter notes ([reason, group] by index), for dead letters only.
    this._notes = null
    // Extensions ([msgId | null, name, value, …] by index), for messages
    // with headers or a msgId only.
    this._exts = null
    for (let i = 0, b = H_FIRST; i < n; i++, b += H_STRIDE) {
      offsets[i] = off
      lengths[i] = hdr[b + H_LEN]
      off += hdr[b + H_LEN]
      if (hdr[b + H_NOTE] !== 0) {
        if (this._notes === null) this._notes = new Array(n).fill(null)
        this._notes[i] = pull._noteOf(hdr[b + H_NOTE])
      }
      if (hdr[b + H_EXT_LEN] !== 0) {
        if (this._exts === null) this._exts = new Array(n).fill(null)
        this._exts[i] = pull._extOf(hdr[b + H_EXT_AT], hdr[b + H_EXT_LEN])
      }
    }
    /** Every payload, back to back (a view of a pool Buffer). */
    this.data = Buffer.from(ab, base, off)
    /** Where each payload starts in data. */
    this.offsets = offsets
    /** Each payload's length. */
    this.lengths = lengths
  }

  _check(i) {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw invalid(`index ${describe(i)} is not between 0 and ${this.length - 1}`)
    }
    return H_FIRST + i * H_STRIDE
  }

  id(i) {
    return this._hdr[this._check(i) + H_ID]
  }

  key(i) {
    const b = this._check(i)
    return joinKey(this._hdr[b + H_KEY_HI], this._hdr[b + H_KEY_LO])
  }

  timestampNs(i) {
    const b = this._check(i)
    return (BigInt(this._hdr[b + H_TS_HI]) << 32n) | BigInt(this._hdr[b + H_TS_LO])
  }

  attempt(i) {
    return this._hdr[this._check(i) + H_ATTEMPT]
  }

  /** For a message of a dead-letter topic: why the engine dead-lettered it; else null. */
  error(i) {
    this._check(i)
    return this._notes === null || this._notes[i] === null ? null : this._notes[i][0]
  }

  /** For a message of a dead-letter topic: the group that dead-lettered it; else null. */
  deadLetterGroup(i) {
    this._check(i)
    return this._notes === null || this._notes[i] === null ? null : this._notes[i][1]
  }

  /** The headers of message i: name -> Buffer (empty for none). */
  headers(i) {
    this._check(i)
    return headersObject(this._exts === null ? null : this._exts[i])
  }

  /** The msgId of message i (a Buffer), or null. */
  msgId(i) {
    this._check(i)
    return this._exts === null || this._exts[i] === null ? null : this._exts[i][0]
  }

  /** A Buffer view of payload i. */
  payload(i) {
    this._check(i)
    return this.data.subarray(this.offsets[i], this.offsets[i] + this.lengths[i])
  }

  _settle(i, what) {
    const b = this._check(i)
    if (this._settled[i]) throw invalid(`message ${this._hdr[b + H_ID]} is already settled (${what})`)
    this._settled[i] = 1
    this._open--
    return b
  }

  ack(i) {
    const b = this._settle(i, 'ack')
    try {
      this._pull._ack(this._hdr[b + H_TAG_HI], this._hdr[b + H_TAG_LO])
    } catch (e) {
      throw fromNative(e)
    }
  }

  nack(i, delayMs) {
    const d = delayMs === undefined ? -1 : millis(delayMs, 'nack delayMs')
    const b = this._settle(i, 'nack')
    try {
      this._pull._n.nack(this._hdr[b + H_TAG_HI], this._hdr[b + H_TAG_LO], d)
    } catch (e) {
      throw fromNative(e)
    }
  }

  term(i) {
    const b = this._settle(i, 'term')
    try {
      this._pull._n.term(this._hdr[b + H_TAG_HI], this._hdr[b + H_TAG_LO])
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Acks every message not settled yet, in one call. */
  ackAll() {
    if (this._open === 0) return
    const n = this.length
    const h = this._hdr
    const s = this._settled
    // Read by the native call before it returns: one scratch array serves
    // every batch of the subscription.
    const tags = this._pull._rawTags
    let k = 0
    for (let i = 0, b = H_FIRST; i < n; i++, b += H_STRIDE) {
      if (s[i]) continue
      s[i] = 1
      tags[k++] = h[b + H_TAG_HI]
      tags[k++] = h[b + H_TAG_LO]
    }
    this._open = 0
    try {
      this._pull._ackMany(tags, k >> 1)
    } catch (e) {
      throw fromNative(e)
    }
  }
}

/** The message described at record b of a take's header h. */
function newMessage(pull, h, b, ab, off, len) {
  return new Message(
    pull,
    h[b + H_ID],
    h[b + H_KEY_HI],
    h[b + H_KEY_LO],
    h[b + H_TS_HI],
    h[b + H_TS_LO],
    h[b + H_ATTEMPT],
    h[b + H_TAG_HI],
    h[b + H_TAG_LO],
    ab,
    off,
    len,
    h[b + H_NOTE] === 0 ? null : pull._noteOf(h[b + H_NOTE]),
    h[b + H_EXT_LEN] === 0 ? null : pull._extOf(h[b + H_EXT_AT], h[b + H_EXT_LEN]),
  )
}

/** A pull subscription (consumer group): poll for messages and settle them. */
class Pull {
  constructor(n, topic) {
    this._n = n
    // Plain N-API functions for the per-message calls, and the header
    // array they describe taken messages in.
    const f = n.bind()
    this._takeBuf = f.take
    this._takeInto = f.takeInto
    this._ack = f.ack
    this._ackMany = f.ackMany
    this._note = f.note
    this._ext = f.ext
    this._hdr = f.hdr
    this.topic = topic
    this._closed = false
    this._slot = topic._slotSize
    this._newPool()
    // Raw batches' headers and arrays (see _takeRaw), and the tags of a
    // raw batch's ackAll.
    this._meta = null
    this._metaOff = META_POOL_SIZE
    this._rawTags = new Float64Array(2 * TAKE_MAX)
  }

  get group() {
    return this._n.group
  }

  /** [reason, group] of the dead-letter note a take's record calls k (1-based). */
  _noteOf(k) {
    try {
      return this._note(k - 1)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** [msgId | null, name, value, …] of the last take's extension at `at`. */
  _extOf(at, len) {
    try {
      return this._ext(at, len)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Takes up to max ready messages into out; returns how many. */
  _take(max, out) {
    let total = 0
    while (max > 0) {
      const n = this._takeSome(max < TAKE_MAX ? max : TAKE_MAX, out)
      total += n
      max -= n
      if (n < TAKE_MAX) break
    }
    return total
  }

  _takeSome(max, out) {
    const size = this._slot
    if (size > POOL_ITEM_MAX) return this._takeBuffer(max, out)
    if (this._poolOff + size > POOL_SIZE) this._newPool()
    const fit = Math.floor((POOL_SIZE - this._poolOff) / size)
    let n
    try {
      n = this._takeInto(max < fit ? max : fit, this._pool, this._poolOff)
    } catch (e) {
      throw fromNative(e)
    }
    const h = this._hdr
    const ab = this._pool.buffer
    let off = this._poolOff
    for (let i = 0, b = H_FIRST; i < n; i++, b += H_STRIDE) {
      const len = h[b + H_LEN]
      out.push(newMessage(this, h, b, ab, off, len))
      off += len
    }
    this._poolOff = (off + 7) & ~7
    return n
  }

  /** As _take, with the payloads in one new Buffer (large slots). */
  _takeBuffer(max, out) {
    let buf
    try {
      buf = this._takeBuf(max)
    } catch (e) {
      throw fromNative(e)
    }
    if (buf === null) return 0
    const h = this._hdr
    const n = h[H_COUNT]
    const ab = buf.buffer
    let off = buf.byteOffset
    for (let i = 0, b = H_FIRST; i < n; i++, b += H_STRIDE) {
      const len = h[b + H_LEN]
      out.push(newMessage(this, h, b, ab, off, len))
      off += len
    }
    return n
  }

  _newPool() {
    // Slow: a Buffer of its own (offset 0 in its ArrayBuffer), not a slice
    // of Node's shared pool.
    this._pool = Buffer.allocUnsafeSlow(POOL_SIZE)
    this._poolOff = 0
  }

  _takeOne() {
    const size = this._slot
    if (size > POOL_ITEM_MAX) {
      const out = []
      return this._takeBuffer(1, out) === 0 ? null : out[0]
    }
    if (this._poolOff + size > POOL_SIZE) this._newPool()
    let n
    try {
      n = this._takeInto(1, this._pool, this._poolOff)
    } catch (e) {
      throw fromNative(e)
    }
    if (n === 0) return null
    const h = this._hdr
    const off = this._poolOff
    const len = h[H_FIRST + H_LEN]
    this._poolOff = (off + len + 7) & ~7
    return newMessage(this, h, H_FIRST, this._pool.buffer, off, len)
  }

  /** The next message if one is ready, else null; never waits. */
  tryPoll() {
    return this._takeOne()
  }

  /** Up to max ready messages (maybe none); never waits. */
  tryPollBatch(max = 256) {
    int(max, 'pollBatch max', 1, 1 << 20)
    const out = []
    this._take(max, out)
    return out
  }

  /**
   * The next message, waiting up to timeoutMs (undefined: for ever) off the
   * JS thread; null on timeout. `{ signal }`: an AbortSignal whose abort
   * ends the wait, rejecting with its reason, having taken nothing.
   */
  poll(timeoutMs, opts) {
    // Not an async function: a ready message costs one resolved Promise.
    let t, m, signal
    try {
      t = timeoutArg(timeoutMs, 'poll timeoutMs')
      if (opts !== undefined) {
        signal = waitSignal(opts, 'poll')
        if (signal !== undefined && signal.aborted) return Promise.reject(signal.reason)
      }
      m = this._takeOne()
    } catch (e) {
      return Promise.reject(e)
    }
    if (m !== null || t === 0) return Promise.resolve(m)
    return this._pollWait(t, signal)
  }

  _pollWait(t, signal) {
    return this._waitFor(1, t, signal, () => this._takeOne(), (m) => m === null)
  }

  /**
   * The waiting part of poll, pollBatch and pollRaw: waits off the JS
   * thread up to t ms (below 0: for ever), then take()s, until take()
   * answers something not isEmpty, the time is up (answering the empty
   * take) or the signal aborts (throwing its reason, having taken nothing).
   */
  async _waitFor(max, t, signal, take, isEmpty) {
    const armed = Armed.of(signal)
    try {
      const until = t < 0 ? Infinity : Date.now() + t
      for (;;) {
        const left = until === Infinity ? -1 : Math.max(0, until - Date.now())
        const r = await this._wait(max, left, armed)
        if (armed !== null && signal.aborted) this._aborted(r, signal)
        const got = take()
        if (!isEmpty(got) || r === 0 || Date.now() >= until) return got
      }
    } finally {
      if (armed !== null) armed.disarm()
    }
  }

  /**
   * Up to max messages: waits up to timeoutMs (undefined: for ever) for the
   * first, then takes what is ready. An empty array on timeout. `{ signal }`
   * as for poll.
   */
  async pollBatch(max = 256, timeoutMs, opts) {
    int(max, 'pollBatch max', 1, 1 << 20)
    const t = timeoutArg(timeoutMs, 'pollBatch timeoutMs')
    const signal = opts === undefined ? undefined : waitSignal(opts, 'pollBatch')
    if (signal !== undefined && signal.aborted) throw signal.reason
    const out = []
    if (this._take(max, out) > 0 || t === 0) return out
    return this._waitFor(
      max,
      t,
      signal,
      () => {
        this._take(max, out)
        return out
      },
      (o) => o.length === 0,
    )
  }

  /**
   * A call whose signal aborted after its wait had stashed `got`
   * deliveries (between the wait's end and this continuation): it takes
   * them and lets them go back for redelivery at once, then throws the
   * signal's reason.
   */
  _aborted(got, signal) {
    if (got > 0) {
      const out = []
      try {
        this._take(got, out)
      } catch {
        // Closed meanwhile: the stash went with the subscription.
      }
      for (const m of out) {
        try {
          m.requeue()
        } catch {
          // Closed meanwhile: the message is let go with its subscription.
        }
      }
    }
    throw signal.reason
  }

  /**
   * Up to max (at most 256) ready messages as one RawBatch, maybe empty;
   * never waits. No object per message: the fastest way to consume.
   */
  tryPollRaw(max = TAKE_MAX) {
    int(max, 'pollRaw max', 1, TAKE_MAX)
    return this._takeRaw(max)
  }

  /**
   * As tryPollRaw, waiting up to timeoutMs (default: for ever) for the
   * first message. `{ signal }` as for poll.
   */
  async pollRaw(max = TAKE_MAX, timeoutMs, opts) {
    int(max, 'pollRaw max', 1, TAKE_MAX)
    const t = timeoutArg(timeoutMs, 'pollRaw timeoutMs')
    const signal = opts === undefined ? undefined : waitSignal(opts, 'pollRaw')
    if (signal !== undefined && signal.aborted) throw signal.reason
    const b = this._takeRaw(max)
    if (b.length > 0 || t === 0) return b
    return this._waitFor(max, t, signal, () => this._takeRaw(max), (r) => r.length === 0)
  }

  _takeRaw(max) {
    const size = this._slot
    let n
    let ab
    let base
    if (size > POOL_ITEM_MAX) {
      let buf
      try {
        buf = this._takeBuf(max)
      } catch (e) {
        throw fromNative(e)
      }
      if (buf === null) return new RawBatch(this, null, 0, null, 0)
      n = this._hdr[H_COUNT]
      ab = buf.buffer
      base = buf.byteOffset
    } else {
      if (this._poolOff + size > POOL_SIZE) this._newPool()
      const fit = Math.floor((POOL_SIZE - this._poolOff) / size)
      try {
        n = this._takeInto(max < fit ? max : fit, this._pool, this._poolOff)
      } catch (e) {
        throw fromNative(e)
      }
      if (n === 0) return new RawBatch(this, null, 0, null, 0)
      ab = this._pool.buffer
      base = this._poolOff
    }
    // The batch's copy of the header, its offsets, lengths and settled
    // flags: views of one pool ArrayBuffer shared by the batches of the
    // subscription (arrays of their own would each cost a native
    // allocation, zeroed, and its sweeping later).
    const hn = H_FIRST + H_STRIDE * n
    const need = hn * 8 + n * 9
    if (this._metaOff + need > META_POOL_SIZE) {
      this._meta = Buffer.allocUnsafeSlow(META_POOL_SIZE).buffer
      this._metaOff = 0
    }
    const meta = this._meta
    let at = this._metaOff
    const hdr = new Float64Array(meta, at, hn)
    hdr.set(this._hdr.subarray(0, hn))
    at += hn * 8
    const offsets = new Uint32Array(meta, at, n)
    at += n * 4
    const lengths = new Uint32Array(meta, at, n)
    at += n * 4
    const settled = new Uint8Array(meta, at, n).fill(0)
    this._metaOff = (at + n + 7) & ~7
    const batch = new RawBatch(this, hdr, n, ab, base, offsets, lengths, settled)
    if (size <= POOL_ITEM_MAX) this._poolOff = (base + batch.data.length + 7) & ~7
    return batch
  }

  /**
   * Waits off the JS thread for up to max deliveries; their number. With
   * `armed` (an Armed), its signal's abort ends the wait with its reason.
   */
  async _wait(max, timeoutMs, armed) {
    try {
      return await this._n.wait(max, timeoutMs, armed?.n)
    } catch (e) {
      throw armed ? armed.error(e) : fromNative(e)
    }
  }

  /** Acks every unsettled message of the array in one call. */
  ackAll(messages) {
    if (!Array.isArray(messages)) throw invalid(`ackAll needs an array of messages, got ${describe(messages)}`)
    const tags = new Float64Array(messages.length * 2)
    let n = 0
    for (const m of messages) {
      if (!(m instanceof Message) || m._pull !== this) {
        throw invalid('ackAll: every item must be a message of this subscription')
      }
    }
    for (const m of messages) {
      if (m._settled) continue
      m._settled = true
      tags[2 * n] = m._tagHi
      tags[2 * n + 1] = m._tagLo
      n++
    }
    try {
      this._ackMany(tags, n)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Counters of this subscription (a plain object). */
  stats() {
    return this._n.stats()
  }

  /** Removes the subscription; messages still held are redelivered to nobody. */
  unsubscribe() {
    this._closed = true
    try {
      this._n.unsubscribe()
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** `for await (const m of pull)`: ends when the subscription or broker closes. */
  [Symbol.asyncIterator]() {
    return this._iterate(undefined)
  }

  /**
   * The messages, as `for await (const m of pull.messages({ signal }))`:
   * ends when the subscription or broker closes; an abort of `signal` ends
   * it by throwing the signal's reason (as Node's own iterators with a
   * signal do), having taken nothing more.
   */
  messages(opts) {
    const o = options(opts, 'messages', ['signal'])
    return this._iterate(signalArg(o.signal, 'messages signal'))
  }

  async *_iterate(signal) {
    const opts = signal === undefined ? undefined : { signal }
    while (!this._closed) {
      let m
      try {
        m = await this.poll(1000, opts)
      } catch (e) {
        if (signal !== undefined && signal.aborted && e === signal.reason) throw e
        if (e instanceof RingMQError && e.code === 'CLOSED') return
        throw e
      }
      if (m !== null) yield m
    }
  }
}

/**
 * A push subscription: the handler runs on the JS thread for each message.
 * An EventEmitter: a handler's failure (a throw or rejection other than
 * Retry and Term) is emitted as 'error' (err, message), or written with
 * console.error when nothing listens.
 */
class Subscription extends EventEmitter {
  constructor(n, topic, registry, state) {
    super()
    this._n = n
    this._state = state
    this.topic = topic
    // The dispatcher is unreferenced: an idle subscription never keeps the
    // process alive. A publish to its topic references it until the
    // subscription has nothing left to do (checked every IDLE_CHECK_MS),
    // so work handed to it is handled before the process exits.
    this._registry = registry
    this._reffed = false
    this._closed = false
    this._timer = null
    this._check = () => {
      this._timer = null
      if (!this._closed && this._n.busy()) {
        this._timer = setTimeout(this._check, IDLE_CHECK_MS)
        return
      }
      this._release()
    }
  }

  _wake() {
    if (this._reffed || this._closed) return
    this._reffed = true
    this._n.setRef(true)
    this._timer = setTimeout(this._check, IDLE_CHECK_MS)
  }

  _release() {
    if (this._timer !== null) {
      clearTimeout(this._timer)
      this._timer = null
    }
    if (this._reffed) {
      this._reffed = false
      this._n.setRef(false)
    }
  }

  _close() {
    this._state.stopped = true
    this._closed = true
    this._release()
    const i = this._registry.indexOf(this)
    if (i >= 0) this._registry.splice(i, 1)
  }

  get group() {
    return this._n.group
  }

  stats() {
    return this._n.stats()
  }

  /** A handler's failure: 'error' to the listeners, else console.error. */
  _failed(err, msg) {
    try {
      if (this.listenerCount('error') > 0) {
        this.emit('error', err, msg)
      } else {
        console.error(`ringmq: handler of ${this.topic.name}/${this.group} failed on message ${msg.id}:`, err)
      }
    } catch (e) {
      // A listener that throws must not stop the dispatch.
      console.error('ringmq: an error listener threw:', e)
    }
  }

  /**
   * Stops the handlers: none is called once this is called. Resolves when
   * the engine has removed the subscription; it does not wait for handlers
   * in progress (an async handler may await its own subscription's
   * unsubscribe). Rejects with code 'CLOSED' after the broker has closed.
   */
  async unsubscribe() {
    this._state.stopped = true
    try {
      await this._n.unsubscribe()
    } catch (e) {
      throw fromNative(e)
    } finally {
      this._close()
    }
  }
}

// ---- topics and the broker -------------------------------------------------

const IDLE_CHECK_MS = 20
const PUBLISH_OPTIONS = ['key', 'timeoutMs', 'headers', 'msgId', 'delayMs', 'ttlMs']
const PUBLISH_ASYNC_OPTIONS = ['key', 'timeoutMs', 'signal']

// Option names (camelCase, durations in Ms) and spellings, as the engine
// declares them.
const optionNames = (scope) => SURFACE.options[scope].map((o) => o.name)
const BROKER_OPTIONS = optionNames('broker')
const TOPIC_OPTIONS = optionNames('topic')
const SUB_OPTIONS = optionNames('sub')
const OVERFLOWS = SURFACE.overflow
const STARTS = SURFACE.start
const EXPIREDS = SURFACE.options.topic.find((o) => o.name === 'expired').choices
const FSYNCS = SURFACE.options.topic.find((o) => o.name === 'fsync').choices

function oneOf(v, name, allowed) {
  if (v !== undefined && !allowed.includes(v)) {
    throw invalid(`${name} ${describe(v)} is not one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`)
  }
  return v
}

function subOptions(opts, what) {
  const o = options(opts, what, SUB_OPTIONS)
  oneOf(o.start, 'start', STARTS)
  return {
    concurrency: optInt(o.concurrency, 'concurrency', 1, 65536),
    orderedByKey: optBool(o.orderedByKey, 'orderedByKey'),
    lossy: optBool(o.lossy, 'lossy'),
    start: o.start,
    maxInFlightPerKey: optInt(o.maxInFlightPerKey, 'maxInFlightPerKey', 0, 2 ** 32 - 1),
    rateLimit: optRate(o.rateLimit, 'rateLimit'),
    rateBurst: optInt(o.rateBurst, 'rateBurst', 0, 2 ** 32 - 1),
    ...startAtId(o.startAtId),
    startAtTimeMs: optTime(o.startAtTime, 'startAtTime'),
  }
}

/** The addon's halves of startAtId (a safe integer or a bigint). */
function startAtId(v) {
  if (v === undefined) return {}
  const [startAtIdHi, startAtIdLo] = split64(v, 'startAtId')
  return { startAtIdHi, startAtIdLo }
}

/** A named ring of slots that any code of the process publishes into. */
/**
 * Flow control, the same on Pull and Subscription (both wrap a native
 * subscription handle as `_n`): pause() stops taking new messages (their
 * lag grows; messages in flight and retries go on), resume() takes them
 * again, `paused` tells which, and whyIdle() says why nothing would be
 * handed over now, as texts ('paused', 'nothing published', 'rate-limited:
 * …', 'keys at their cap: …', …), empty when something would.
 */
const FlowControl = {
  pause() {
    try {
      this._n.pause()
    } catch (e) {
      throw fromNative(e)
    }
  },
  resume() {
    try {
      this._n.resume()
    } catch (e) {
      throw fromNative(e)
    }
  },
  get paused() {
    return this._n.isPaused()
  },
  whyIdle() {
    return this._n.whyIdle()
  },
}
for (const cls of [Pull, Subscription]) {
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(FlowControl))) {
    Object.defineProperty(cls.prototype, name, { ...d, enumerable: false })
  }
}

class Topic {
  constructor(n, broker) {
    this._n = n
    const f = n.bind()
    this._publish = f.publish
    this._publishMany = f.publishMany
    this._publishPacked = f.publishPacked
    this.broker = broker
    this.name = n.name
    // Push subscriptions of this topic and of its dead-letter topic, shared
    // by every Topic object of this name: a publish wakes them.
    this._subs = broker._pushSubs(this.name)
    this._dlqSubs = broker._pushSubs(`${this.name}.dlq`)
    const o = n.options()
    this._slotSize = o.slotSize
    this._capacity = o.capacity
    // publishMany copies small items into this staging Buffer and hands
    // them over in one call (cheaper than reading them one by one).
    this._stage = null
    this._lens = null
  }

  /** The topic's options, as created. */
  options() {
    return this._n.options()
  }

  /**
   * Publishes one message; returns its id (a number). Never waits: a full
   * ring answers FULL (reject), TIMEOUT (block: use publishAsync to wait for
   * room) or overwrites the oldest (drop_oldest).
   */
  publish(data, opts) {
    if (!(data instanceof Uint8Array) || data.byteLength === 0) dataArg(data, 'publish data')
    let key = 0
    if (opts !== undefined) {
      const o = options(opts, 'publish', PUBLISH_OPTIONS)
      if (o.headers !== undefined || o.msgId !== undefined || o.delayMs !== undefined || o.ttlMs !== undefined) {
        return this._publishOpts(data, o)
      }
      if (o.timeoutMs !== undefined && millis(o.timeoutMs, 'publish timeoutMs') !== 0) {
        throw invalid('publish never waits on the JS thread: use publishAsync(data, { timeoutMs }) to wait for room')
      }
      if (o.key !== undefined) {
        if (typeof o.key !== 'number' || !Number.isSafeInteger(o.key) || o.key < 0) {
          const [hi, lo] = splitKey(o.key)
          let id
          try {
            id = this._n.publishSplit(data, hi, lo)
          } catch (e) {
            throw fromNative(e)
          }
          if (this._subs.length !== 0 || this._dlqSubs.length !== 0) this._wake()
          return id
        }
        key = o.key
      }
    }
    let id
    try {
      id = this._publish(data, key)
    } catch (e) {
      throw fromNative(e)
    }
    if (this._subs.length !== 0 || this._dlqSubs.length !== 0) this._wake()
    return id
  }

  /** publish with headers, msgId, delayMs or ttlMs: every argument checked first. */
  _publishOpts(data, o) {
    if (o.timeoutMs !== undefined && millis(o.timeoutMs, 'publish timeoutMs') !== 0) {
      throw invalid('publish never waits on the JS thread: use publishAsync(data, { timeoutMs }) to wait for room')
    }
    const [hi, lo] = splitKey(o.key)
    const names = []
    const values = []
    if (o.headers !== undefined) {
      const hs = o.headers
      if (hs === null || typeof hs !== 'object' || Array.isArray(hs) || hs instanceof Uint8Array) {
        throw invalid(`publish headers must be an object of name -> Buffer or string, got ${describe(hs)}`)
      }
      for (const name of Object.keys(hs)) {
        names.push(name)
        values.push(bytesArg(hs[name], `header ${JSON.stringify(name)}`))
      }
    }
    const msgId = o.msgId === undefined ? null : bytesArg(o.msgId, 'publish msgId')
    const delay = o.delayMs === undefined ? -1 : millis(o.delayMs, 'publish delayMs')
    const ttl = o.ttlMs === undefined ? -1 : millis(o.ttlMs, 'publish ttlMs')
    let id
    try {
      id = this._n.publishOpts(data, hi, lo, names, values, msgId, delay, ttl)
    } catch (e) {
      throw fromNative(e)
    }
    if (this._subs.length !== 0 || this._dlqSubs.length !== 0) this._wake()
    return id
  }

  /**
   * Publishes after waiting off the JS thread for room; the first id. An
   * abort of `signal` during the wait rejects with its reason, having
   * published nothing; a publish that found room first resolves (it cannot
   * be taken back).
   */
  async _publishWait(items, hi, lo, timeoutMs, signal) {
    const armed = Armed.of(signal)
    try {
      return await this._n.publishWait(items, hi, lo, timeoutMs, armed?.n)
    } catch (e) {
      throw armed ? armed.error(e) : fromNative(e)
    } finally {
      armed?.disarm()
    }
  }

  /** References the dispatchers of the push subscriptions that a publish gave work. */
  _wake() {
    for (const s of this._subs) s._wake()
    for (const s of this._dlqSubs) s._wake()
  }

  /**
   * Publishes one message, waiting off the JS thread up to timeoutMs
   * (undefined: for ever) for room when the ring is full under `block`.
   * `signal`: an AbortSignal whose abort ends the wait, rejecting with its
   * reason, having published nothing.
   */
  async publishAsync(data, opts) {
    dataArg(data, 'publishAsync data')
    const o = options(opts, 'publishAsync', PUBLISH_ASYNC_OPTIONS)
    const [hi, lo] = splitKey(o.key)
    const t = timeoutArg(o.timeoutMs, 'publishAsync timeoutMs')
    const signal = signalArg(o.signal, 'publishAsync signal')
    if (signal !== undefined && signal.aborted) throw signal.reason
    let id
    try {
      id = this._n.publishSplit(data, hi, lo)
    } catch (e) {
      const err = fromNative(e)
      if (err.code !== 'TIMEOUT' || t === 0) throw err
    }
    if (id === undefined) {
      id = await this._publishWait([data], hi, lo, t, signal)
    }
    this._wake()
    return id
  }

  /**
   * Publishes every item in one claim (all or nothing, at most `capacity`
   * items); returns their ids. Never waits, as publish.
   */
  publishMany(items, opts) {
    this._checkItems(items, 'publishMany')
    let hi = 0
    let lo = 0
    if (opts !== undefined) {
      const o = options(opts, 'publishMany', ['key', 'timeoutMs'])
      if (o.timeoutMs !== undefined && millis(o.timeoutMs, 'publishMany timeoutMs') !== 0) {
        throw invalid('publishMany never waits on the JS thread: use publishManyAsync(items, { timeoutMs })')
      }
      ;[hi, lo] = splitKey(o.key)
    }
    let first
    try {
      first = this._publishItems(items, hi, lo)
    } catch (e) {
      throw fromNative(e)
    }
    this._wake()
    return idRange(first, items.length)
  }

  _publishItems(items, hi, lo) {
    const n = items.length
    if (n > STAGE_ITEMS || n > this._capacity || this._slotSize > STAGE_ITEM_MAX) {
      return this._publishMany(items, hi, lo)
    }
    if (this._stage === null) {
      this._stage = Buffer.allocUnsafeSlow(STAGE_ITEMS * Math.min(this._slotSize, STAGE_ITEM_MAX))
      this._lens = new Uint32Array(STAGE_ITEMS)
    }
    const stage = this._stage
    const lens = this._lens
    let off = 0
    for (let i = 0; i < n; i++) {
      const it = items[i]
      const len = it.length
      // Too large for a slot: the engine's own check answers (TOO_LARGE).
      if (off + len > stage.length) return this._publishMany(items, hi, lo)
      stage.set(it, off)
      lens[i] = len
      off += len
    }
    return this._publishPacked(stage, lens, n, hi, lo)
  }

  /**
   * Publishes lengths.length messages laid back to back in data, in one
   * claim (all or nothing, at most `capacity`); returns the first id (the
   * others follow it). The fastest way to publish many small messages.
   * Never waits, as publish.
   */
  publishPacked(data, lengths, opts) {
    dataArg(data, 'publishPacked data')
    if (!(lengths instanceof Uint32Array)) {
      if (!Array.isArray(lengths)) {
        throw invalid(`publishPacked lengths must be a Uint32Array or an array, got ${describe(lengths)}`)
      }
      for (let i = 0; i < lengths.length; i++) int(lengths[i], `publishPacked lengths[${i}]`, 0, 2 ** 32 - 1)
      lengths = Uint32Array.from(lengths)
    }
    let hi = 0
    let lo = 0
    if (opts !== undefined) {
      const o = options(opts, 'publishPacked', ['key'])
      ;[hi, lo] = splitKey(o.key)
    }
    let first
    try {
      first = this._publishPacked(data, lengths, lengths.length, hi, lo)
    } catch (e) {
      throw fromNative(e)
    }
    this._wake()
    return first
  }

  /**
   * As publishMany, waiting off the JS thread up to timeoutMs for room;
   * `signal` as for publishAsync (all or nothing: an aborted call
   * published none of the items).
   */
  async publishManyAsync(items, opts) {
    this._checkItems(items, 'publishManyAsync')
    const o = options(opts, 'publishManyAsync', PUBLISH_ASYNC_OPTIONS)
    const [hi, lo] = splitKey(o.key)
    const t = timeoutArg(o.timeoutMs, 'publishManyAsync timeoutMs')
    const signal = signalArg(o.signal, 'publishManyAsync signal')
    if (signal !== undefined && signal.aborted) throw signal.reason
    let first
    try {
      first = this._publishItems(items, hi, lo)
    } catch (e) {
      const err = fromNative(e)
      if (err.code !== 'TIMEOUT' || t === 0) throw err
    }
    if (first === undefined) {
      first = await this._publishWait(items, hi, lo, t, signal)
    }
    this._wake()
    return idRange(first, items.length)
  }

  _checkItems(items, what) {
    if (!Array.isArray(items)) throw invalid(`${what} needs an array of Buffers, got ${describe(items)}`)
    for (let i = 0; i < items.length; i++) {
      const it = items[i]
      if (!(it instanceof Uint8Array)) {
        throw invalid(`${what} item ${i} must be a Buffer or Uint8Array, got ${describe(it)}`)
      }
      if (it.byteLength === 0 && isDetached(it.buffer)) throw detachedArg(`${what} item ${i}`)
    }
  }

  /**
   * A push subscription: handler(msg) runs on the JS thread for each message.
   * Returning (or resolving) acks; throwing (or rejecting) nacks, keeping
   * the error's text as stats().lastError.
   */
  subscribe(group, handler, opts) {
    nameArg(group, 'group')
    if (typeof handler !== 'function') throw invalid(`subscribe handler must be a function, got ${describe(handler)}`)
    const so = subOptions(opts, 'subscribe')
    let fns = null
    const broker = this.broker
    // Set when unsubscribe() is called and when the broker has closed: a
    // batch the pool queued before then but that reaches the JS thread
    // after it calls no handler (its messages are let go; the engine
    // settles nothing for a stopped subscription).
    const state = { stopped: false }
    const complete = (token, err) => fns.complete(token, err)
    const origin = { topic: this.name, group }
    let subscription = null
    // A handler's throw or rejection: Retry and Term ask for their
    // outcome; anything else is a failure (the backoff), also reported.
    const fail = (token, e, msg) => {
      if (e instanceof Retry) {
        fns.complete(token, e.message, 1, e.ms)
      } else if (e instanceof Term) {
        fns.complete(token, e.reason, 2, 0)
      } else {
        complete(token, errorText(e))
        if (subscription !== null) subscription._failed(e, msg)
      }
    }
    const run = (token, msg) => {
      if (state.stopped) {
        complete(token, 'the subscription was stopped before its handler ran')
        return
      }
      let r
      const outer = handlerOf
      handlerOf = broker
      try {
        r = handler(msg)
      } catch (e) {
        handlerOf = outer
        fail(token, e, msg)
        return
      }
      handlerOf = outer
      if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
        Promise.resolve(r).then(
          () => complete(token, null),
          (e) => fail(token, e, msg),
        )
      } else {
        complete(token, null)
      }
    }
    // Called once per batch the pool gathered: M_STRIDE numbers per
    // message in meta, payloads back to back in data, and the batch's
    // dead-letter notes (reason, group, …) or null when none has one.
    // The batch's headers and msgIds come as names, value lengths and
    // bytes (msgId then values, per message), all null when none has any.
    const dispatch = (meta, data, count, notes, extNames, extLens, extBytes) => {
      const ab = data.buffer
      let off = data.byteOffset
      let hi = 0
      let bo = 0
      for (let i = 0, b = 0; i < count; i++, b += M_STRIDE) {
        let ext = null
        const idLen = meta[b + M_MSG_ID]
        const nh = meta[b + M_HEADERS]
        if (idLen !== 0 || nh !== 0) {
          ext = new Array(1 + 2 * nh)
          ext[0] = idLen === 0 ? null : extBytes.subarray(bo, bo + idLen - 1)
          if (idLen !== 0) bo += idLen - 1
          for (let j = 0; j < nh; j++, hi++) {
            const vlen = extLens[hi]
            ext[1 + 2 * j] = extNames[hi]
            ext[2 + 2 * j] = extBytes.subarray(bo, bo + vlen)
            bo += vlen
          }
        }
        const len = meta[b + M_LEN]
        const payload = Buffer.from(ab, off, len)
        off += len
        const k = meta[b + M_NOTE]
        const msg = new PushMessage(
          meta[b + M_ID],
          meta[b + M_KEY_HI],
          meta[b + M_KEY_LO],
          meta[b + M_TS_HI],
          meta[b + M_TS_LO],
          meta[b + M_ATTEMPT],
          payload,
          k === 0 ? null : notes[2 * k - 2],
          k === 0 ? null : notes[2 * k - 1],
          ext,
          origin,
        )
        run(meta[b + M_TOKEN], msg)
      }
    }
    let sub
    try {
      sub = this._n.subscribe(group, so, dispatch)
      fns = sub.bind()
    } catch (e) {
      throw fromNative(e)
    }
    const registry = this.broker._pushSubs(this.name)
    subscription = new Subscription(sub, this, registry, state)
    registry.push(subscription)
    return subscription
  }

  /** Creates the pull subscription (consumer group) `group`. */
  pull(group, opts) {
    nameArg(group, 'group')
    const so = subOptions(opts, 'pull')
    try {
      return new Pull(this._n.subscribePull(group, so), this)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** The existing pull subscription `group`: another consumer of it. */
  pullSubscription(group) {
    nameArg(group, 'group')
    try {
      return new Pull(this._n.pullSubscription(group), this)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** The dead-letter topic `<name>.dlq` (null for a dead-letter topic). */
  deadLetterTopic() {
    const n = this._n.deadLetterTopic()
    return n === null || n === undefined ? null : new Topic(n, this.broker)
  }

  /** published, rejected, timedOut, dropped, depth, capacity, subscriptions. */
  stats() {
    return this._n.stats()
  }

  /** Stats of every subscription, by group. */
  subscriptionStats() {
    const out = {}
    for (const { group, stats } of this._n.subscriptionStats()) out[group] = stats
    return out
  }
}

function idRange(first, n) {
  const ids = new Array(n)
  for (let i = 0; i < n; i++) ids[i] = first + i
  return ids
}

// The native handle `Broker.open` hands to the constructor (see there).
let openedNative = null

/** One engine instance: topics and the worker pool. */
class Broker {
  constructor(opts) {
    const o = options(opts, 'Broker', BROKER_OPTIONS)
    this._push = new Map()
    // Calls of close in progress that drain.
    this._draining = 0
    try {
      this._n = openedNative !== null ? openedNative : new native.NativeBroker({
        workersMin: optInt(o.workersMin, 'workersMin', 0, 1024),
        workersMax: optInt(o.workersMax, 'workersMax', 1, 1024),
        idleTimeoutMs: optMillis(o.idleTimeoutMs, 'idleTimeoutMs'),
        dataDir: optPath(o.dataDir, 'dataDir'),
        repair: optBool(o.repair, 'repair'),
        name: o.name === undefined ? undefined : nameArg(o.name, 'broker'),
      })
    } catch (e) {
      throw fromNative(e)
    }
  }

  /**
   * Another handle to the broker created with `new Broker({ name })` in this
   * process, from this thread or any worker_threads worker (each gets its
   * own handle to the one engine). Throws NOT_FOUND when there is none,
   * CLOSED while it closes. The broker stops when its last handle is closed
   * (or its thread exits); `close` on one handle of several only releases
   * that handle and unsubscribes the push subscriptions made through it
   * (their handlers run on this thread), with `handlesLeft` > 0.
   */
  static open(name) {
    nameArg(name, 'broker')
    try {
      openedNative = native.NativeBroker.open(name)
      return new this()
    } catch (e) {
      throw fromNative(e)
    } finally {
      openedNative = null
    }
  }

  /** The name the broker is registered under (`new Broker({ name })`), else null. */
  get name() {
    return this._n.name ?? null
  }

  /** Creates topic `name` and its dead-letter topic `<name>.dlq`. */
  createTopic(name, opts) {
    nameArg(name, 'topic')
    const o = options(opts, 'createTopic', TOPIC_OPTIONS)
    oneOf(o.overflow, 'overflow', OVERFLOWS)
    oneOf(o.expired, 'expired', EXPIREDS)
    oneOf(o.fsync, 'fsync', FSYNCS)
    const to = {
      capacity: optInt(o.capacity, 'capacity', 1, 2 ** 24),
      slotSize: optInt(o.slotSize, 'slotSize', 1, 2 ** 24),
      overflow: o.overflow,
      maxAttempts: optInt(o.maxAttempts, 'maxAttempts', 1, 2 ** 32 - 1),
      backoffBaseMs: optMillis(o.backoffBaseMs, 'backoffBaseMs'),
      backoffMaxMs: optMillis(o.backoffMaxMs, 'backoffMaxMs'),
      ackTimeoutMs: optMillis(o.ackTimeoutMs, 'ackTimeoutMs'),
      retryCapacity: optInt(o.retryCapacity, 'retryCapacity', 0, 2 ** 24),
      maxHeaderBytes: optInt(o.maxHeaderBytes, 'maxHeaderBytes', 0, 65535),
      maxDelayed: optInt(o.maxDelayed, 'maxDelayed', 0, 2 ** 30),
      maxAgeMs: optMillis(o.maxAgeMs, 'maxAgeMs'),
      expired: o.expired,
      dedupeWindowMs: optMillis(o.dedupeWindowMs, 'dedupeWindowMs'),
      dedupeMax: optInt(o.dedupeMax, 'dedupeMax', 0, 2 ** 26),
      durable: optBool(o.durable, 'durable'),
      fsync: o.fsync,
      fsyncIntervalMs: optMillis(o.fsyncIntervalMs, 'fsyncIntervalMs'),
      segmentBytes: optInt(o.segmentBytes, 'segmentBytes', 4096, 2 ** 40),
      maxBytes: optInt(o.maxBytes, 'maxBytes', 0, 2 ** 53),
    }
    try {
      return new Topic(this._n.createTopic(name, to), this)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** The existing topic `name` (dead-letter topics included). */
  topic(name) {
    nameArg(name, 'topic')
    try {
      return new Topic(this._n.topic(name), this)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** The push subscriptions of topic `name` (shared, live array). */
  _pushSubs(name) {
    let subs = this._push.get(name)
    if (subs === undefined) {
      subs = []
      this._push.set(name, subs)
    }
    return subs
  }

  /** Names of every topic, sorted. */
  topicNames() {
    return this._n.topicNames()
  }

  /** Every metric in the Prometheus text exposition format. */
  metricsText() {
    return this._n.metricsText()
  }

  /** workers, busy, idle, panics, grown, shrunk, utilisation, target. */
  poolStats() {
    return this._n.poolStats()
  }

  get closed() {
    return this._n.isClosed()
  }

  /**
   * Stops publishes (CLOSED), lets pending messages drain for up to drainMs
   * (default 5000) while handlers keep running, then stops everything.
   * Resolves to what was left undelivered. Idempotent. From one of this
   * broker's push handlers while it runs (an async one before its first
   * await) it does not drain, and it rejects with 'CLOSED' while another
   * close runs (see docs/NODE.md). `{ signal }`: an abort cuts the drain
   * short; the broker still closes fully, and then the call rejects with
   * the signal's reason (a later close resolves to the report). An
   * already aborted signal rejects at once and closes nothing.
   */
  async close(drainMs = 5000, opts) {
    let d = millis(drainMs, 'close drainMs')
    const signal = opts === undefined ? undefined : waitSignal(opts, 'close')
    if (signal !== undefined && signal.aborted) throw signal.reason
    if (handlerOf === this) {
      // From one of this broker's push handlers, whose own message stays
      // outstanding until the handler returns or its promise settles: a
      // drain would wait for it in vain (for all of drainMs when the
      // handler awaits close), and another close may be draining already,
      // waiting for this very handler (a close that does not drain is
      // waited for, as it ends at once).
      if (this._draining > 0) {
        throw new RingMQError(
          'CLOSED',
          'broker is being closed by another call, which waits for this handler to finish',
        )
      }
      d = 0
    }
    const draining = d > 0
    if (draining) this._draining++
    const armed = Armed.of(signal)
    let report
    try {
      report = await this._n.close(d, armed?.n)
    } catch (e) {
      throw fromNative(e)
    } finally {
      armed?.disarm()
      if (draining) this._draining--
      for (const subs of this._push.values()) for (const sub of [...subs]) sub._close()
    }
    // Closed either way; an abort before now rejects, as an aborted call does.
    if (signal !== undefined && signal.aborted) throw signal.reason
    return report
  }
}

const NATS_BRIDGE_OPTIONS = ['id', 'servers', 'exports', 'imports', 'reconnectMinMs', 'reconnectMaxMs']
// Each entry's camelCase key and the configuration's field (docs/NATS.md).
const NATS_EXPORT_KEYS = { topic: 'topic', group: 'group', subject: 'subject', stream: 'stream', maxInFlight: 'max_in_flight' }
const NATS_IMPORT_KEYS = {
  stream: 'stream',
  consumer: 'consumer',
  filterSubject: 'filter_subject',
  topic: 'topic',
  group: 'group',
  batch: 'batch',
}

function natsEntries(list, what, keys) {
  if (list === undefined || list === null) return []
  if (!Array.isArray(list)) throw invalid(`${what} must be an array, got ${describe(list)}`)
  return list.map((entry, i) => {
    const o = options(entry, `${what}[${i}]`, Object.keys(keys))
    const out = {}
    for (const [k, v] of Object.entries(o)) if (v !== undefined) out[keys[k]] = v
    return out
  })
}

/** A bridge's stats with lastError null when there is none (as in SubStats). */
function bridgeStats(s) {
  if (s.lastError === undefined) s.lastError = null
  return s
}

/**
 * A bridge between this broker's topics and NATS JetStream (docs/NATS.md):
 * `exports` copy topics into JetStream subjects, `imports` copy streams into
 * topics. It connects in the background; a bad configuration throws
 * INVALID_ARGUMENT naming the field. Stop it with `await bridge.stop()`.
 */
class NatsBridge {
  constructor(mq, opts) {
    if (!(mq instanceof Broker)) throw invalid(`NatsBridge needs a Broker, got ${describe(mq)}`)
    const o = options(opts, 'NatsBridge', NATS_BRIDGE_OPTIONS)
    const servers = typeof o.servers === 'string' ? [o.servers] : o.servers
    const config = {
      id: o.id,
      servers,
      exports: natsEntries(o.exports, 'exports', NATS_EXPORT_KEYS),
      imports: natsEntries(o.imports, 'imports', NATS_IMPORT_KEYS),
    }
    if (o.reconnectMinMs !== undefined) config.reconnect_min = Math.round(millis(o.reconnectMinMs, 'reconnectMinMs'))
    if (o.reconnectMaxMs !== undefined) config.reconnect_max = Math.round(millis(o.reconnectMaxMs, 'reconnectMaxMs'))
    this.broker = mq
    this._final = null
    this._stopping = null
    try {
      this._n = new native.NativeNatsBridge(mq._n, JSON.stringify(config))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** exported, imported, inFlight, reconnects, deadLettered, connected, lastError. */
  stats() {
    return this._final !== null ? { ...this._final } : bridgeStats(this._n.stats())
  }

  /** Whether stop was called. */
  get stopped() {
    return this._n.isStopped()
  }

  /**
   * Takes nothing new from RingMQ, waits up to drainMs (default 1000) for
   * JetStream's acks of what is in flight, and stops. Resolves to the final
   * stats. Idempotent.
   */
  async stop(drainMs = 1000) {
    const d = millis(drainMs, 'stop drainMs')
    if (this._stopping === null) {
      this._stopping = this._n.stop(d).then(
        (s) => {
          this._final = bridgeStats(s)
          return this._final
        },
        (e) => {
          throw fromNative(e)
        },
      )
    }
    return { ...(await this._stopping) }
  }
}

// ---- how console.log and util.inspect show this package's objects ---------
//
// A few lines of what a reader wants (a message's topic, group, id, key,
// attempt, a preview of its payload, its headers) instead of the internals:
// native handles, bound functions, header arrays and the pool Buffer a
// payload is a view of (which holds other messages' bytes too).

const util = require('node:util')
const INSPECT = util.inspect.custom
/** Payload bytes a preview shows. */
const PREVIEW_BYTES = 64

/** A value inspect shows as the given text (already styled). */
class Shown {
  constructor(text) {
    this.text = text
  }

  [INSPECT]() {
    return this.text
  }
}

/** Whether s, decoded from bytes, reads as text (cut bytes at the end aside). */
function readable(s, cut) {
  const body = cut ? s.replace(/\uFFFD{1,3}$/, '') : s
  return !/[\u0000-\u0008\u000E-\u001F\u007F\uFFFD]/.test(body)
}

/**
 * A payload or header value: quoted text when it reads as UTF-8 text, else
 * hex like a Buffer's; cut after PREVIEW_BYTES; `sized` adds the length.
 */
function preview(buf, options, sized) {
  const n = buf.length
  const cut = n > PREVIEW_BYTES
  const head = cut ? buf.subarray(0, PREVIEW_BYTES) : buf
  const size = cut ? ` … ${n} bytes` : sized ? ` (${n} bytes)` : ''
  const text = head.toString('utf8')
  if (n > 0 && readable(text, cut)) {
    const quoted = util.inspect(cut ? text.replace(/\uFFFD{1,3}$/, '') : text, { colors: false, breakLength: Infinity, maxStringLength: Infinity })
    return new Shown(options.stylize(quoted, 'string') + size)
  }
  return new Shown(options.stylize(`<Buffer${head.length ? ' ' : ''}${head.toString('hex').replace(/(..)(?!$)/g, '$1 ')}${size}>`, 'special'))
}

/**
 * `Name { a: 1, b: 2 }` on one line when it fits in breakLength, else the
 * fields filled into as few indented lines as fit (not one per field).
 */
function inspectAs(name, fields, depth, options, inspect) {
  if (depth < 0) return options.stylize(`[${name}]`, 'special')
  const show = inspect || util.inspect
  const nested = { ...options, depth: options.depth === null ? null : options.depth - 1 }
  const parts = []
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) parts.push(`${k}: ${show(v, nested)}`)
  }
  const width = (t) => util.stripVTControlCharacters(t).length
  const max = Number.isFinite(options.breakLength) ? options.breakLength : 80
  const one = `${name} { ${parts.join(', ')} }`
  if (width(one) <= max && !one.includes('\n')) return one
  const lines = []
  let line = ''
  for (const p of parts) {
    if (line !== '' && 2 + width(line) + 2 + width(p) + 1 > max) {
      lines.push(`${line},`)
      line = p
    } else {
      line = line === '' ? p : `${line}, ${p}`
    }
  }
  lines.push(line)
  return `${name} {\n${lines.map((l) => `  ${l.replace(/\n/g, '\n  ')}`).join('\n')}\n}`
}

/** What a message shows: where it came from, its fields, what it carries. */
function messageFields(m, topic, group, options) {
  const f = { topic, group, id: m.id, key: m.key, attempt: m.attempt, time: new Date(Math.floor(m.timestampMs)) }
  f.data = preview(m.data, options, true)
  if (m._ext !== null) {
    const headers = m.headers
    const names = Object.keys(headers)
    if (names.length > 0) {
      const h = {}
      for (const name of names) h[name] = preview(headers[name], options, false)
      f.headers = h
    }
    if (m.msgId !== null) f.msgId = preview(m.msgId, options, false)
  }
  if (m.error !== null) f.error = m.error
  if (m.deadLetterGroup !== null) f.deadLetterGroup = m.deadLetterGroup
  return f
}

/** A getter's value, or undefined when the object can no longer answer. */
function attempt(get) {
  try {
    return get()
  } catch {
    return undefined
  }
}

Message.prototype[INSPECT] = function (depth, options, inspect) {
  const pull = this._pull
  const f = messageFields(this, pull.topic.name, attempt(() => pull.group), options)
  f.settled = this._settled
  return inspectAs('Message', f, depth, options, inspect)
}

PushMessage.prototype[INSPECT] = function (depth, options, inspect) {
  const o = this._origin || {}
  return inspectAs('PushMessage', messageFields(this, o.topic, o.group, options), depth, options, inspect)
}

RawBatch.prototype[INSPECT] = function (depth, options, inspect) {
  return inspectAs('RawBatch', { length: this.length, bytes: this.data.length }, depth, options, inspect)
}

Pull.prototype[INSPECT] = function (depth, options, inspect) {
  const f = { topic: this.topic.name, group: attempt(() => this.group) }
  if (this._closed) f.closed = true
  else f.paused = attempt(() => this.paused)
  return inspectAs('Pull', f, depth, options, inspect)
}

Subscription.prototype[INSPECT] = function (depth, options, inspect) {
  const f = { topic: this.topic.name, group: attempt(() => this.group) }
  if (this._closed) f.closed = true
  else f.paused = attempt(() => this.paused)
  return inspectAs('Subscription', f, depth, options, inspect)
}

Topic.prototype[INSPECT] = function (depth, options, inspect) {
  const f = { name: this.name, capacity: this._capacity, slotSize: this._slotSize }
  return inspectAs('Topic', f, depth, options, inspect)
}

Broker.prototype[INSPECT] = function (depth, options, inspect) {
  const closed = attempt(() => this.closed)
  const f = closed ? { closed } : { topics: attempt(() => this.topicNames()), closed }
  return inspectAs('Broker', f, depth, options, inspect)
}

NatsBridge.prototype[INSPECT] = function (depth, options, inspect) {
  const s = attempt(() => this.stats()) || {}
  const f = { stopped: attempt(() => this.stopped), connected: s.connected, exported: s.exported, imported: s.imported }
  if (s.lastError) f.lastError = s.lastError
  return inspectAs('NatsBridge', f, depth, options, inspect)
}

/**
 * What the engine declares, as this package spells it: error codes, enum
 * spellings, stats fields and options (camelCase, durations in Ms).
 */
const schema = Object.freeze({
  errorCodes: SURFACE.errorCodes,
  overflow: SURFACE.overflow,
  start: SURFACE.start,
  stats: SURFACE.stats,
  statsText: SURFACE.statsText,
  options: SURFACE.options,
})

module.exports = {
  Broker,
  NatsBridge,
  Topic,
  Pull,
  Subscription,
  Message,
  PushMessage,
  RawBatch,
  RingMQError,
  Retry,
  Term,
  schema,
  version: native.version(),
}
module.exports.default = module.exports
