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

// close() from inside a push handler: it settles well within the drain
// (30 s here, so that waiting it out would show), and the process exits.
// `variant` is 'sync' (the handler calls close and returns) or 'async'
// (the handler awaits close); with `alsoMain` the main program's own
// close(30000) is already running when the handler calls close.
const closeFromHandler = (variant, alsoMain) => `
  const { Broker } = require('ringmq')
  ;(async () => {
    const mq = new Broker({ workersMin: 1, workersMax: 2 })
    const t = mq.createTopic('t', { capacity: 64 })
    let settled
    const fromHandler = new Promise((resolve) => (settled = resolve))
    const outcome = (p) => p.then((r) => 'resolved timedOut=' + r.timedOut, (e) => 'rejected ' + e.code)
    let calls = 0
    t.subscribe('g', ${variant === 'sync'
      ? `(m) => {
        if (++calls === 1) settled(outcome(mq.close(30000)))
      }`
      : `async (m) => {
        if (++calls !== 1) return
        const p = outcome(mq.close(30000))
        settled(p)
        await p
      }`})
    t.publish(Buffer.from('x'))
    t.publish(Buffer.from('y'))
    const t0 = Date.now()
    // The handlers run once this turn of the event loop is over.
    const main = ${alsoMain} ? outcome(mq.close(30000)) : null
    console.log('handler close', await fromHandler, 'after', Date.now() - t0, 'ms')
    if (main !== null) console.log('main close', await main, 'after', Date.now() - t0, 'ms')
    console.log('closed', mq.closed, 'total', Date.now() - t0, 'ms')
  })().catch((e) => { console.error(e); process.exit(1) })
`

for (const variant of ['sync', 'async']) {
  for (const alsoMain of [false, true]) {
    const what = `close() from a ${variant} push handler${alsoMain ? ' while the main program closes' : ''} settles at once and the process exits`
    test(what, { timeout: 30000 }, async () => {
      const r = await run(closeFromHandler(variant, alsoMain))
      assertExited(r, 'closed true total \\d+ ms')
      const total = Number(/total (\d+) ms/.exec(r.out)[1])
      assert.ok(total < 3000, `took ${total} ms:\n${r.out}`)
      if (alsoMain) {
        // The main program's close drains; the handler's answers CLOSED at
        // once rather than wait for a drain that waits for it.
        assert.match(r.out, /handler close rejected CLOSED/, r.out)
        assert.match(r.out, /main close resolved/, r.out)
      } else {
        assert.match(r.out, /handler close resolved/, r.out)
      }
    })
  }
}

test('close() awaited by an async handler after an earlier await resolves by its drain and the process exits', { timeout: 30000 }, async () => {
  const r = await run(`
    const { Broker } = require('ringmq')
    ;(async () => {
      const mq = new Broker({ workersMin: 1, workersMax: 2 })
      const t = mq.createTopic('t', { capacity: 64 })
      let settled
      const fromHandler = new Promise((resolve) => (settled = resolve))
      t.subscribe('g', async (m) => {
        await new Promise((resolve) => setTimeout(resolve, 10))
        // Past the handler's first await close cannot tell it is called from
        // the handler: it drains, waiting for this handler's own message,
        // until its drainMs.
        const report = await mq.close(300)
        settled(report)
      })
      const t0 = Date.now()
      t.publish(Buffer.from('x'))
      const report = await fromHandler
      console.log('timedOut', report.timedOut, 'closed', mq.closed, 'after', Date.now() - t0, 'ms')
    })().catch((e) => { console.error(e); process.exit(1) })
  `)
  assertExited(r, 'timedOut true closed true after \\d+ ms')
  const ms = Number(/after (\d+) ms/.exec(r.out)[1])
  assert.ok(ms >= 250 && ms < 3000, `took ${ms} ms:\n${r.out}`)
})
