'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker } = require('ringmq')

const fill = (t, n) => {
  for (let i = 0; i < n; i++) t.publish(Buffer.from(String(i)))
}

test('reject: a full ring answers FULL at once and counts it', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('r', { capacity: 8, overflow: 'reject' })
    const pull = t.pull('slow')
    fill(t, 8)
    assert.throws(() => t.publish(Buffer.from('x')), { code: 'FULL' })
    assert.throws(() => t.publishMany([Buffer.from('x')]), { code: 'FULL' })
    await assert.rejects(t.publishAsync(Buffer.from('x'), { timeoutMs: 1000 }), { code: 'FULL' })
    assert.equal(t.stats().rejected, 3)
    // Nothing was lost: the 8 are all there, and room comes back with acks.
    const got = await pull.pollBatch(16, 1000)
    assert.deepEqual(
      got.map((m) => m.data.toString()),
      ['0', '1', '2', '3', '4', '5', '6', '7'],
    )
    pull.ackAll(got)
    assert.equal(t.publish(Buffer.from('again')), 8)
  } finally {
    await mq.close(100)
  }
})

test('block: publish never waits (TIMEOUT), publishAsync waits off the JS thread for room', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('b', { capacity: 4, overflow: 'block' })
    const pull = t.pull('slow')
    fill(t, 4)
    const t0 = Date.now()
    assert.throws(() => t.publish(Buffer.from('x')), { code: 'TIMEOUT' })
    assert.ok(Date.now() - t0 < 100, 'publish did not wait')
    await assert.rejects(t.publishAsync(Buffer.from('x'), { timeoutMs: 30 }), { code: 'TIMEOUT' })
    await assert.rejects(t.publishManyAsync([Buffer.from('x')], { timeoutMs: 0 }), { code: 'TIMEOUT' })

    // A waiting publishAsync completes once a consumer frees a slot; the JS
    // thread stays free meanwhile (the timer below runs).
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    const waiting = t.publishAsync(Buffer.from('late'), { key: 5 })
    let settled = false
    waiting.then(() => {
      settled = true
    })
    await new Promise((r) => setTimeout(r, 60))
    assert.equal(settled, false, 'still waiting for room')
    assert.ok(ticks >= 3, 'the event loop kept running')
    const m = await pull.poll(1000)
    m.ack()
    const id = await waiting
    clearInterval(timer)
    assert.equal(id, 4)
    const rest = await pull.pollBatch(8, 1000)
    assert.equal(rest.at(-1).data.toString(), 'late')
    assert.equal(rest.at(-1).key, 5)
    pull.ackAll(rest)
    assert.ok(t.stats().timedOut >= 2)
  } finally {
    await mq.close(100)
  }
})

test('drop_oldest: publish always succeeds, subscribers see the newest and count drops', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('d', { capacity: 8, overflow: 'drop_oldest' })
    const pull = t.pull('dash')
    fill(t, 20)
    const got = []
    for (;;) {
      const batch = await pull.pollBatch(32, 50)
      if (batch.length === 0) break
      got.push(...batch.map((m) => Number(m.data.toString())))
      pull.ackAll(batch)
    }
    assert.ok(got.length <= 8 && got.length > 0, `at most a ring of messages: ${got}`)
    assert.equal(got.at(-1), 19, 'the newest survives')
    assert.deepEqual(
      got,
      [...got].sort((a, b) => a - b),
    )
    assert.equal(pull.stats().dropped + got.length, 20)
    assert.equal(t.stats().published, 20)
  } finally {
    await mq.close(100)
  }
})

test('a lossy subscription does not hold producers back', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('l', { capacity: 8, overflow: 'reject' })
    const fast = t.pull('fast')
    const lossy = t.pull('dashboard', { lossy: true })
    for (let i = 0; i < 40; i++) {
      t.publish(Buffer.from(String(i)))
      const m = await fast.poll(1000)
      m.ack()
    }
    const got = []
    for (;;) {
      const b = await lossy.pollBatch(64, 30)
      if (b.length === 0) break
      got.push(...b)
      lossy.ackAll(b)
    }
    assert.ok(lossy.stats().dropped > 0)
    assert.equal(lossy.stats().dropped + got.length, 40)
  } finally {
    await mq.close(100)
  }
})

test('publishMany is all or nothing and bounded by capacity', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('m', { capacity: 8, overflow: 'reject' })
    const pull = t.pull('g')
    fill(t, 5)
    assert.throws(() => t.publishMany([1, 2, 3, 4].map(() => Buffer.from('x'))), { code: 'FULL' })
    assert.equal(t.stats().published, 5, 'none of the batch went in')
    assert.throws(
      () => t.publishMany(Array.from({ length: 9 }, () => Buffer.from('x'))),
      (e) => e.code === 'INVALID_ARGUMENT' && /capacity/.test(e.message),
    )
    assert.deepEqual(t.publishMany([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]), [5, 6, 7])
    pull.ackAll(await pull.pollBatch(8, 100))
  } finally {
    await mq.close(100)
  }
})
