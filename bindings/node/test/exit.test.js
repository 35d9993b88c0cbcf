'use strict'
// The event loop: a broker never keeps a process alive by itself, whether
// it was closed or forgotten, and nothing it does blocks the JS thread.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const child = require('./child_process')

const LIMIT_MS = 5000

const run = (code) => child.run(code, LIMIT_MS)
const { assertExited } = child

test('a process that forgets to close its broker still exits', { timeout: 20000 }, async () => {
  const r = await run(`
    const { Broker } = require('ringmq')
    const mq = new Broker({ workersMin: 2, workersMax: 2 })
    const t = mq.createTopic('t', { capacity: 64 })
    let handled = 0
    t.subscribe('push', async () => { handled++ })
    const pull = t.pull('pull')
    t.pull('never-polled')
    for (let i = 0; i < 10; i++) t.publish(Buffer.from('x'))
    pull.poll(100).then((m) => { m.ack(); console.log('polled', m.id) })
    setTimeout(() => console.log('handled', handled), 100)
  `)
  assertExited(r, 'polled 0')
  assert.match(r.out, /handled 10/)
})

test('a closed broker leaves nothing that keeps the process alive', { timeout: 20000 }, async () => {
  const r = await run(`
    const { Broker } = require('ringmq')
    ;(async () => {
      const mq = new Broker({ workersMin: 1, workersMax: 2, idleTimeoutMs: 60000 })
      const t = mq.createTopic('t', { capacity: 64 })
      let handled = 0
      t.subscribe('push', async () => { handled++ })
      const pull = t.pull('pull')
      const loop = (async () => { for await (const m of pull) m.ack() })()
      for (let i = 0; i < 20; i++) t.publish(Buffer.from('x'))
      const report = await mq.close(2000)
      await loop
      console.log('closed', handled, report.undelivered)
    })()
  `)
  assertExited(r, 'closed 20 0')
  assert.ok(r.ms < LIMIT_MS)
})

test('work handed to push handlers is done before the process exits', { timeout: 20000 }, async () => {
  const r = await run(`
    const { Broker } = require('ringmq')
    const mq = new Broker()
    const t = mq.createTopic('t', { capacity: 256, maxAttempts: 2, backoffBaseMs: 50, backoffMaxMs: 50 })
    let handled = 0
    let failedOnce = false
    t.subscribe('g', async (m) => {
      await new Promise((r) => setImmediate(r))
      // One failure: its retry comes 50 ms later, with nothing else pending.
      if (m.id === 99 && !failedOnce) { failedOnce = true; throw new Error('once') }
      handled++
    })
    for (let i = 0; i < 100; i++) t.publish(Buffer.from('x'))
    process.on('exit', () => console.log('handled', handled))
  `)
  assertExited(r, 'handled 100')
})

test('an idle push subscription does not keep the process alive', { timeout: 20000 }, async () => {
  const r = await run(`
    const { Broker } = require('ringmq')
    const mq = new Broker()
    mq.createTopic('t').subscribe('g', () => {})
    console.log('subscribed')
  `)
  assertExited(r, 'subscribed')
})

test('the JS thread stays free while handlers, polls and close wait', { timeout: 20000 }, async () => {
  const r = await run(`
    const { Broker } = require('ringmq')
    ;(async () => {
      const mq = new Broker()
      const t = mq.createTopic('t', { capacity: 4 })
      const pull = t.pull('g')
      let ticks = 0
      const timer = setInterval(() => ticks++, 5)
      const polled = pull.poll(300)          // waits off the JS thread
      const m = await polled
      if (m !== null) throw new Error('nothing was published')
      const before = ticks
      for (let i = 0; i < 4; i++) t.publish(Buffer.from('x'))
      const pub = t.publishAsync(Buffer.from('y'), { timeoutMs: 200 }) // ring full: waits
      await pub.catch((e) => console.log('publishAsync', e.code))
      const closing = mq.close(200)            // a stalled consumer: the drain times out
      const report = await closing
      clearInterval(timer)
      console.log('ticks', before >= 10, ticks - before >= 20, report.timedOut)
    })()
  `)
  assertExited(r, 'ticks true true true')
  assert.match(r.out, /publishAsync TIMEOUT/)
})

test('ESM import works', { timeout: 20000 }, async () => {
  const r = await new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { Broker, RingMQError } from 'ringmq'
         import ringmq from 'ringmq'
         const mq = new Broker()
         const t = mq.createTopic('esm')
         const p = t.pull('g')
         t.publish(Buffer.from('hi'))
         const m = await p.poll(1000)
         m.ack()
         await mq.close(100)
         console.log('esm', m.data.toString(), ringmq.Broker === Broker, typeof RingMQError)`,
      ],
      { cwd: __dirname, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('exit', (code, signal) => resolve({ code, signal, out }))
  })
  assertExited(r, 'esm hi true function')
})
