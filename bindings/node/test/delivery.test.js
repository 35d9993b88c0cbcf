'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker } = require('ringmq')

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function until(cond, ms = 5000, what = 'condition') {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

test('fan-out: every subscription gets every message', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('fan', { capacity: 256, slotSize: 32 })
    const a = t.pull('a')
    const b = t.pull('b')
    const pushed = []
    t.subscribe('c', (m) => {
      pushed.push(m.id)
    })
    const n = 500
    const producer = (async () => {
      for (let i = 0; i < n; i++) await t.publishAsync(Buffer.from(String(i)))
    })()
    const drain = async (p) => {
      const ids = []
      while (ids.length < n) {
        const batch = await p.pollBatch(64, 2000)
        assert.ok(batch.length > 0, 'messages keep arriving')
        for (const m of batch) ids.push(Number(m.data.toString()))
        p.ackAll(batch)
      }
      return ids
    }
    const [ia, ib] = await Promise.all([drain(a), drain(b), producer])
    const all = Array.from({ length: n }, (_, i) => i)
    assert.deepEqual(ia, all)
    assert.deepEqual(ib, all)
    await until(() => pushed.length === n, 5000, 'push deliveries')
    assert.deepEqual(
      [...pushed].sort((x, y) => x - y),
      all,
    )
  } finally {
    await mq.close(1000)
  }
})

test('competing consumers: each message goes to exactly one poller of a group', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('work', { capacity: 128, slotSize: 32 })
    const p1 = t.pull('workers')
    const p2 = t.pullSubscription('workers')
    const n = 1000
    const seen = new Map()
    const counts = [0, 0]
    const worker = async (p, w) => {
      while (seen.size < n) {
        const m = await p.poll(200)
        if (m === null) continue
        assert.ok(!seen.has(m.id), `message ${m.id} delivered twice`)
        seen.set(m.id, w)
        counts[w]++
        m.ack()
        // Give the other poller a turn.
        if (m.id % 7 === 0) await sleep(0)
      }
    }
    const producer = (async () => {
      for (let i = 0; i < n; i++) await t.publishAsync(Buffer.from(String(i)))
    })()
    await Promise.all([producer, worker(p1, 0), worker(p2, 1)])
    assert.equal(seen.size, n)
    assert.ok(counts[0] > 0 && counts[1] > 0, `both pollers got work: ${counts}`)
    assert.equal(p1.stats().acked, n)
  } finally {
    await mq.close(1000)
  }
})

test('push consumers of one group share the messages (concurrency)', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('shared', { capacity: 256 })
    const seen = []
    t.subscribe(
      'g',
      async (m) => {
        await sleep(1)
        seen.push(m.id)
      },
      { concurrency: 8 },
    )
    t.publishMany(Array.from({ length: 100 }, () => Buffer.from('x')))
    await until(() => seen.length === 100, 5000, 'handlers')
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
    )
  } finally {
    await mq.close(1000)
  }
})

test('pull retries: nack redelivers with attempt + 1, then the DLQ keeps id, key, payload', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('jobs', { capacity: 16, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 5 })
    const dead = t.deadLetterTopic().pull('dead')
    const pull = t.pull('g')
    const id = t.publish(Buffer.from('poison'), { key: 42 })
    const attempts = []
    for (let i = 0; i < 3; i++) {
      const m = await pull.poll(2000)
      assert.ok(m, `delivery ${i + 1}`)
      assert.equal(m.id, id)
      attempts.push(m.attempt)
      m.nack(0)
    }
    assert.deepEqual(attempts, [1, 2, 3])
    const d = await dead.poll(2000)
    assert.ok(d, 'dead letter arrives')
    assert.equal(d.id, id)
    assert.equal(d.key, 42)
    // A dead letter keeps its attempt count.
    assert.equal(d.attempt, 3)
    assert.equal(d.data.toString(), 'poison')
    d.ack()
    assert.equal(await pull.poll(50), null, 'no more deliveries after dead-lettering')
    const s = pull.stats()
    assert.equal(s.nacked, 3)
    assert.equal(s.deadLettered, 1)
    assert.equal(s.retried, 2)
  } finally {
    await mq.close(1000)
  }
})

test('term sends straight to the DLQ; inProgress keeps a slow message', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('t', { capacity: 16, ackTimeoutMs: 200, backoffBaseMs: 1, backoffMaxMs: 2 })
    const dead = t.deadLetterTopic().pull('dead')
    const pull = t.pull('g')
    t.publish(Buffer.from('a'))
    t.publish(Buffer.from('b'))
    const a = await pull.poll(1000)
    a.term()
    const d = await dead.poll(1000)
    assert.equal(d.data.toString(), 'a')
    assert.equal(d.attempt, 1, 'the one attempt before term')
    d.ack()

    const b = await pull.poll(1000)
    for (let i = 0; i < 4; i++) {
      await sleep(100)
      b.inProgress()
    }
    // 400 ms > ackTimeoutMs: without inProgress it would have been redelivered.
    assert.equal(pull.tryPoll(), null)
    b.ack()
    assert.equal(pull.stats().expired, 0)
  } finally {
    await mq.close(1000)
  }
})

test('an unsettled pulled message is redelivered after ackTimeoutMs', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('t', { capacity: 16, ackTimeoutMs: 50, backoffBaseMs: 1, backoffMaxMs: 2 })
    const pull = t.pull('g')
    t.publish(Buffer.from('slow'))
    const first = await pull.poll(1000)
    assert.equal(first.attempt, 1)
    const again = await pull.poll(3000)
    assert.ok(again, 'redelivered')
    assert.equal(again.id, first.id)
    assert.equal(again.attempt, 2)
    again.ack()
    assert.ok(pull.stats().expired >= 1)
  } finally {
    await mq.close(1000)
  }
})

test('push retries: a throwing handler is retried, then dead-lettered, with its error text kept', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('p', { capacity: 16, maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 5 })
    const dead = t.deadLetterTopic().pull('dead')
    const attempts = []
    const sub = t.subscribe('g', (m) => {
      attempts.push(m.attempt)
      throw new Error(`cannot handle ${m.data}`)
    })
    t.publish(Buffer.from('order-9'), { key: 9 })
    const d = await dead.poll(5000)
    assert.ok(d, 'dead letter arrives')
    assert.equal(d.key, 9)
    assert.equal(d.attempt, 3, 'the 3 failed attempts')
    d.ack()
    assert.deepEqual(attempts, [1, 2, 3])
    const s = sub.stats()
    assert.equal(s.deadLettered, 1)
    assert.equal(s.nacked, 3)
    assert.match(s.lastError, /cannot handle order-9/)
  } finally {
    await mq.close(1000)
  }
})

test('async handlers: resolve acks, reject nacks with the reason kept', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('a', { capacity: 64, maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 2 })
    const dead = t.deadLetterTopic().pull('dead')
    const done = []
    const sub = t.subscribe('g', async (m) => {
      await sleep(2)
      if (m.data.toString() === 'bad') throw new TypeError('bad payload')
      done.push(m.data.toString())
    })
    const rejects = t.subscribe('r', (m) => Promise.reject(new Error(`rejected ${m.id}`)))
    t.publish(Buffer.from('ok1'))
    t.publish(Buffer.from('bad'))
    t.publish(Buffer.from('ok2'))
    // 'bad' dead-letters from both groups; the 2 'ok' ones from 'r' as well.
    const dl = []
    while (dl.length < 4) {
      const m = await dead.poll(5000)
      assert.ok(m, 'dead letters arrive')
      dl.push(m.data.toString())
      m.ack()
    }
    assert.deepEqual(dl.sort(), ['bad', 'bad', 'ok1', 'ok2'])
    await until(() => sub.stats().acked === 2, 2000, 'acks')
    assert.deepEqual(done, ['ok1', 'ok2'])
    assert.equal(sub.stats().lastError, 'bad payload')
    assert.match(rejects.stats().lastError, /^rejected \d$/)
    assert.equal(rejects.stats().acked, 0)
  } finally {
    await mq.close(1000)
  }
})

test('concurrency bounds async handlers in progress', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('c', { capacity: 128 })
    let running = 0
    let peak = 0
    let handled = 0
    t.subscribe(
      'g',
      async () => {
        running++
        peak = Math.max(peak, running)
        await sleep(5)
        running--
        handled++
      },
      { concurrency: 3 },
    )
    t.publishMany(Array.from({ length: 30 }, () => Buffer.from('x')))
    await until(() => handled === 30, 5000, 'handlers')
    assert.equal(peak, 3, `at most 3 at once, and 3 reached (peak ${peak})`)
  } finally {
    await mq.close(1000)
  }
})

test('orderedByKey: same key in publish order, never two at once', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('o', { capacity: 256 })
    const byKey = new Map()
    const busy = new Set()
    let overlap = false
    let handled = 0
    t.subscribe(
      'g',
      async (m) => {
        if (busy.has(m.key)) overlap = true
        busy.add(m.key)
        await sleep(Math.random() * 2)
        const list = byKey.get(m.key) || []
        list.push(Number(m.data.toString()))
        byKey.set(m.key, list)
        busy.delete(m.key)
        handled++
      },
      { concurrency: 4, orderedByKey: true },
    )
    for (let i = 0; i < 120; i++) t.publish(Buffer.from(String(i)), { key: i % 4 })
    await until(() => handled === 120, 10000, 'handlers')
    assert.equal(overlap, false)
    for (let k = 0; k < 4; k++) {
      const expect = Array.from({ length: 30 }, (_, j) => j * 4 + k)
      assert.deepEqual(byKey.get(k), expect)
    }
  } finally {
    await mq.close(1000)
  }
})

test('close drains: pending messages reach their handlers before close resolves', { timeout: 30000 }, async () => {
  const mq = new Broker()
  const t = mq.createTopic('d', { capacity: 256 })
  let handled = 0
  t.subscribe('g', async () => {
    await sleep(0)
    handled++
  })
  t.publishMany(Array.from({ length: 200 }, () => Buffer.from('x')))
  const report = await mq.close(5000)
  assert.equal(handled, 200)
  assert.equal(report.undelivered, 0)
  assert.equal(report.timedOut, false)
  // Idempotent.
  assert.deepEqual(await mq.close(10), report)
})

test('close reports what a stalled consumer left', { timeout: 30000 }, async () => {
  const mq = new Broker()
  const t = mq.createTopic('left', { capacity: 16 })
  t.pull('stalled')
  t.publish(Buffer.from('a'))
  t.publish(Buffer.from('b'))
  const r = await mq.close(20)
  assert.equal(r.timedOut, true)
  assert.equal(r.undelivered, 2)
  assert.deepEqual(r.left, [{ topic: 'left', group: 'stalled', count: 2 }])
})

test('unsubscribe stops a push subscription', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('u', { capacity: 16 })
    let n = 0
    const sub = t.subscribe('g', () => {
      n++
    })
    t.publish(Buffer.from('a'))
    await until(() => n === 1, 2000, 'first handler')
    await sub.unsubscribe()
    t.publish(Buffer.from('b'))
    await sleep(50)
    assert.equal(n, 1)
    assert.equal(t.stats().subscriptions, 0)
  } finally {
    await mq.close(100)
  }
})
