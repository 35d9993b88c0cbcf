'use strict'
// Dead letters carry the engine's reason and the group that gave up on
// them, pulled (as objects and raw batches) and pushed alike.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker } = require('ringmq')

test('two groups dead-letter one message: each dead letter keeps its own error and group', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('pay', { capacity: 16, maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 2 })
    const dead = t.deadLetterTopic().pull('dead')
    const ledger = t.pull('ledger')
    t.subscribe('mailer', (m) => {
      throw new Error(`no address for ${m.id}`)
    })
    const id = t.publish(Buffer.from('pay 7'))
    const m = await ledger.poll(2000)
    assert.equal(m.error, null)
    assert.equal(m.deadLetterGroup, null)
    m.nack(0)
    const again = await ledger.poll(2000)
    again.nack(0)
    const seen = {}
    for (let i = 0; i < 2; i++) {
      const d = await dead.poll(5000)
      assert.ok(d, 'dead letters arrive')
      assert.equal(d.id, id)
      assert.equal(d.data.toString(), 'pay 7')
      seen[d.deadLetterGroup] = d.error
      d.ack()
    }
    assert.deepEqual(seen, {
      ledger: 'failed 2 deliveries (max_attempts 2): nacked',
      mailer: `failed 2 deliveries (max_attempts 2): no address for ${id}`,
    })
  } finally {
    await mq.close(1000)
  }
})

test('dead-letter notes in batches, raw batches and push handlers of the DLQ', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('jobs', { capacity: 16 })
    const dlq = t.deadLetterTopic()
    const batchSub = dlq.pull('batch')
    const rawSub = dlq.pull('raw')
    const pushed = []
    dlq.subscribe('pager', (m) => {
      pushed.push([m.data.toString(), m.error, m.deadLetterGroup])
    })
    const g = t.pull('g')
    t.publish(Buffer.from('a'))
    t.publish(Buffer.from('b'))
    ;(await g.poll(2000)).term()
    ;(await g.poll(2000)).ack()
    // A message published into the dead-letter topic itself has no note.
    dlq.publish(Buffer.from('direct'))

    const batch = []
    while (batch.length < 2) batch.push(...(await batchSub.pollBatch(8, 2000)))
    assert.deepEqual(
      batch.map((m) => [m.data.toString(), m.error, m.deadLetterGroup]),
      [
        ['a', 'termed', 'g'],
        ['direct', null, null],
      ],
    )
    batchSub.ackAll(batch)

    const rows = []
    while (rows.length < 2) {
      const raw = await rawSub.pollRaw(8, 2000)
      assert.ok(raw.length > 0, 'raw batches arrive')
      for (let i = 0; i < raw.length; i++) rows.push([raw.payload(i).toString(), raw.error(i), raw.deadLetterGroup(i)])
      raw.ackAll()
    }
    assert.deepEqual(rows, [
      ['a', 'termed', 'g'],
      ['direct', null, null],
    ])

    const end = Date.now() + 5000
    while (pushed.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
    assert.deepEqual(pushed, [
      ['a', 'termed', 'g'],
      ['direct', null, null],
    ])
  } finally {
    await mq.close(1000)
  }
})
