'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker, Message, RingMQError, version } = require('ringmq')

test('publish and poll keep id, key, attempt, timestamp and payload', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('orders', { capacity: 64, slotSize: 128 })
    const pull = t.pull('audit')
    const before = BigInt(Date.now()) * 1_000_000n
    const id0 = t.publish(Buffer.from('first'), { key: 7 })
    const id1 = t.publish(new Uint8Array([1, 2, 3]))
    const big = (1n << 63n) + 5n
    const id2 = t.publish(Buffer.from('big key'), { key: big })
    assert.deepEqual([id0, id1, id2], [0, 1, 2])

    const m0 = await pull.poll(1000)
    assert.ok(m0 instanceof Message)
    assert.equal(m0.id, 0)
    assert.equal(m0.key, 7)
    assert.equal(m0.attempt, 1)
    assert.equal(m0.data.toString(), 'first')
    assert.ok(Buffer.isBuffer(m0.data))
    assert.equal(typeof m0.timestampNs, 'bigint')
    assert.ok(m0.timestampNs >= before - 1_000_000n, 'timestamp is the publish time')
    assert.ok(m0.timestampNs <= BigInt(Date.now() + 1) * 1_000_000n)
    assert.ok(Math.abs(m0.timestampMs - Date.now()) < 5000)
    m0.ack()
    assert.equal(m0.settled, true)

    const m1 = pull.tryPoll()
    assert.equal(m1.key, 0)
    assert.deepEqual([...m1.data], [1, 2, 3])
    m1.ack()
    const m2 = await pull.poll(0)
    assert.equal(m2.key, big)
    assert.equal(m2.data.toString(), 'big key')
    m2.ack()

    assert.equal(pull.tryPoll(), null)
    assert.equal(await pull.poll(20), null, 'poll times out with null')
    const s = pull.stats()
    assert.equal(s.delivered, 3)
    assert.equal(s.acked, 3)
    assert.equal(s.inFlight, 0)
    assert.equal(t.stats().published, 3)
  } finally {
    await mq.close(1000)
  }
})

test('the payload is a copy: the caller may reuse its buffer', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('copy', { capacity: 8, slotSize: 16 })
    const pull = t.pull('g')
    const buf = Buffer.from('aaaa')
    t.publish(buf)
    buf.fill(0x62)
    t.publish(buf)
    const a = await pull.poll(1000)
    const b = await pull.poll(1000)
    assert.equal(a.data.toString(), 'aaaa')
    assert.equal(b.data.toString(), 'bbbb')
    a.ack()
    b.ack()
    a.data.fill(0) // writing into a received copy changes nothing in the ring
  } finally {
    await mq.close(1000)
  }
})

test('publishMany and pollBatch move many messages per call', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('batch', { capacity: 256, slotSize: 64 })
    const pull = t.pull('g')
    const items = Array.from({ length: 100 }, (_, i) => Buffer.from(`m${i}`))
    const ids = t.publishMany(items, { key: 3 })
    assert.deepEqual(ids, Array.from({ length: 100 }, (_, i) => i))
    const got = []
    while (got.length < 100) {
      const batch = await pull.pollBatch(40, 1000)
      assert.ok(batch.length > 0 && batch.length <= 40)
      got.push(...batch)
    }
    assert.deepEqual(
      got.map((m) => m.data.toString()),
      items.map((b) => b.toString()),
    )
    assert.ok(got.every((m) => m.key === 3 && m.attempt === 1))
    pull.ackAll(got)
    assert.ok(got.every((m) => m.settled))
    assert.equal(pull.stats().acked, 100)
    assert.deepEqual(pull.tryPollBatch(10), [])
    assert.deepEqual(await pull.pollBatch(10, 10), [])
    // An empty batch publishes nothing.
    assert.deepEqual(t.publishMany([]), [])
  } finally {
    await mq.close(1000)
  }
})

test('publishAsync and publishManyAsync resolve to ids', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('async-pub', { capacity: 8 })
    const pull = t.pull('g')
    assert.equal(await t.publishAsync(Buffer.from('x'), { key: 1n }), 0)
    assert.deepEqual(await t.publishManyAsync([Buffer.from('y'), Buffer.from('z')]), [1, 2])
    const got = await pull.pollBatch(10, 1000)
    assert.deepEqual(
      got.map((m) => [m.id, m.key, m.data.toString()]),
      [
        [0, 1, 'x'],
        [1, 0, 'y'],
        [2, 0, 'z'],
      ],
    )
    pull.ackAll(got)
  } finally {
    await mq.close(1000)
  }
})

test('for await iterates until the broker closes', { timeout: 30000 }, async () => {
  const mq = new Broker()
  const t = mq.createTopic('iter', { capacity: 16 })
  const pull = t.pull('g')
  for (let i = 0; i < 5; i++) t.publish(Buffer.from(String(i)))
  const seen = []
  const loop = (async () => {
    for await (const m of pull) {
      seen.push(m.data.toString())
      m.ack()
      if (seen.length === 5) setImmediate(() => mq.close(1000))
    }
  })()
  await loop
  assert.deepEqual(seen, ['0', '1', '2', '3', '4'])
  assert.equal(mq.closed, true)
})

test('stats, metrics text, topic names and options', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMin: 1, workersMax: 2, idleTimeoutMs: 1000 })
  try {
    const t = mq.createTopic('m', { capacity: 32, slotSize: 100, overflow: 'reject', maxAttempts: 3 })
    t.pull('pa')
    t.subscribe('pb', () => {})
    assert.deepEqual(mq.topicNames(), ['m', 'm.dlq'])
    assert.equal(mq.topic('m').name, 'm')
    assert.equal(mq.topic('m.dlq').deadLetterTopic(), null)
    assert.equal(t.deadLetterTopic().name, 'm.dlq')
    const o = t.options()
    assert.equal(o.capacity, 32)
    assert.equal(o.slotSize, 100)
    assert.equal(o.overflow, 'reject')
    assert.equal(o.maxAttempts, 3)
    t.publish(Buffer.from('x'))
    const ts = t.stats()
    assert.equal(ts.published, 1)
    assert.equal(ts.capacity, 32)
    assert.equal(ts.subscriptions, 2)
    const subs = t.subscriptionStats()
    assert.deepEqual(Object.keys(subs).sort(), ['pa', 'pb'])
    assert.equal(typeof subs.pa.lag, 'number')
    const text = mq.metricsText()
    assert.match(text, /^# (HELP|TYPE) /m)
    assert.match(text, /topic="m"/)
    assert.match(text, /group="pa"/)
    const ps = mq.poolStats()
    assert.ok(ps.workers >= 1 && ps.workers <= 2)
    assert.equal(typeof version, 'string')
  } finally {
    await mq.close(100)
  }
})

test('errors are RingMQErrors with a code', { timeout: 30000 }, async () => {
  const mq = new Broker()
  mq.createTopic('dup')
  assert.throws(
    () => mq.createTopic('dup'),
    (e) => e instanceof Error && e instanceof RingMQError && e.code === 'EXISTS' && /dup/.test(e.message),
  )
  await mq.close(100)
})

test('payloads stay intact across pool Buffers, large slots and big batches', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    // Small slots: payloads are carved from shared pool Buffers; 3000
    // messages of up to 200 bytes fill several pools.
    const small = mq.createTopic('small', { capacity: 4096, slotSize: 200 })
    const sp = small.pull('g')
    const sent = []
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.alloc(1 + (i % 200), i % 251)
      sent.push(b)
    }
    for (let i = 0; i < sent.length; i += 500) small.publishMany(sent.slice(i, i + 500))
    const got = []
    while (got.length < sent.length) {
      const batch = await sp.pollBatch(700, 1000) // more than one native take
      assert.ok(batch.length > 0)
      got.push(...batch)
    }
    for (let i = 0; i < sent.length; i++) {
      assert.equal(got[i].id, i)
      assert.ok(got[i].data.equals(sent[i]), `payload ${i}`)
    }
    // A message kept after later polls still reads its own bytes.
    assert.ok(got[0].data.equals(sent[0]))
    sp.ackAll(got)

    // Large slots: one Buffer per batch; large items skip the staging copy.
    const large = mq.createTopic('large', { capacity: 16, slotSize: 100_000 })
    const lp = large.pull('g')
    const big = [Buffer.alloc(70_000, 1), Buffer.alloc(20_000, 2), Buffer.alloc(99_999, 3)]
    assert.deepEqual(large.publishMany(big), [0, 1, 2])
    large.publish(Buffer.alloc(100_000, 4))
    assert.throws(() => large.publish(Buffer.alloc(100_001)), { code: 'TOO_LARGE' })
    const lb = await lp.pollBatch(10, 1000)
    assert.deepEqual(
      lb.map((m) => [m.data.length, m.data[0], m.data[m.data.length - 1]]),
      [
        [70_000, 1, 1],
        [20_000, 2, 2],
        [99_999, 3, 3],
        [100_000, 4, 4],
      ],
    )
    lp.ackAll(lb)
    const one = large.publish(Buffer.from('tail'))
    const m = await lp.poll(1000)
    assert.equal(m.id, one)
    assert.equal(m.data.toString(), 'tail')
    m.ack()
  } finally {
    await mq.close(100)
  }
})

test('publishPacked and raw polls move batches without an object per message', { timeout: 30000 }, async () => {
  const { RawBatch } = require('ringmq')
  const mq = new Broker()
  try {
    const t = mq.createTopic('raw', { capacity: 1024, slotSize: 32 })
    const pull = t.pull('g')
    const parts = ['alpha', '', 'gamma', 'delta-delta']
    const data = Buffer.from(parts.join(''))
    const first = t.publishPacked(data, parts.map((p) => p.length), { key: 9 })
    assert.equal(first, 0)
    assert.equal(t.publishPacked(Buffer.from('xy'), new Uint32Array([1, 1])), 4)
    const b = await pull.pollRaw(256, 1000)
    assert.ok(b instanceof RawBatch)
    assert.equal(b.length, 6)
    assert.deepEqual(
      Array.from({ length: 6 }, (_, i) => b.payload(i).toString()),
      [...parts, 'x', 'y'],
    )
    assert.deepEqual([...b.lengths], [5, 0, 5, 11, 1, 1])
    assert.equal(b.data.subarray(b.offsets[3], b.offsets[3] + b.lengths[3]).toString(), 'delta-delta')
    assert.deepEqual(
      Array.from({ length: 6 }, (_, i) => [b.id(i), b.key(i), b.attempt(i)]),
      [
        [0, 9, 1],
        [1, 9, 1],
        [2, 9, 1],
        [3, 9, 1],
        [4, 0, 1],
        [5, 0, 1],
      ],
    )
    assert.equal(typeof b.timestampNs(0), 'bigint')
    b.nack(2, 0)
    b.ack(0)
    assert.throws(() => b.ack(0), { code: 'INVALID_ARGUMENT' })
    assert.throws(() => b.id(6), { code: 'INVALID_ARGUMENT' })
    b.ackAll()
    const again = await pull.pollRaw(8, 1000)
    assert.equal(again.length, 1)
    assert.equal(again.payload(0).toString(), 'gamma')
    assert.equal(again.attempt(0), 2)
    again.ackAll()
    assert.equal(pull.tryPollRaw().length, 0)
    assert.equal((await pull.pollRaw(4, 10)).length, 0)
    assert.equal(pull.stats().acked, 6)

    assert.throws(() => t.publishPacked('abc', [3]), { code: 'INVALID_ARGUMENT' })
    assert.throws(() => t.publishPacked(Buffer.from('abc'), [4]), (e) => e.code === 'INVALID_ARGUMENT' && /past/.test(e.message))
    assert.throws(() => t.publishPacked(Buffer.from('abc'), [-1]), { code: 'INVALID_ARGUMENT' })
    assert.throws(() => t.publishPacked(Buffer.alloc(40), [40]), { code: 'TOO_LARGE' })
    assert.throws(() => pull.tryPollRaw(257), { code: 'INVALID_ARGUMENT' })
  } finally {
    await mq.close(100)
  }
})
