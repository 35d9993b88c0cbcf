// Types of the ringmq package (CommonJS `require('ringmq')` and ESM
// `import { Broker } from 'ringmq'` export the same names).
//
// Numbers: message ids are `number`s (exact up to 2^53, about 28 years at
// ten million messages a second); counters in stats are `number`s; keys are
// `number | bigint` (a bigint only above Number.MAX_SAFE_INTEGER); publish
// timestamps are exact `bigint` nanoseconds (`timestampNs`) or `number`
// milliseconds (`timestampMs`).
//
// Payloads are Buffers and push subscriptions EventEmitters, so these types
// need Node's (`@types/node`), a peer dependency of this package that npm
// installs with it.

/// <reference types="node" />

import { EventEmitter } from 'node:events'

// BEGIN GENERATED types: written by `cargo run -p gen-surface` from ringmq-core; do not edit
/** The `code` of every error this package throws or rejects with. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'FULL'
  | 'TIMEOUT'
  | 'TOO_LARGE'
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'CLOSED'
  | 'EMPTY'
  | 'INTERNAL'
  | 'INTERRUPTED'
  | 'IO'

/** What a publish does when the ring is full. */
export type Overflow = 'block' | 'reject' | 'drop_oldest'

/** Where a new subscription starts reading. */
export type StartAt = 'latest' | 'earliest'

/** Options of `new Broker`. */
export interface BrokerOptions {
  /** Fewest pool workers kept alive (default 1). */
  workersMin?: number | undefined
  /** Most pool workers, 1..=1024 (default available parallelism). */
  workersMax?: number | undefined
  /** A worker idle this long above workers_min exits (default 30000). */
  idleTimeoutMs?: number | undefined
  /** Where durable topics keep their logs and checkpoints; unset for memory only (default unset). */
  dataDir?: string | undefined
  /** On recovery, cut a durable log at damage before its end instead of opening it read only (default false). */
  repair?: boolean | undefined
  /** Register the broker process-wide under this name, for Broker.open from any thread; unset for none (default unset). */
  name?: string | undefined
}

/** Options of `createTopic`; durations in milliseconds. */
export interface TopicOptions {
  /** Slots in the ring: a power of two, at most 2^24 (default 1024). */
  capacity?: number | undefined
  /** Largest payload in bytes, 1..=2^24 (default 256). */
  slotSize?: number | undefined
  /** What a publish does when the ring is full (default 'block'). */
  overflow?: Overflow | undefined
  /** Deliveries of one message before it is dead-lettered (default 4). */
  maxAttempts?: number | undefined
  /** First retry delay; doubles per attempt, with jitter (default 100). */
  backoffBaseMs?: number | undefined
  /** Cap of the retry delay, at least backoff_base (default 10000). */
  backoffMaxMs?: number | undefined
  /** A pulled delivery not settled within this is redelivered (default 30000). */
  ackTimeoutMs?: number | undefined
  /** Messages one subscription may hold outside the ring; 0 means capacity (default 0). */
  retryCapacity?: number | undefined
  /** Most header bytes per message (name + value + 4 each), apart from slot_size; at most 65535 (default 1024). */
  maxHeaderBytes?: number | undefined
  /** Most delayed messages waiting at once; 0 means capacity (default 0). */
  maxDelayed?: number | undefined
  /** Messages older than this are expired, never delivered; 0 for no limit (default 0). */
  maxAgeMs?: number | undefined
  /** What becomes of an expired message (default 'dead_letter'). */
  expired?: 'dead_letter' | 'drop' | undefined
  /** How long a msg_id is remembered for de-duplication (default 120000). */
  dedupeWindowMs?: number | undefined
  /** Most msg_ids remembered at once; 0 means 4 x capacity (default 0). */
  dedupeMax?: number | undefined
  /** Keep messages and positions in a log in the broker's data_dir (default false). */
  durable?: boolean | undefined
  /** When a durable topic's appends are fsynced (default 'batch'). */
  fsync?: 'always' | 'batch' | 'interval' | 'never' | undefined
  /** Fsync period of an interval topic, and checkpoint period of durable subscriptions (default 50). */
  fsyncIntervalMs?: number | undefined
  /** Bytes of one log segment file, 4096..=2^40 (default 67108864). */
  segmentBytes?: number | undefined
  /** Most bytes a durable topic's log keeps (then the overflow policy acts); 0 for no limit (default 0). */
  maxBytes?: number | undefined
}

/** The options of a topic as created (all filled in). */
export interface TopicOptionsResolved {
  /** Slots in the ring: a power of two, at most 2^24 (default 1024). */
  capacity: number
  /** Largest payload in bytes, 1..=2^24 (default 256). */
  slotSize: number
  /** What a publish does when the ring is full (default 'block'). */
  overflow: Overflow
  /** Deliveries of one message before it is dead-lettered (default 4). */
  maxAttempts: number
  /** First retry delay; doubles per attempt, with jitter (default 100). */
  backoffBaseMs: number
  /** Cap of the retry delay, at least backoff_base (default 10000). */
  backoffMaxMs: number
  /** A pulled delivery not settled within this is redelivered (default 30000). */
  ackTimeoutMs: number
  /** Messages one subscription may hold outside the ring; 0 means capacity (default 0). */
  retryCapacity: number
  /** Most header bytes per message (name + value + 4 each), apart from slot_size; at most 65535 (default 1024). */
  maxHeaderBytes: number
  /** Most delayed messages waiting at once; 0 means capacity (default 0). */
  maxDelayed: number
  /** Messages older than this are expired, never delivered; 0 for no limit (default 0). */
  maxAgeMs: number
  /** What becomes of an expired message (default 'dead_letter'). */
  expired: 'dead_letter' | 'drop'
  /** How long a msg_id is remembered for de-duplication (default 120000). */
  dedupeWindowMs: number
  /** Most msg_ids remembered at once; 0 means 4 x capacity (default 0). */
  dedupeMax: number
  /** Keep messages and positions in a log in the broker's data_dir (default false). */
  durable: boolean
  /** When a durable topic's appends are fsynced (default 'batch'). */
  fsync: 'always' | 'batch' | 'interval' | 'never'
  /** Fsync period of an interval topic, and checkpoint period of durable subscriptions (default 50). */
  fsyncIntervalMs: number
  /** Bytes of one log segment file, 4096..=2^40 (default 67108864). */
  segmentBytes: number
  /** Most bytes a durable topic's log keeps (then the overflow policy acts); 0 for no limit (default 0). */
  maxBytes: number
}

/** Options of `subscribe` and `pull`. */
export interface SubscribeOptions {
  /** Push: most handlers of this subscription at once, 1..=65536 (default 1). */
  concurrency?: number | undefined
  /** Push: same key, publish order, never two at once (default false). */
  orderedByKey?: boolean | undefined
  /** Never hold producers back: skip ahead and count drops when a ring behind (default false). */
  lossy?: boolean | undefined
  /** Where a new subscription starts reading (default 'latest'). */
  start?: StartAt | undefined
  /** Unordered subscriptions: most deliveries of one key in flight at once; 0 for no limit (default 0). */
  maxInFlightPerKey?: number | undefined
  /** Most messages per second handed to consumers; unset for no limit (default unset). */
  rateLimit?: number | undefined
  /** Messages that may go at once after idling; 0 means one second's worth (default 0). */
  rateBurst?: number | undefined
  /** Start at the message with this id (the oldest still held if it is gone); overrides start (default unset). */
  startAtId?: number | undefined
  /** Start at the first message published at or after this time; overrides start (default unset). */
  startAtTime?: number | Date | undefined
}

/** A topic's counters. */
export interface TopicStats {
  /** Messages accepted into the topic's ring. */
  published: number
  /** Publishes refused with Full because the ring was full. */
  rejected: number
  /** Publishes that gave up with Timeout waiting for room. */
  timedOut: number
  /** Messages overwritten or skipped before a subscription consumed them, summed over subscriptions. */
  dropped: number
  /** Messages in the ring not yet settled by the slowest subscription. */
  depth: number
  /** Slots in the topic's ring. */
  capacity: number
  /** Subscriptions of the topic. */
  subscriptions: number
  /** Delayed messages waiting outside the ring for their due time. */
  delayed: number
  /** Publishes whose msg_id was already published within the dedupe window (nothing stored). */
  duplicates: number
  /** Bytes of a durable topic's log on disk (0 for a topic in memory). */
  logBytes: number
  /** Segment files of a durable topic's log (0 for a topic in memory). */
  logSegments: number
}

/** A subscription's counters and latency. */
export interface SubStats {
  /** Deliveries handed to consumers, each attempt counted. */
  delivered: number
  /** Messages acknowledged. */
  acked: number
  /** Negative acknowledgements, handler errors and panics. */
  nacked: number
  /** Messages scheduled for another attempt after a nack or an ack timeout. */
  retried: number
  /** Messages moved to the dead-letter topic. */
  deadLettered: number
  /** Messages a lossy subscription skipped. */
  dropped: number
  /** Deliveries not settled within ack_timeout. */
  expired: number
  /** Push handlers that panicked (each also counts as a nack). */
  handlerPanics: number
  /** Deliveries handed out and not yet settled. */
  inFlight: number
  /** Messages waiting outside the ring for a retry, or for room in a full dead-letter topic. */
  waitingRetry: number
  /** Messages published but not yet delivered to the subscription. */
  lag: number
  /** Time from publish to ack, median (within 1/16). In nanoseconds. */
  latencyP50Ns: number
  /** Time from publish to ack, 99th percentile (within 1/16). In nanoseconds. */
  latencyP99Ns: number
  /** Time from publish to ack, 99.9th percentile (within 1/16). In nanoseconds. */
  latencyP999Ns: number
  /** Time from publish to ack, the longest seen. In nanoseconds. */
  latencyMaxNs: number
  /** Acks whose publish-to-ack time was measured. */
  latencyCount: number
  /** Sum of the measured publish-to-ack times. In nanoseconds. */
  latencySumNs: number
  /** Deliveries settled with term by a consumer (straight to the dead-letter topic). */
  termed: number
  /** Messages past their ttl or the topic's max_age, never delivered (dead-lettered or dropped). */
  expiredMessages: number
  /** 1 while the subscription is paused, else 0. */
  paused: number
  /** Deliveries past their ack timeout whose ring slot a live holder still pins, holding producers back. */
  pinned: number
  /** Messages of a durable topic its retention removed before this subscription took them. */
  retentionDropped: number
  /** The text of the last handler failure or nack reason, if any. */
  lastError: string | null
}

/** The worker pool. */
export interface PoolStats {
  /** Worker threads alive. */
  workers: number
  /** Workers running handlers. */
  busy: number
  /** Workers waiting for work. */
  idle: number
  /** Handler panics caught (the message was nacked, the worker lived on). */
  panics: number
  /** Workers started by the load curve. */
  grown: number
  /** Workers that left after idle_timeout. */
  shrunk: number
  /** The pool size the load curve asks for. */
  target: number
  /** Smoothed share of the workers' time spent in handlers. Between 0 and 1. */
  utilisation: number
}
// END GENERATED types

/** Every failure of this package: an `Error` with a `code`. */
export declare class RingMQError extends Error {
  readonly name: 'RingMQError'
  readonly code: ErrorCode
}

/** A message key: a non-negative safe integer, or a bigint up to 2^64-1. */
export type Key = number | bigint

/** A payload: a Buffer or any Uint8Array. */
export type Payload = Buffer | Uint8Array

/**
 * What `subscribe` and `pull` take: SubscribeOptions, where `startAtId` may
 * also be a bigint (up to 2^64-1; a number must be a non-negative safe
 * integer). `startAtTime` is milliseconds since the Unix epoch or a Date.
 */
export type SubscribeOptionsArg = Omit<SubscribeOptions, 'startAtId'> & { startAtId?: number | bigint | undefined }

export interface PublishOptions {
  /** Default 0. */
  key?: Key | undefined
  /** Only 0 (or omitted) for publish/publishMany, which never wait. */
  timeoutMs?: number | undefined
}

/** Header values: Buffers, Uint8Arrays or strings (stored as UTF-8). */
export type HeadersInit = Record<string, Buffer | Uint8Array | string>

/** What `publish` takes besides a key: headers, a msgId, a delay and a ttl. */
export interface PublishOneOptions extends PublishOptions {
  /**
   * Headers, stored beside the payload (they do not count against
   * slotSize; the topic's maxHeaderBytes bounds them, else TOO_LARGE).
   */
  headers?: HeadersInit | undefined
  /**
   * An id for de-duplication, 1 to 128 bytes: publishing it again within
   * the topic's dedupeWindowMs stores nothing and returns the first
   * publish's id (counted in stats().duplicates).
   */
  msgId?: Buffer | Uint8Array | string | undefined
  /** Deliverable no earlier than this many milliseconds from now. */
  delayMs?: number | undefined
  /**
   * Expires this many milliseconds after the publish (with the topic's
   * maxAgeMs, the sooner counts): never delivered, dead-lettered with the
   * error 'expired' (or dropped, by the topic's `expired`).
   */
  ttlMs?: number | undefined
}

export interface PublishAsyncOptions {
  key?: Key | undefined
  /** Wait this long for room under 'block' (default: for ever), then TIMEOUT. */
  timeoutMs?: number | undefined
  /**
   * Ends the wait for room when aborted: the call rejects with
   * `signal.reason`, having published nothing (an already aborted signal
   * rejects at once). A publish that found room before the abort resolves.
   */
  signal?: AbortSignal | undefined
}

/**
 * The options of a call that can wait and takes its other arguments by
 * position (`poll(timeoutMs, { signal })`, `close(drainMs, { signal })`).
 */
export interface WaitOptions {
  /**
   * Ends the wait when aborted: the call rejects with `signal.reason` (an
   * `AbortError` DOMException by default), having changed nothing; an
   * already aborted signal rejects at once. The call's listener is removed
   * when it settles. For `close`, see there.
   */
  signal?: AbortSignal | undefined
}

/** What `Broker.close` resolves to: what the drain left unfinished. */
export interface CloseReport {
  /** Messages no subscription had finished with when the drain ended (summed over subscriptions). */
  undelivered: number
  /** Of those, deliveries handed out and not settled. */
  inFlight: number
  /** Of those, messages waiting for a retry. */
  waitingRetry: number
  /** True if the drain ended by its timeout rather than by running dry. */
  timedOut: boolean
  /** Per subscription with something left: how many messages. */
  left: Array<{ topic: string; group: string; count: number }>
  /**
   * Delayed messages whose due time had not come (the drain does not wait
   * for them); they are dropped with their topics.
   */
  delayed: number
  /**
   * Deliveries past their ack timeout whose ring slot a holder still pinned
   * (part of what `expired` counted, not `inFlight`). Always 0 for messages
   * taken in Node, which hold a copy of their payload, not the slot.
   */
  pinned: number
  /**
   * Handles of the broker still open after this close: 0 when it stopped the
   * broker; more when it only released this handle of a named broker
   * (`Broker.open`), and the other fields are all zero.
   */
  handlesLeft: number
}

/** A message as a push handler sees it; the handler's outcome settles it. */
export declare class PushMessage {
  /** The topic's sequence number (a dead letter keeps it). */
  readonly id: number
  /** A number, or a bigint when above Number.MAX_SAFE_INTEGER. */
  readonly key: Key
  /** 1 on the first delivery. */
  readonly attempt: number
  /** Publish time, nanoseconds since the Unix epoch. */
  readonly timestampNs: bigint
  /** Publish time, milliseconds since the Unix epoch. */
  readonly timestampMs: number
  /**
   * A copy of the payload: a view of a Buffer shared with the other
   * messages handed to JS in the same batch (as Buffer.allocUnsafe gives).
   */
  readonly data: Buffer
  /**
   * For a message of a dead-letter topic: why the engine dead-lettered it
   * (the same text in every language): a nack's or term's reason, 'nacked',
   * 'termed', 'ack timeout' or a handler's error text, after
   * 'failed N deliveries (max_attempts M): ' when it ran out of attempts.
   * null for any other message.
   */
  readonly error: string | null
  /** For a message of a dead-letter topic: the consumer group that dead-lettered it; else null. */
  readonly deadLetterGroup: string | null
  /** The message's headers: name -> Buffer (the last of a repeated name); empty for none. */
  readonly headers: Record<string, Buffer>
  /** The id it was published with for de-duplication, or null. */
  readonly msgId: Buffer | null
}

/**
 * A message from a pull subscription: settle it exactly once. Its payload
 * was copied out of the ring at poll time into a pool Buffer shared with
 * other messages (as `Buffer.allocUnsafe` gives); `data` is a view of it.
 */
export declare class Message {
  /** The topic's sequence number (a dead letter keeps it). */
  readonly id: number
  /** A number, or a bigint when above Number.MAX_SAFE_INTEGER. */
  readonly key: Key
  /** 1 on the first delivery; a dead letter keeps its count. */
  readonly attempt: number
  /** Publish time, nanoseconds since the Unix epoch. */
  readonly timestampNs: bigint
  /** Publish time, milliseconds since the Unix epoch. */
  readonly timestampMs: number
  /** The payload. */
  readonly data: Buffer
  /**
   * For a message of a dead-letter topic: why the engine dead-lettered it
   * (the same text in every language): a nack's or term's reason, 'nacked',
   * 'termed', 'ack timeout' or a handler's error text, after
   * 'failed N deliveries (max_attempts M): ' when it ran out of attempts.
   * null for any other message.
   */
  readonly error: string | null
  /** For a message of a dead-letter topic: the consumer group that dead-lettered it; else null. */
  readonly deadLetterGroup: string | null
  /** The message's headers: name -> Buffer (the last of a repeated name); empty for none. */
  readonly headers: Record<string, Buffer>
  /** The id it was published with for de-duplication, or null. */
  readonly msgId: Buffer | null
  /** True once ack, nack or term was called. */
  readonly settled: boolean
  /** Done: not delivered again to this subscription. */
  ack(): void
  /** Failed: redelivered after delayMs (default: the topic's backoff), dead-lettered after maxAttempts. */
  nack(delayMs?: number): void
  /**
   * Not handled, and not a failure: delivered again at once (to any
   * consumer), not counted as an attempt. A failure is a nack.
   */
  requeue(): void
  /** Poison: straight to the dead-letter topic. */
  term(): void
  /** Still working on it: restarts the ack timer. */
  inProgress(): void
}

/**
 * The messages of one raw poll, without an object per message: payloads
 * back to back in `data` (a view of a pool Buffer), fields by index.
 */
export declare class RawBatch {
  /** How many messages. */
  readonly length: number
  /** Every payload, back to back. */
  readonly data: Buffer
  /** Where payload i starts in data. */
  readonly offsets: Uint32Array
  /** The length of payload i. */
  readonly lengths: Uint32Array
  id(i: number): number
  key(i: number): Key
  timestampNs(i: number): bigint
  attempt(i: number): number
  /** Message i's dead-letter reason (as Message.error), or null. */
  error(i: number): string | null
  /** The group that dead-lettered message i, or null. */
  deadLetterGroup(i: number): string | null
  /** Message i's headers (as Message.headers). */
  headers(i: number): Record<string, Buffer>
  /** Message i's msgId, or null. */
  msgId(i: number): Buffer | null
  /** A Buffer view of payload i. */
  payload(i: number): Buffer
  ack(i: number): void
  nack(i: number, delayMs?: number): void
  term(i: number): void
  /** Acks every message not settled yet, in one call. */
  ackAll(): void
}

/** A pull subscription: poll, then settle what you got. Several pollers compete. */
export declare class Pull implements AsyncIterable<Message> {
  readonly topic: Topic
  readonly group: string
  /** The next message if one is ready, else null; never waits. */
  tryPoll(): Message | null
  /** Up to max (default 256) ready messages, maybe none; never waits. */
  tryPollBatch(max?: number): Message[]
  /**
   * The next message, waiting off the JS thread up to timeoutMs (default:
   * for ever); null on timeout. An abort of `signal` rejects with its
   * reason, having taken nothing.
   */
  poll(timeoutMs?: number | null, opts?: WaitOptions): Promise<Message | null>
  /**
   * Waits up to timeoutMs for the first message, then takes up to max
   * (default 256); [] on timeout. `signal` as for poll.
   */
  pollBatch(max?: number, timeoutMs?: number | null, opts?: WaitOptions): Promise<Message[]>
  /** Up to max (1..256, default 256) ready messages as one RawBatch (maybe empty); never waits. */
  tryPollRaw(max?: number): RawBatch
  /** As tryPollRaw, waiting up to timeoutMs (default: for ever) for the first message; `signal` as for poll. */
  pollRaw(max?: number, timeoutMs?: number | null, opts?: WaitOptions): Promise<RawBatch>
  /** Acks every unsettled message of the array in one call. */
  ackAll(messages: Message[]): void
  stats(): SubStats
  /** Stops taking new messages (their lag grows); what is in flight and retries go on. */
  pause(): void
  /** Takes new messages again after pause(). */
  resume(): void
  /** True while paused. */
  readonly paused: boolean
  /**
   * Why nothing is handed over now, as texts: 'paused', 'nothing published',
   * 'rate-limited: …', 'waiting for a retry: …', 'waiting for delayed
   * messages: …', 'retry_capacity exhausted: …', 'closed'. Empty when
   * something would be.
   */
  whyIdle(): string[]
  /** Removes the subscription; throws a RingMQError with code 'CLOSED' after the broker has closed. */
  unsubscribe(): void
  /** Ends when the subscription is removed or the broker closes. */
  [Symbol.asyncIterator](): AsyncIterator<Message>
  /**
   * `for await (const m of pull.messages({ signal }))`: as iterating the
   * subscription, and an abort of `signal` ends the loop by throwing
   * `signal.reason` (as Node's own iterators with a signal do), having
   * taken nothing more.
   */
  messages(opts?: WaitOptions): AsyncGenerator<Message, void, undefined>
}

/**
 * A push handler: runs on the JS thread. Returning (or resolving) acks;
 * throwing (or rejecting) a Retry retries after its delay, a Term sends the
 * message straight to the dead-letter topic, anything else nacks (the
 * topic's backoff), keeping the error's message as lastError.
 */
export type Handler = (msg: PushMessage) => unknown | Promise<unknown>

/** Thrown by a push handler: retry the message after `ms` milliseconds. */
export declare class Retry extends Error {
  constructor(ms: number, message?: string)
  readonly name: 'Retry'
  readonly ms: number
}

/** Thrown by a push handler: the message goes straight to the dead-letter topic with `reason`. */
export declare class Term extends Error {
  constructor(reason?: string)
  readonly name: 'Term'
  readonly reason: string
}

/**
 * A push subscription. A handler's failure (other than Retry and Term) is
 * emitted as 'error', or written with console.error when nothing listens.
 */
export declare class Subscription extends EventEmitter {
  readonly topic: Topic
  readonly group: string
  stats(): SubStats
  /** Stops taking new messages (their lag grows); what is in flight and retries go on. */
  pause(): void
  /** Takes new messages again after pause(). */
  resume(): void
  /** True while paused. */
  readonly paused: boolean
  /**
   * Why nothing is handed over now, as texts: 'paused', 'nothing published',
   * 'rate-limited: …', 'waiting for a retry: …', 'waiting for delayed
   * messages: …', 'retry_capacity exhausted: …', 'closed'. Empty when
   * something would be.
   */
  whyIdle(): string[]
  on(event: 'error', listener: (err: unknown, msg: PushMessage) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  /**
   * Stops the handlers (none is called once this is called) and removes the
   * subscription; does not wait for handlers in progress, so an async
   * handler may await its own subscription's unsubscribe. Rejects with code
   * 'CLOSED' after the broker has closed.
   */
  unsubscribe(): Promise<void>
}

export declare class Topic {
  readonly name: string
  readonly broker: Broker
  options(): TopicOptionsResolved
  /**
   * Publishes one message and returns its id. Never waits: on a full ring,
   * 'reject' throws FULL, 'block' throws TIMEOUT (use publishAsync to wait
   * for room), 'drop_oldest' overwrites the oldest message.
   */
  publish(data: Payload, opts?: PublishOneOptions): number
  /** Publishes one message, waiting off the JS thread for room under 'block'. */
  publishAsync(data: Payload, opts?: PublishAsyncOptions): Promise<number>
  /** Publishes all items in one claim (all or nothing, at most capacity); returns their ids. */
  publishMany(items: Payload[], opts?: PublishOptions): number[]
  /**
   * Publishes lengths.length messages laid back to back in data, in one
   * claim (all or nothing, at most capacity); returns the first id (the
   * others follow it). Never waits, as publish.
   */
  publishPacked(data: Payload, lengths: Uint32Array | number[], opts?: { key?: Key | undefined }): number
  /** As publishMany, waiting off the JS thread for room under 'block'. */
  publishManyAsync(items: Payload[], opts?: PublishAsyncOptions): Promise<number[]>
  /** A push subscription whose handler runs on the JS thread. */
  subscribe(group: string, handler: Handler, opts?: SubscribeOptionsArg): Subscription
  /** Creates a pull subscription (consumer group). */
  pull(group: string, opts?: SubscribeOptionsArg): Pull
  /** The existing pull subscription `group`. */
  pullSubscription(group: string): Pull
  /** The dead-letter topic `<name>.dlq`; null for a dead-letter topic. */
  deadLetterTopic(): Topic | null
  stats(): TopicStats
  /** Stats of every subscription, by group name. */
  subscriptionStats(): Record<string, SubStats>
}

export declare class Broker {
  constructor(opts?: BrokerOptions)
  readonly closed: boolean
  /** Creates topic `name` and its dead-letter topic `<name>.dlq`. */
  createTopic(name: string, opts?: TopicOptions): Topic
  /** The existing topic `name` (dead-letter topics included). */
  topic(name: string): Topic
  topicNames(): string[]
  /** Every metric in the Prometheus text exposition format. */
  metricsText(): string
  poolStats(): PoolStats
  /**
   * Stops publishes, drains for up to drainMs (default 5000) while handlers
   * keep running, then stops every thread. Idempotent. From one of this
   * broker's push handlers while it runs (an async one before its first
   * await) it does not drain, and it rejects with code 'CLOSED' while
   * another close runs. An abort of `signal` cuts the drain short: the
   * broker still closes fully, then the call rejects with `signal.reason`
   * (a later `close()` resolves to the report at once). An already aborted
   * signal rejects at once and closes nothing.
   */
  close(drainMs?: number, opts?: WaitOptions): Promise<CloseReport>
}

/** One stats field as the engine declares it. */
export interface StatsFieldInfo {
  /** The property name in stats objects. */
  name: string
  help: string
  /** Its Prometheus type: 'counter', 'gauge' or 'summary'. */
  prometheus: string
  /** 'count', 'ns' or 'ratio'. */
  unit: string
}

/** One option as the engine declares it. */
export interface OptionInfo {
  /** The option's name (durations end in Ms). */
  name: string
  help: string
  /**
   * 'count', 'ms', 'bool', 'choice', 'rate' (messages per second, or unset),
   * 'id' (a message id, or unset) or 'time' (milliseconds since the Unix
   * epoch or a Date, or unset).
   */
  kind: string
  /** The spellings of a 'choice'. */
  choices?: string[]
  /** null when worked out at run time (workersMax) or unset (rateLimit, startAtId, startAtTime). */
  default: number | boolean | string | null
}

/** What the engine declares, as this package spells it. */
export interface Schema {
  readonly errorCodes: ErrorCode[]
  readonly overflow: Overflow[]
  readonly start: StartAt[]
  readonly stats: { topic: StatsFieldInfo[]; sub: StatsFieldInfo[]; pool: StatsFieldInfo[] }
  /** The text fields of each kind of stats (such as lastError). */
  readonly statsText: { topic: string[]; sub: string[]; pool: string[] }
  readonly options: { broker: OptionInfo[]; topic: OptionInfo[]; sub: OptionInfo[] }
}

export declare const schema: Schema

/** The package version. */
export declare const version: string

declare const ringmq: {
  Broker: typeof Broker
  NatsBridge: typeof NatsBridge
  Topic: typeof Topic
  Pull: typeof Pull
  Subscription: typeof Subscription
  Message: typeof Message
  PushMessage: typeof PushMessage
  RawBatch: typeof RawBatch
  RingMQError: typeof RingMQError
  Retry: typeof Retry
  Term: typeof Term
  schema: Schema
  version: string
}
export default ringmq

/** One RingMQ topic exported to a JetStream subject (docs/NATS.md). */
export interface NatsExport {
  topic: string
  /** The pull subscription the bridge reads with (created if missing). */
  group: string
  subject: string
  /** A stream created, if missing, capturing `subject`. */
  stream?: string | undefined
  /** Default 256. */
  maxInFlight?: number | undefined
}

/** One JetStream stream imported into a RingMQ topic (docs/NATS.md). */
export interface NatsImport {
  stream: string
  /** The durable pull consumer's name (created if missing). */
  consumer: string
  filterSubject?: string | undefined
  topic: string
  /** A pull subscription of `topic` made sure of before importing. */
  group: string
  /** Default 64. */
  batch?: number | undefined
}

export interface NatsBridgeOptions {
  /** Prefixes every exported message's Nats-Msg-Id; no whitespace. */
  id: string
  servers: string | string[]
  exports?: NatsExport[] | undefined
  imports?: NatsImport[] | undefined
  /** Default 100. */
  reconnectMinMs?: number | undefined
  /** Default 5000. */
  reconnectMaxMs?: number | undefined
}

/** What `NatsBridge.stats` returns and `stop` resolves to. */
export interface NatsBridgeStats {
  /** Messages JetStream acknowledged (duplicates included) and the bridge then acked in RingMQ. */
  exported: number
  /** JetStream deliveries published into RingMQ. */
  imported: number
  /** Messages taken from RingMQ or JetStream and not yet settled. */
  inFlight: number
  /** Times the connection to NATS was established again after a loss. */
  reconnects: number
  /** Exported messages JetStream refused for good (dead-lettered in RingMQ), and imported messages terminated in JetStream. */
  deadLettered: number
  /** Connected to NATS now. */
  connected: boolean
  /** The last error seen (NATS or RingMQ), or null. */
  lastError: string | null
}

/**
 * A bridge between a broker's topics and NATS JetStream. A bad
 * configuration throws INVALID_ARGUMENT naming the field.
 */
export declare class NatsBridge {
  constructor(mq: Broker, opts: NatsBridgeOptions)
  readonly broker: Broker
  readonly stopped: boolean
  stats(): NatsBridgeStats
  /** Waits up to drainMs (default 1000) for in-flight messages; resolves to the final stats. */
  stop(drainMs?: number): Promise<NatsBridgeStats>
}

// ---- One broker shared by threads (new Broker({ name }), Broker.open) ----

export declare namespace Broker {
  /**
   * Another handle to the broker created with `new Broker({ name })` in this
   * process, from this thread or any worker_threads worker. Throws NOT_FOUND
   * when there is none, CLOSED while it closes. The broker stops when its
   * last handle is closed (or its thread exits); `close` on one handle of
   * several only releases that handle (and unsubscribes the push
   * subscriptions made through it), with `handlesLeft` > 0.
   */
  function open(name: string): Broker
}

export interface Broker {
  /** The name the broker is registered under (`new Broker({ name })`), else null. */
  readonly name: string | null
}
