'use strict'
// Headers, msgId, delay, ttl, pause/resume, whyIdle, Retry/Term and the
// checks of their arguments.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker, Retry, Term } = require('ringmq')

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function until(cond, ms = 5000, what = 'condition') {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

test('headers round trip through pull, raw and push consumers', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('h')
    const pull = t.pull('p')
    const raw = t.pull('r')
    const pushed = []
    t.subscribe('s', (m) => {
      pushed.push(m)
    })
    t.publish(Buffer.from('one'), {
      headers: { traceparent: TRACE, bin: Buffer.from([0, 1, 255]), empty: '' },
      msgId: 'id-1',
      key: 9,
    })
    t.publish(Buffer.from('two'))
    const [a, b] = await pull.pollBatch(2, 2000)
    assert.equal(a.data.toString(), 'one')
    assert.equal(a.key, 9)
    assert.equal(a.headers.traceparent.toString(), TRACE)
    assert.deepEqual([...a.headers.bin], [0, 1, 255])
    assert.equal(a.headers.empty.length, 0)
    assert.deepEqual(Object.keys(a.headers), ['traceparent', 'bin', 'empty'])
    assert.equal(a.msgId.toString(), 'id-1')
    assert.deepEqual(b.headers, {})
    assert.equal(b.msgId, null)
    pull.ackAll([a, b])
    const rb = raw.tryPollRaw()
    assert.equal(rb.length, 2)
    assert.equal(rb.headers(0).traceparent.toString(), TRACE)
    assert.equal(rb.msgId(0).toString(), 'id-1')
    assert.deepEqual(rb.headers(1), {})
    assert.equal(rb.msgId(1), null)
    rb.ackAll()
    await until(() => pushed.length === 2, 5000, 'push deliveries')
    assert.equal(pushed[0].headers.traceparent.toString(), TRACE)
    assert.deepEqual([...pushed[0].headers.bin], [0, 1, 255])
    assert.equal(pushed[0].msgId.toString(), 'id-1')
    assert.equal(pushed[0].data.toString(), 'one')
    assert.deepEqual(pushed[1].headers, {})
    assert.equal(pushed[1].msgId, null)
    assert.equal(pushed[1].data.toString(), 'two')
  } finally {
    await mq.close(1000)
  }
})

test('a msgId published twice stores one message and answers the first id', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('d')
    const pull = t.pull('p')
    const first = t.publish(Buffer.from('a'), { msgId: Buffer.from('order-7') })
    t.publish(Buffer.from('x'))
    const again = t.publish(Buffer.from('b'), { msgId: 'order-7' })
    assert.equal(again, first)
    assert.equal(t.stats().duplicates, 1)
    assert.equal(t.stats().published, 2)
    const got = pull.tryPollBatch(10)
    assert.deepEqual(
      got.map((m) => m.data.toString()),
      ['a', 'x'],
    )
    pull.ackAll(got)
  } finally {
    await mq.close(100)
  }
})

test('a delayed message is not polled at once, then within 2 s', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('delay')
    const pull = t.pull('p')
    const start = Date.now()
    const id = t.publish(Buffer.from('later'), { delayMs: 200 })
    assert.equal(pull.tryPoll(), null)
    assert.equal(t.stats().delayed, 1)
    assert.ok(pull.whyIdle().some((r) => r.startsWith('waiting for delayed messages')), String(pull.whyIdle()))
    const m = await pull.poll(2000)
    assert.ok(m !== null, 'the delayed message arrives')
    assert.equal(m.id, id)
    assert.equal(m.data.toString(), 'later')
    assert.ok(Date.now() - start >= 150, `delivered after ${Date.now() - start} ms`)
    m.ack()
  } finally {
    await mq.close(100)
  }
})

test('the close report counts dropped delayed messages and pinned slots', { timeout: 30000 }, async () => {
  const mq = new Broker()
  const t = mq.createTopic('report', { ackTimeoutMs: 50 })
  const pull = t.pull('p')
  t.publish(Buffer.from('held'))
  t.publish(Buffer.from('not yet'), { delayMs: 60000 })
  const held = await pull.poll(1000)
  assert.ok(held !== null)
  await sleep(120)
  pull.tryPoll() // its scan finds the held delivery past its ack timeout
  const r = await mq.close(0)
  assert.equal(r.delayed, 1) // the delayed one, dropped with its topic
  assert.equal(r.waitingRetry, 1) // the held one, back from its ack timeout
  assert.equal(r.undelivered, 1)
  // A Node message holds a copy of its payload, not the ring slot: one
  // left unsettled past its ack timeout never pins a slot.
  assert.equal(r.pinned, 0)
  assert.equal(held.data.toString(), 'held')
})

test('an expired message goes to the dead-letter topic with reason expired', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('ttl')
    const dlq = t.deadLetterTopic().pull('dead')
    const pull = t.pull('p')
    t.publish(Buffer.from('stale'), { ttlMs: 50, headers: { traceparent: TRACE } })
    await sleep(200)
    assert.equal(pull.tryPoll(), null)
    assert.equal(pull.stats().expiredMessages, 1)
    const d = await dlq.poll(2000)
    assert.ok(d !== null, 'the expired message is dead-lettered')
    assert.equal(d.data.toString(), 'stale')
    assert.equal(d.error, 'expired')
    assert.equal(d.deadLetterGroup, 'p')
    d.ack()
  } finally {
    await mq.close(100)
  }
})

test('maxInFlightPerKey holds a key at its cap, in order', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('keyed')
    const pull = t.pull('p', { maxInFlightPerKey: 1 })
    for (let i = 0; i < 3; i++) t.publish(Buffer.from(`k1-${i}`), { key: 1 })
    t.publish(Buffer.from('k2'), { key: 2 })
    const first = await pull.poll(1000)
    const other = await pull.poll(1000)
    assert.deepEqual([first.data.toString(), other.data.toString()], ['k1-0', 'k2'])
    assert.equal(pull.tryPoll(), null)
    assert.ok(pull.whyIdle().some((r) => r.startsWith('keys at their cap')), String(pull.whyIdle()))
    first.ack()
    other.ack()
    const rest = []
    while (rest.length < 2) {
      const m = await pull.poll(1000)
      assert.ok(m, 'the next of key 1 arrives')
      rest.push(m.data.toString())
      m.ack()
    }
    assert.deepEqual(rest, ['k1-1', 'k1-2'])
  } finally {
    await mq.close(100)
  }
})

test('pause and resume, and whyIdle says paused', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('pause')
    const pull = t.pull('p')
    assert.equal(pull.paused, false)
    assert.deepEqual(pull.whyIdle(), ['nothing published'])
    pull.pause()
    assert.equal(pull.paused, true)
    assert.equal(pull.stats().paused, 1)
    t.publish(Buffer.from('held'))
    assert.equal(pull.tryPoll(), null)
    assert.ok(pull.whyIdle().includes('paused'))
    pull.resume()
    assert.equal(pull.paused, false)
    const m = pull.tryPoll()
    assert.equal(m.data.toString(), 'held')
    m.ack()

    const seen = []
    const sub = t.subscribe('s', (msg) => {
      seen.push(msg.data.toString())
    })
    sub.pause()
    assert.equal(sub.paused, true)
    assert.ok(sub.whyIdle().includes('paused'))
    t.publish(Buffer.from('push'))
    await sleep(100)
    assert.deepEqual(seen, [])
    sub.resume()
    assert.equal(sub.paused, false)
    await until(() => seen.length === 1, 5000, 'the push delivery after resume')
    assert.deepEqual(seen, ['push'])
    await sub.unsubscribe()
    assert.throws(() => sub.pause(), (e) => e.code === 'CLOSED')
  } finally {
    await mq.close(100)
  }
})

test('Retry and Term from a push handler; other failures are emitted', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('outcomes', { backoffBaseMs: 5000, backoffMaxMs: 5000, maxAttempts: 5 })
    const dlq = t.deadLetterTopic().pull('dead')
    const seen = []
    const errors = []
    const sub = t.subscribe('s', async (m) => {
      const what = m.data.toString()
      seen.push([what, m.attempt])
      if (what === 'retry' && m.attempt === 1) throw new Retry(50, 'not yet')
      if (what === 'term') throw new Term('poison pill')
      if (what === 'fail' && m.attempt === 1) throw new Error('boom')
    })
    sub.on('error', (err, msg) => errors.push([err.message, msg.data.toString()]))
    const start = Date.now()
    t.publish(Buffer.from('retry'))
    t.publish(Buffer.from('term'))
    t.publish(Buffer.from('fail'))
    // Retry's delay (50 ms), not the backoff (5 s).
    await until(() => seen.some(([w, a]) => w === 'retry' && a === 2), 3000, 'the retry')
    assert.ok(Date.now() - start < 4000)
    const d = await dlq.poll(2000)
    assert.ok(d !== null, 'the termed message is dead-lettered')
    assert.equal(d.data.toString(), 'term')
    assert.equal(d.attempt, 1)
    assert.equal(d.error, 'poison pill')
    assert.equal(d.deadLetterGroup, 's')
    d.ack()
    assert.deepEqual(errors, [['boom', 'fail']])
    assert.equal(seen.filter(([w]) => w === 'term').length, 1)
    assert.throws(() => new Retry(-1), (e) => e.code === 'INVALID_ARGUMENT')
    assert.ok(new Retry(10) instanceof Error)
    assert.equal(new Term('x').reason, 'x')
  } finally {
    await mq.close(100)
  }
})

test('bad publish options and sub options throw and publish nothing', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('bad', { maxHeaderBytes: 64 })
    const pull = t.pull('p')
    assert.throws(
      () => t.publish(Buffer.from('x'), { headers: { big: Buffer.alloc(100) } }),
      (e) => e.code === 'TOO_LARGE',
    )
    assert.throws(() => t.publish(Buffer.from('x'), { msgId: Buffer.alloc(129) }), (e) => e.code === 'TOO_LARGE')
    assert.throws(() => t.publish(Buffer.from('x'), { msgId: '' }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.publish(Buffer.from('x'), { delayMs: -1 }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.publish(Buffer.from('x'), { delayMs: NaN }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.publish(Buffer.from('x'), { ttlMs: -5 }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.publish(Buffer.from('x'), { headers: { a: 1 } }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.publish(Buffer.from('x'), { headers: 'a' }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.publish(Buffer.from('x'), { msgId: 7 }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.equal(t.stats().published, 0)
    assert.equal(pull.tryPoll(), null)
    assert.throws(() => t.pull('r0', { rateLimit: 0 }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.pull('r1', { rateLimit: -1 }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.pull('r2', { rateLimit: 'fast' }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.subscribe('r3', () => {}, { rateLimit: 0 }), (e) => e.code === 'INVALID_ARGUMENT')
    assert.throws(() => t.pull('k2', { maxInFlightPerKey: 70000 }), (e) => e.code === 'INVALID_ARGUMENT' && /max_in_flight_per_key/.test(e.message))
    const limited = t.pull('ok', { rateLimit: 1000, rateBurst: 5, maxInFlightPerKey: 2 })
    assert.equal(limited.group, 'ok')
  } finally {
    await mq.close(100)
  }
})
