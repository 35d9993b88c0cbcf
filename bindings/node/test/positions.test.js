'use strict'
// Where a new subscription starts: start 'earliest' (a topic keeps its last
// `capacity` messages, its dead-letter topic too), startAtId and
// startAtTime.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker, RingMQError, Term } = require('ringmq')

const bad = (pattern) => (e) => {
  assert.ok(e instanceof RingMQError, `a RingMQError, got ${e}`)
  assert.equal(e.code, 'INVALID_ARGUMENT', `code of ${e.message}`)
  if (pattern) assert.match(e.message, pattern)
  return true
}

/** Acks everything deliverable now; the ids in delivery order. */
function drainIds(pull) {
  const ids = []
  for (let m = pull.tryPoll(); m !== null; m = pull.tryPoll()) {
    ids.push(m.id)
    m.ack()
  }
  return ids
}

const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function until(check, ms = 5000) {
  const end = Date.now() + ms
  while (!check() && Date.now() < end) await sleep(5)
  return check()
}

test("start 'earliest' reads the last capacity messages of a topic nobody subscribed to", { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('history', { capacity: 8 })
    for (let i = 0; i < 10; i++) assert.equal(t.publish(Buffer.from([i])), i)
    const late = t.pull('late', { start: 'earliest' })
    assert.deepEqual(drainIds(late), range(2, 10))
    const latest = t.pull('latest')
    assert.equal(t.publish(Buffer.from('new')), 10)
    assert.deepEqual(drainIds(latest), [10])
    assert.deepEqual(drainIds(late), [10], 'then the live messages, once')

    // A push subscription gets the history too.
    const pushed = []
    t.subscribe('pushed', (m) => void pushed.push([m.id, m.data[0]]), { start: 'earliest' })
    assert.ok(await until(() => pushed.length === 8))
    assert.deepEqual(pushed, [...range(3, 10).map((i) => [i, i]), [10, 'n'.charCodeAt(0)]])
  } finally {
    await mq.close(1000)
  }
})

test('the dead-letter topic keeps its dead letters for a subscription created later', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('orders', { capacity: 8 })
    t.subscribe('billing', () => {
      throw new Term('refused')
    })
    const ids = [0, 1, 2].map((i) => t.publish(Buffer.from([i])))
    const dlq = t.deadLetterTopic()
    assert.ok(await until(() => dlq.stats().published === 3), 'three terms')
    // Nobody listened on the dead-letter topic until now.
    const later = dlq.pull('inspector', { start: 'earliest' })
    const got = []
    for (let m = later.tryPoll(); m !== null; m = later.tryPoll()) {
      assert.equal(m.error, 'refused')
      assert.equal(m.deadLetterGroup, 'billing')
      got.push(m.id)
      m.ack()
    }
    assert.deepEqual(got, ids)
  } finally {
    await mq.close(1000)
  }
})

test('startAtId starts there, or at the oldest message held', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('ids', { capacity: 8 })
    for (let i = 0; i < 12; i++) t.publish(Buffer.from([i]))
    assert.deepEqual(drainIds(t.pull('at9', { startAtId: 9 })), [9, 10, 11])
    assert.deepEqual(drainIds(t.pull('at9n', { startAtId: 9n })), [9, 10, 11])
    assert.deepEqual(drainIds(t.pull('over', { start: 'earliest', startAtId: 10 })), [10, 11], 'overrides start')
    assert.deepEqual(drainIds(t.pull('gone', { startAtId: 1 })), range(4, 12), 'id 1 was overwritten')
    const next = t.pull('next', { startAtId: 12 })
    assert.deepEqual(drainIds(next), [])
    t.publish(Buffer.from('x'))
    assert.deepEqual(drainIds(next), [12])
    const pushed = []
    t.subscribe('pushed', (m) => void pushed.push(m.id), { startAtId: 10 })
    assert.ok(await until(() => pushed.length === 3))
    assert.deepEqual(pushed, [10, 11, 12])
  } finally {
    await mq.close(1000)
  }
})

test('startAtTime starts at the first message published then', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('times', { capacity: 16 })
    const watch = t.pull('watch')
    t.publish(Buffer.from('before'))
    await sleep(20)
    const later = [t.publish(Buffer.from('after 1')), t.publish(Buffer.from('after 2'))]
    const stamps = []
    for (let i = 0; i < 3; i++) stamps.push((await watch.poll(1000)).timestampMs)
    // Between the two publishes, by the engine's own clock.
    const then = (stamps[0] + stamps[1]) / 2
    assert.deepEqual(drainIds(t.pull('ms', { startAtTime: then })), later)
    assert.deepEqual(drainIds(t.pull('date', { startAtTime: new Date(then) })), later)
    assert.deepEqual(drainIds(t.pull('over', { start: 'earliest', startAtTime: then })), later, 'overrides start')
    assert.deepEqual(drainIds(t.pull('hour', { startAtTime: then - 3600e3 })), [later[0] - 1, ...later])
    const future = t.pull('future', { startAtTime: Date.now() + 60e3 })
    assert.deepEqual(drainIds(future), [], 'nothing yet: starts at the next')
    const next = t.publish(Buffer.from('next'))
    assert.deepEqual(drainIds(future), [next])
  } finally {
    await mq.close(1000)
  }
})

test('bad positions throw INVALID_ARGUMENT and create nothing', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('bad', { capacity: 8 })
    for (let i = 0; i < 12; i++) t.publish(Buffer.from([i]))
    const handler = () => {}
    assert.throws(() => t.pull('both', { startAtId: 3, startAtTime: Date.now() }), bad(/start_at_id and start_at_time are both set/))
    assert.throws(() => t.subscribe('both', handler, { startAtId: 3, startAtTime: new Date() }), bad(/both set/))
    assert.throws(() => t.pull('future', { startAtId: 13 }), bad(/start_at_id 13 is past the next id 12/))
    assert.throws(() => t.subscribe('future', handler, { startAtId: 100n }), bad(/past the next id/))
    for (const id of [-1, 1.5, NaN, 2 ** 53, '3', null, -1n, 1n << 64n]) {
      assert.throws(() => t.pull('id', { startAtId: id }), bad(/startAtId/), String(id))
    }
    for (const when of [-1, NaN, Infinity, '2026-01-01', null, 5n, new Date(NaN), new Date(-1)]) {
      assert.throws(() => t.pull('when', { startAtTime: when }), bad(/startAtTime/), String(when))
      assert.throws(() => t.subscribe('when', handler, { startAtTime: when }), bad(/startAtTime/), String(when))
    }
    assert.equal(t.stats().subscriptions, 0)
    assert.deepEqual(Object.keys(t.subscriptionStats()), [])
    // Bigints above 2^53 get as far as the engine, which answers for the id.
    assert.throws(() => t.pull('big', { startAtId: (1n << 64n) - 1n }), bad(/past the next id/))
    assert.deepEqual(drainIds(t.pull('ok', { startAtId: undefined, startAtTime: undefined })), [])
  } finally {
    await mq.close(1000)
  }
})
