'use strict'
// A wait off the JS thread is one core call; closing what it waits on ends it.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker } = require('ringmq')

/** How a promise settles, and how long after `since` it did. */
async function settle(p, since) {
  try {
    const value = await p
    return { value, ms: Date.now() - since() }
  } catch (error) {
    return { error, ms: Date.now() - since() }
  }
}

test('a pending poll settles when the broker closes', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  const pull = mq.createTopic('w').pull('g')
  let closedAt = Infinity
  const pending = settle(pull.poll(), () => closedAt)
  const batch = settle(pull.pollBatch(8), () => closedAt)
  await new Promise((r) => setTimeout(r, 100))
  closedAt = Date.now()
  await mq.close(100)
  for (const r of [await pending, await batch]) {
    assert.ok(r.ms < 1000, `settled ${r.ms} ms after close`)
    if (r.error !== undefined) assert.equal(r.error.code, 'CLOSED')
    else assert.ok(r.value === null || r.value.length === 0)
  }
})

test('a pending poll settles when its subscription is removed', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const pull = mq.createTopic('u').pull('g')
    let at = Infinity
    const pending = settle(pull.poll(), () => at)
    await new Promise((r) => setTimeout(r, 100))
    at = Date.now()
    pull.unsubscribe()
    const r = await pending
    assert.ok(r.ms < 1000, `settled ${r.ms} ms after unsubscribe`)
    assert.equal(r.error?.code, 'CLOSED')
  } finally {
    await mq.close(100)
  }
})

test('a publish waiting for room settles when the broker closes', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  const t = mq.createTopic('p', { capacity: 2 })
  t.pull('g')
  t.publish(Buffer.from('a'))
  t.publish(Buffer.from('b'))
  let closedAt = Infinity
  const pending = settle(t.publishAsync(Buffer.from('c')), () => closedAt)
  await new Promise((r) => setTimeout(r, 100))
  closedAt = Date.now()
  await mq.close(100)
  const r = await pending
  assert.ok(r.ms < 1000, `settled ${r.ms} ms after close`)
  assert.equal(r.error?.code, 'CLOSED')
})
