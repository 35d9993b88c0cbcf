// Compiled (not run) by scripts/test-node.sh with `tsc --noEmit --strict`:
// every class and method of index.d.ts used as a TypeScript user would.
import { Broker, Message, NatsBridge, PushMessage, RawBatch, Retry, RingMQError, Term, version } from 'ringmq'
import type { CloseReport, ErrorCode, Key, NatsBridgeStats, PoolStats, Pull, SubscribeOptions, SubStats, Subscription, Topic, TopicStats, WaitOptions } from 'ringmq'
import ringmq from 'ringmq'

async function main(): Promise<void> {
  const mq: Broker = new Broker({ workersMin: 1, workersMax: 2, idleTimeoutMs: 1000 })
  const topic: Topic = mq.createTopic('orders', {
    capacity: 1024,
    slotSize: 256,
    overflow: 'reject',
    maxAttempts: 3,
    backoffBaseMs: 10,
    backoffMaxMs: 100,
    ackTimeoutMs: 1000,
    retryCapacity: 0,
    maxHeaderBytes: 1024,
    maxDelayed: 0,
    maxAgeMs: 0,
    expired: 'dead_letter',
    dedupeWindowMs: 60000,
    dedupeMax: 0,
  })
  const same: Topic = mq.topic('orders')
  const dataDir: string | undefined = process.env.RINGMQ_DATA
  const disk: Broker = new Broker({ dataDir, repair: false })
  const log: Topic = disk.createTopic('log', { durable: true, fsync: 'interval', fsyncIntervalMs: 50, segmentBytes: 1 << 20 })
  const durable: boolean = log.options().durable
  const fsync: 'always' | 'batch' | 'interval' | 'never' = log.options().fsync
  const io: ErrorCode = 'IO'
  void [durable, fsync, io]
  await disk.close(0)
  const names: string[] = mq.topicNames()
  const id: number = topic.publish(Buffer.from('a'), { key: 7 })
  const id2: number = topic.publish(new Uint8Array(3), { key: 1n << 60n })
  const ids: number[] = topic.publishMany([Buffer.from('b')], { key: 1 })
  const first: number = topic.publishPacked(Buffer.from('cd'), [1, 1])
  const withExt: number = topic.publish(Buffer.from('h'), {
    key: 2,
    headers: { traceparent: '00-1-2-01', bin: Buffer.from([1]) },
    msgId: 'order-1',
    delayMs: 10,
    ttlMs: 1000,
  })
  const later: number = await topic.publishAsync(Buffer.from('e'), { timeoutMs: 10 })
  const laterIds: number[] = await topic.publishManyAsync([Buffer.from('f')])
  // Cancellation: a `signal` on every call that can wait.
  const ac = new AbortController()
  const wait: WaitOptions = { signal: ac.signal }
  const cancellable: number = await topic.publishAsync(Buffer.from('g'), { key: 1, timeoutMs: 10, signal: ac.signal })
  const cancellableIds: number[] = await topic.publishManyAsync([Buffer.from('h')], { signal: AbortSignal.timeout(1000) })
  void [cancellable, cancellableIds]
  const sub: Subscription = topic.subscribe(
    'billing',
    async (m: PushMessage) => {
      const k: Key = m.key
      const parts: [number, number, bigint, number, Buffer] = [m.id, m.attempt, m.timestampNs, m.timestampMs, m.data]
      const why: [string | null, string | null] = [m.error, m.deadLetterGroup]
      const ext: [Record<string, Buffer>, Buffer | null] = [m.headers, m.msgId]
      void k
      void parts
      void why
      void ext
      if (m.attempt === 1) throw new Retry(50, 'not yet')
      throw new Term('no good')
    },
    { concurrency: 2, orderedByKey: true, lossy: false, start: 'earliest', maxInFlightPerKey: 1, rateLimit: 100, rateBurst: 10 },
  )
  sub.on('error', (err: unknown, msg: PushMessage) => void [err, msg.id])
  sub.pause()
  sub.resume()
  const subIdle: [boolean, string[]] = [sub.paused, sub.whyIdle()]
  const pull: Pull = topic.pull('audit', { start: 'latest' })
  const fromId: Pull = topic.pull('from-id', { startAtId: 3 })
  const fromBigId: Pull = topic.pull('from-big-id', { startAtId: 3n })
  const fromMs: Pull = topic.pull('from-ms', { startAtTime: Date.now() - 1000 })
  const plain: SubscribeOptions = { start: 'earliest', startAtTime: new Date(Date.now() - 1000) }
  const fromDate: Pull = topic.pull('from-date', plain)
  const pushedFrom: Subscription = topic.subscribe('pushed-from', () => {}, { startAtId: 0n, concurrency: 1 })
  void [fromId, fromBigId, fromMs, fromDate, pushedFrom]
  const again: Pull = topic.pullSubscription('audit')
  const m: Message | null = await pull.poll(100)
  const waited: Message | null = await pull.poll(null, wait)
  const waitedBatch: Message[] = await pull.pollBatch(10, undefined, { signal: ac.signal })
  const waitedRaw: RawBatch = await pull.pollRaw(64, 100, { signal: undefined })
  for await (const msg of pull.messages({ signal: ac.signal })) {
    msg.ack()
    ac.abort(new Error('done'))
  }
  void [waited, waitedBatch, waitedRaw]
  if (m !== null) {
    const fields: [number, Key, number, bigint, Buffer, boolean] = [m.id, m.key, m.attempt, m.timestampNs, m.data, m.settled]
    const why: [string | null, string | null] = [m.error, m.deadLetterGroup]
    const hdr: Buffer | undefined = m.headers.traceparent
    const mid: Buffer | null = m.msgId
    void [hdr, mid]
    void fields
    void why
    m.inProgress()
    m.nack(10)
  }
  const ready: Message | null = pull.tryPoll()
  ready?.term()
  const batch: Message[] = await pull.pollBatch(10, 100)
  pull.ackAll(batch.concat(pull.tryPollBatch(5)))
  const raw: RawBatch = await pull.pollRaw(64, 100)
  for (let i = 0; i < raw.length; i++) {
    const row: [number, Key, number, bigint, Buffer, number, number] = [
      raw.id(i),
      raw.key(i),
      raw.attempt(i),
      raw.timestampNs(i),
      raw.payload(i),
      raw.offsets[i],
      raw.lengths[i],
    ]
    const why: [string | null, string | null] = [raw.error(i), raw.deadLetterGroup(i)]
    void row
    void why
    void [raw.headers(i), raw.msgId(i)]
  }
  pull.pause()
  pull.resume()
  const pullIdle: [boolean, string[]] = [pull.paused, pull.whyIdle()]
  const rawData: Buffer = pull.tryPollRaw().data
  raw.ackAll()
  for await (const msg of again) {
    msg.ack()
    break
  }
  const ts: TopicStats = topic.stats()
  const ss: SubStats = pull.stats()
  const all: Record<string, SubStats> = topic.subscriptionStats()
  const lastError: string | null | undefined = sub.stats().lastError
  const ps: PoolStats = mq.poolStats()
  const dlq: Topic | null = topic.deadLetterTopic()
  const text: string = mq.metricsText()
  pull.unsubscribe()
  await sub.unsubscribe()
  const report: CloseReport = await mq.close(100, { signal: AbortSignal.timeout(5000) })
  const closed: boolean = mq.closed
  try {
    topic.publish(Buffer.from('x'))
  } catch (e) {
    if (e instanceof RingMQError) {
      const code: ErrorCode = e.code
      void code
    }
  }
  void [same, names, id, id2, withExt, subIdle, pullIdle, ids, first, later, laterIds, rawData, ts, ss, all, lastError, ps, dlq, text, report, closed]
  void [version, ringmq.Broker === Broker]
}

// Only type-checked: never run.
export async function natsTypes(mq: Broker): Promise<void> {
  const bridge = new NatsBridge(mq, {
    id: 'edge-1',
    servers: ['nats://127.0.0.1:4222'],
    exports: [{ topic: 'orders', group: 'nats', subject: 'orders.created', stream: 'ORDERS', maxInFlight: 64 }],
    imports: [{ stream: 'IN', consumer: 'c', filterSubject: 'in.>', topic: 'copy', group: 'g', batch: 16 }],
    reconnectMinMs: 50,
  })
  const s: NatsBridgeStats = bridge.stats()
  const connected: boolean = s.connected
  const inFlight: number = s.inFlight
  const final: NatsBridgeStats = await bridge.stop(500)
  void [connected, inFlight, final, bridge.stopped, bridge.broker === mq, ringmq.NatsBridge === NatsBridge]
}

void main
