'use strict'
// NatsBridge: configuration errors (no server needed) and, with
// RINGMQ_NATS_URL set to a NATS server with JetStream (scripts/test-nats.sh
// starts one), a round trip: one bridge exports a topic into a stream, a
// second imports that stream into another topic.
const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Broker, NatsBridge, RingMQError } = require('ringmq')

const URL = process.env.RINGMQ_NATS_URL
const bad = (pattern) => (e) => {
  assert.ok(e instanceof RingMQError, `a RingMQError, got ${e}`)
  assert.equal(e.code, 'INVALID_ARGUMENT', e.message)
  assert.match(e.message, pattern)
  return true
}

test('bad NatsBridge configuration', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    mq.createTopic('orders')
    const exp = { topic: 'orders', group: 'nats', subject: 'orders.created' }
    const nowhere = 'nats://127.0.0.1:1'
    assert.throws(() => new NatsBridge({}, { id: 'x', servers: nowhere }), bad(/needs a Broker/))
    assert.throws(() => new NatsBridge(mq, { id: 'x', servers: nowhere, export: [] }), bad(/unknown NatsBridge option "export"/))
    assert.throws(
      () => new NatsBridge(mq, { id: 'x', servers: nowhere, exports: [{ ...exp, subjct: 'y' }] }),
      bad(/unknown exports\[0\] option "subjct"/),
    )
    assert.throws(() => new NatsBridge(mq, { id: 'x', servers: [], exports: [exp] }), bad(/servers is empty/))
    assert.throws(() => new NatsBridge(mq, { servers: nowhere }), bad(/missing field `id`/))
    assert.throws(() => new NatsBridge(mq, { id: 'a b', servers: nowhere }), bad(/without whitespace/))
    assert.throws(
      () => new NatsBridge(mq, { id: 'x', servers: nowhere, exports: [{ ...exp, topic: 'missing' }] }),
      bad(/"missing" does not exist/),
    )
    assert.throws(
      () => new NatsBridge(mq, { id: 'x', servers: nowhere, exports: [{ ...exp, maxInFlight: 0 }] }),
      bad(/max_in_flight/),
    )
    assert.throws(() => new NatsBridge(mq, { id: 'x', servers: nowhere, reconnectMinMs: -1 }), bad(/reconnectMinMs/))
  } finally {
    await mq.close(0)
  }
})

test('a bridge to an unreachable server starts and stops', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    mq.createTopic('orders')
    const bridge = new NatsBridge(mq, {
      id: 'x',
      servers: 'nats://127.0.0.1:1',
      exports: [{ topic: 'orders', group: 'nats', subject: 'o' }],
    })
    assert.equal(bridge.broker, mq)
    assert.equal(bridge.stats().connected, false)
    assert.equal(bridge.stopped, false)
    const [a, b] = await Promise.all([bridge.stop(0), bridge.stop(0)])
    assert.deepEqual(a, b)
    assert.equal(a.exported, 0)
    assert.equal(bridge.stopped, true)
    assert.deepEqual(bridge.stats(), a)
  } finally {
    await mq.close(0)
  }
})

async function waitFor(cond, ms = 15000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (cond()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return cond()
}

test('round trip through JetStream', { skip: URL ? false : 'RINGMQ_NATS_URL is not set', timeout: 60000 }, async () => {
  const run = crypto.randomBytes(5).toString('hex')
  const stream = `JS_${run}`
  const mq = new Broker()
  try {
    const orders = mq.createTopic('orders')
    mq.createTopic('copy')
    const reader = mq.topic('copy').pull('reader', { start: 'earliest' })
    const exporter = new NatsBridge(mq, {
      id: `js-${run}`,
      servers: [URL],
      exports: [{ topic: 'orders', group: 'nats', subject: `js.${run}.orders`, stream }],
      reconnectMinMs: 50,
      reconnectMaxMs: 500,
    })
    const n = 50
    for (let i = 0; i < n; i++) orders.publish(Buffer.from(`order-${i}`), { key: i })
    assert.ok(await waitFor(() => exporter.stats().exported === n), JSON.stringify(exporter.stats()))
    const s = exporter.stats()
    assert.equal(s.connected, true)
    assert.equal(s.inFlight, 0)
    assert.equal(s.deadLettered, 0)
    const importer = new NatsBridge(mq, {
      id: `js-in-${run}`,
      servers: URL,
      imports: [{ stream, consumer: `c${run}`, topic: 'copy', group: 'reader' }],
    })
    const got = []
    const deadline = Date.now() + 15000
    while (got.length < n && Date.now() < deadline) {
      const m = await reader.poll(500)
      if (m) {
        got.push(m.data.toString())
        m.ack()
      }
    }
    const want = Array.from({ length: n }, (_, i) => `order-${i}`)
    assert.deepEqual(got.sort(), want.sort())
    assert.ok(await waitFor(() => importer.stats().imported === n), JSON.stringify(importer.stats()))
    const fin = await importer.stop(1000)
    assert.equal(fin.imported, n)
    assert.equal(fin.connected, false)
    assert.equal((await exporter.stop(1000)).exported, n)
  } finally {
    await mq.close(0)
  }
})
