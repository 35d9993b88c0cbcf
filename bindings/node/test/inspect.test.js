'use strict'
// console.log and util.inspect show a message as a few lines of what a
// reader wants (topic, group, id, key, attempt, a payload preview, headers),
// never the internals (native handles, header arrays, the pool Buffer a
// payload is a view of, which holds other messages' bytes); topics,
// subscriptions and the broker print as one short line.
const test = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const { Broker, Term } = require('ringmq')

/** What console.log(value) prints (it formats with util.formatWithOptions). */
const logged = (value) => util.format('%O', value).replace(/\n$/, '')
const lines = (text) => text.split('\n').length

function assertNoInternals(text) {
  for (const inner of ['_pull', '_pool', '_hdr', '_ext', '_n', 'ArrayBuffer', 'Native', '[Function', '_events']) {
    assert.ok(!text.includes(inner), `shows ${inner}:\n${text}`)
  }
}

test('a pulled message prints in a few lines with its facts', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const orders = mq.createTopic('orders', { slotSize: 512 })
    const audit = orders.pull('audit')
    // Something else in the same pool Buffer first: it must not show.
    orders.publish(Buffer.from('SECRET-NEIGHBOUR'))
    const id = orders.publish(Buffer.from('{"order":42,"amount":"19.99"}'), {
      key: 7,
      headers: { traceparent: '00-abc-01' },
      msgId: 'order-42',
    })
    const [neighbour, msg] = await audit.pollBatch(2, 1000)
    assert.equal(msg.id, id)
    const text = logged(msg)
    assert.ok(lines(text) <= 6, `too long:\n${text}`)
    assert.ok(text.length < 400, `too long:\n${text}`)
    assert.match(text, /^Message \{/)
    for (const fact of [`id: ${id}`, 'key: 7', 'attempt: 1', "topic: 'orders'", "group: 'audit'",
      `'{"order":42,"amount":"19.99"}' (29 bytes)`, "traceparent: '00-abc-01'", "msgId: 'order-42'", 'settled: false']) {
      assert.ok(text.includes(fact), `no ${fact} in:\n${text}`)
    }
    assert.ok(!text.includes('SECRET'), `shows another message's bytes:\n${text}`)
    assertNoInternals(text)
    msg.ack()
    neighbour.ack()
    assert.ok(logged(msg).includes('settled: true'))
    // In a container it is indented, and past the depth limit a stub.
    const nested = logged({ batch: [msg] })
    assert.ok(lines(nested) <= lines(text) + 4, nested)
    assert.match(util.inspect({ a: { b: { c: msg } } }), /\[Message\]/)
  } finally {
    await mq.close(0)
  }
})

test('payload previews: binary as hex, long ones cut with their size', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('bin', { slotSize: 4096 })
    const p = t.pull('p')
    t.publish(Buffer.from([0, 1, 2, 0xff]), { key: 1n << 63n })
    t.publish(Buffer.alloc(3000, 'x'))
    const [bin, long] = await p.pollBatch(2, 1000)
    const b = logged(bin)
    assert.ok(b.includes('<Buffer 00 01 02 ff (4 bytes)>'), b)
    assert.ok(b.includes('key: 9223372036854775808n'), b)
    const l = logged(long)
    assert.ok(l.includes('… 3000 bytes'), l)
    assert.ok(l.length < 400, l)
    p.ackAll([bin, long])
  } finally {
    await mq.close(0)
  }
})

test('push messages and dead letters print with their subscription and reason', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('jobs', { maxAttempts: 1 })
    const seen = []
    t.subscribe('worker', (m) => {
      seen.push(logged(m))
      throw new Term('cannot do this one')
    })
    const dead = t.deadLetterTopic().pull('inspect', { start: 'earliest' })
    t.publish(Buffer.from('poison'), { key: 3, headers: { bin: Buffer.from([1, 2, 3]) } })
    const d = await dead.poll(5000)
    assert.ok(d !== null)
    const push = seen[0]
    assert.match(push, /^PushMessage \{/)
    for (const fact of ["topic: 'jobs'", "group: 'worker'", 'key: 3', 'attempt: 1', "'poison' (6 bytes)", 'bin: <Buffer 01 02 03>']) {
      assert.ok(push.includes(fact), `no ${fact} in:\n${push}`)
    }
    assert.ok(lines(push) <= 6, push)
    assertNoInternals(push)
    const text = logged(d)
    for (const fact of ["topic: 'jobs.dlq'", "error: 'cannot do this one'", "deadLetterGroup: 'worker'"]) {
      assert.ok(text.includes(fact), `no ${fact} in:\n${text}`)
    }
    d.ack()
  } finally {
    await mq.close(0)
  }
})

test('topics, subscriptions, batches and the broker print as one short line', { timeout: 30000 }, async () => {
  const mq = new Broker()
  const t = mq.createTopic('orders', { capacity: 64, slotSize: 128 })
  const pull = t.pull('audit')
  const push = t.subscribe('billing', () => {})
  t.publish(Buffer.from('x'))
  const raw = await pull.pollRaw(10, 1000)
  const shown = {
    topic: [logged(t), "Topic { name: 'orders', capacity: 64, slotSize: 128 }"],
    pull: [logged(pull), "Pull { topic: 'orders', group: 'audit', paused: false }"],
    push: [logged(push), "Subscription { topic: 'orders', group: 'billing', paused: false }"],
    raw: [logged(raw), 'RawBatch { length: 1, bytes: 1 }'],
    broker: [logged(mq), "Broker { topics: [ 'orders', 'orders.dlq' ], closed: false }"],
  }
  for (const [what, [got, want]] of Object.entries(shown)) assert.equal(got, want, what)
  raw.ackAll()
  await push.unsubscribe()
  assert.equal(logged(push), "Subscription { topic: 'orders', group: 'billing', closed: true }")
  await mq.close(0)
  assert.equal(logged(mq), 'Broker { closed: true }')
  assertNoInternals(logged([t, pull, push, mq]))
})
