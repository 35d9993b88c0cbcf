'use strict'
// Regression tests, each named for the defect it keeps fixed.
const test = require('node:test')
const assert = require('node:assert/strict')
const child = require('./child_process')
const { Broker } = require('ringmq')

const LIMIT_MS = 8000

const run = (code) => child.run(code, LIMIT_MS)
const { assertExited } = child

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

test('an async handler awaiting its own unsubscribe resolves, and the process exits after close', { timeout: 30000 }, async () => {
  const r = await run(`
    const { Broker } = require('ringmq')
    ;(async () => {
      const mq = new Broker({ workersMin: 1, workersMax: 2 })
      const t = mq.createTopic('t', { capacity: 64 })
      let calls = 0
      let unsubscribed
      const done = new Promise((resolve) => (unsubscribed = resolve))
      const sub = t.subscribe('g', async () => {
        calls++
        await sub.unsubscribe()
        unsubscribed()
      }, { concurrency: 4 })
      for (let i = 0; i < 20; i++) t.publish(Buffer.from('x'))
      await done
      await new Promise((r) => setTimeout(r, 50))
      for (let i = 0; i < 5; i++) t.publish(Buffer.from('y'))
      await new Promise((r) => setTimeout(r, 50))
      await mq.close()
      console.log('closed after', calls, 'calls')
    })().catch((e) => { console.error(e); process.exit(1) })
  `)
  assertExited(r, 'closed after \\d+ calls')
  // At most the messages already in flight when it unsubscribed.
  const calls = Number(/closed after (\d+)/.exec(r.out)[1])
  assert.ok(calls >= 1 && calls <= 4, r.out)
})

test('no handler is called after unsubscribe, even for a batch queued before it', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMin: 2, workersMax: 2 })
  try {
    const t = mq.createTopic('t', { capacity: 1024 })
    let after = 0
    let stopped = false
    const sub = t.subscribe('g', () => {
      if (stopped) after++
    }, { concurrency: 8 })
    for (let i = 0; i < 500; i++) t.publish(Buffer.from('x'))
    // Unsubscribe on the JS thread while the pool is still queueing batches.
    stopped = true
    const p = sub.unsubscribe()
    await p
    for (let i = 0; i < 50; i++) t.publish(Buffer.from('y'))
    await sleep(100)
    assert.equal(after, 0)
  } finally {
    await mq.close(0)
  }
})

test('publishMany with a detached buffer answers INVALID_ARGUMENT', async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('t', { capacity: 64 })
    const buf = new Uint8Array([1, 2, 3])
    structuredClone(buf, { transfer: [buf.buffer] })
    assert.throws(() => t.publishMany([Buffer.from('ok'), buf]), (e) => e.code === 'INVALID_ARGUMENT' && /detached/.test(e.message))
    assert.throws(() => t.publish(buf), (e) => e.code === 'INVALID_ARGUMENT')
    const big = Buffer.from(new ArrayBuffer(16))
    if (typeof ArrayBuffer.prototype.transfer === 'function') big.buffer.transfer()
    else structuredClone(big.buffer, { transfer: [big.buffer] })
    // Many items take the other path (more than the staging area holds).
    const many = Array.from({ length: 40 }, () => Buffer.from('x'))
    many.push(big)
    assert.throws(() => t.publishMany(many), (e) => e.code === 'INVALID_ARGUMENT')
    await assert.rejects(t.publishManyAsync([big]), (e) => e.code === 'INVALID_ARGUMENT')
    // Nothing was published; an empty payload of a live buffer still is.
    assert.equal(t.stats().published, 0)
    t.publishMany([new Uint8Array(0)])
    assert.equal(t.stats().published, 1)
  } finally {
    await mq.close(0)
  }
})

test('a poll on a lossy subscription with every credit held settles null by its deadline', { timeout: 20000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('t', { capacity: 4 })
    const sub = t.pull('g', { lossy: true })
    const held = []
    for (let i = 0; i < 4; i++) {
      t.publish(Buffer.from(`m${i}`))
      held.push(await sub.poll(1000))
    }
    assert.ok(held.every((m) => m !== null))
    t.publish(Buffer.from('one more'))
    const cpu0 = process.cpuUsage()
    const t0 = Date.now()
    assert.equal(await sub.poll(100), null)
    const ms = Date.now() - t0
    const cpu = process.cpuUsage(cpu0)
    assert.ok(ms < 1000, `took ${ms} ms`)
    // Parked, not spinning.
    assert.ok(cpu.user + cpu.system < 80000, `used ${cpu.user + cpu.system} us of CPU`)
    for (const m of held) m.ack()
  } finally {
    await mq.close(0)
  }
})

test('unsubscribe after close answers CLOSED', async () => {
  const mq = new Broker()
  const t = mq.createTopic('t', { capacity: 64 })
  const pull = t.pull('p')
  const push = t.subscribe('g', () => {})
  t.publish(Buffer.from('x'))
  const m = await pull.poll(1000)
  await mq.close(0)
  assert.throws(() => pull.unsubscribe(), (e) => e.code === 'CLOSED')
  await assert.rejects(push.unsubscribe(), (e) => e.code === 'CLOSED')
  assert.throws(() => m.ack(), (e) => e.code === 'CLOSED')
})
