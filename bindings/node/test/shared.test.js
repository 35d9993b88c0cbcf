'use strict'
// One broker shared by worker_threads workers: `new Broker({ name })` in one
// thread, `Broker.open(name)` in another gives a handle to the same engine.
// Each scenario runs in a child process, which must exit by itself.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker } = require('ringmq')
const child = require('./child_process')

const LIMIT_MS = 30000
const run = (code) => child.run(code, LIMIT_MS)
const { assertExited } = child

test('a worker publishes and the main thread consumes, each message once', { timeout: 60000 }, async () => {
  const r = await run(`
    const { Worker } = require('node:worker_threads')
    const { Broker } = require('ringmq')
    const N = 20000
    const mq = new Broker({ name: 'w2m', workersMax: 2 })
    const t = mq.createTopic('t', { capacity: 1024 })
    const pull = t.pull('g')
    const worker = new Worker(\`
      const { Broker } = require('ringmq')
      ;(async () => {
        const mq = Broker.open('w2m')
        const t = mq.topic('t')
        const items = []
        for (let i = 0; i < ${'${N}'}; i++) {
          const b = Buffer.alloc(4)
          b.writeUInt32LE(i)
          items.push(b)
          // Batches of 64, waiting for room when the ring is full.
          if (items.length === 64 || i === ${'${N}'} - 1) await t.publishManyAsync(items.splice(0))
        }
        const report = await mq.close()
        console.log('worker released', report.handlesLeft)
      })()
    \`, { eval: true })
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    ;(async () => {
      const seen = new Uint8Array(N)
      let got = 0
      while (got < N) {
        for (const m of await pull.pollBatch(256, 5000)) {
          const i = m.data.readUInt32LE(0)
          if (seen[i]++) throw new Error('message ' + i + ' came twice')
          got++
          m.ack()
        }
      }
      await exited
      const report = await mq.close(1000)
      console.log('main got', got, 'left', report.undelivered, 'handles', report.handlesLeft)
    })()
  `)
  assertExited(r, 'main got 20000 left 0 handles 0')
  assert.match(r.out, /worker released 1/)
})

test('the main thread publishes and workers consume, push and pull, each message once', { timeout: 60000 }, async () => {
  const r = await run(`
    const { Worker } = require('node:worker_threads')
    const { Broker } = require('ringmq')
    const N = 20000
    const mq = new Broker({ name: 'm2w', workersMax: 2 })
    const t = mq.createTopic('t', { capacity: 1024 })
    t.pull('pulled')
    // Workers: two pull the group 'pulled' (each message to one of them),
    // one runs a push handler for the group 'pushed'.
    const code = (push) => \`
      const { parentPort } = require('node:worker_threads')
      const { Broker } = require('ringmq')
      const mq = Broker.open('m2w')
      const t = mq.topic('t')
      const ids = []
      const finish = async () => {
        const report = await mq.close()
        parentPort.postMessage({ ids, handlesLeft: report.handlesLeft })
      }
      if (\${push}) {
        // Publishes from another thread do not keep this one alive: a
        // worker that only handles pushed messages keeps itself alive
        // until it is done.
        const alive = setInterval(() => {}, 60000)
        t.subscribe('pushed', (m) => {
          ids.push(m.data.readUInt32LE(0))
          if (ids.length === ${'${N}'}) {
            clearInterval(alive)
            finish()
          }
        }, { concurrency: 64 })
        parentPort.postMessage('ready')
      } else {
        const pull = t.pullSubscription('pulled')
        let stop = false
        // The main thread says when everything was published and taken.
        parentPort.once('message', () => { stop = true })
        parentPort.postMessage('ready')
        ;(async () => {
          for (;;) {
            const ms = await pull.pollBatch(256, 200)
            for (const m of ms) ids.push(m.data.readUInt32LE(0))
            pull.ackAll(ms)
            if (ms.length === 0 && stop) break
          }
          await finish()
        })()
      }
    \`
    const workers = [new Worker(code(false), { eval: true }), new Worker(code(false), { eval: true }), new Worker(code(true), { eval: true })]
    const results = workers.map((w) => new Promise((resolve) => w.on('message', (m) => { if (m !== 'ready') resolve(m) })))
    const exits = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)))
    ;(async () => {
      await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))))
      for (let i = 0; i < N; i += 64) {
        const items = []
        for (let j = i; j < Math.min(N, i + 64); j++) {
          const b = Buffer.alloc(4)
          b.writeUInt32LE(j)
          items.push(b)
        }
        await t.publishManyAsync(items)
      }
      while (t.subscriptionStats().pulled.lag > 0 || t.subscriptionStats().pulled.inFlight > 0) {
        await new Promise((r) => setTimeout(r, 10))
      }
      workers[0].postMessage('stop')
      workers[1].postMessage('stop')
      const [a, b, pushed] = await Promise.all(results)
      const pulled = [...a.ids, ...b.ids].sort((x, y) => x - y)
      const once = (ids) => ids.length === N && new Set(ids).size === N
      console.log('pulled once', once(pulled), 'by both', a.ids.length > 0 && b.ids.length > 0)
      console.log('pushed once', once(pushed.ids), 'in order', pushed.ids.every((v, i) => v === i))
      await Promise.all(exits)
      const report = await mq.close(1000)
      console.log('closed', report.undelivered, report.handlesLeft)
    })()
  `)
  assertExited(r, 'closed 0 0')
  assert.match(r.out, /pulled once true by both (true|false)/)
  assert.match(r.out, /pushed once true/)
})

test('a worker that exits without closing releases its handle and its push subscriptions', { timeout: 60000 }, async () => {
  const r = await run(`
    const { Worker } = require('node:worker_threads')
    const { Broker } = require('ringmq')
    const mq = new Broker({ name: 'leaver' })
    const t = mq.createTopic('t', { capacity: 64 })
    const worker = new Worker(\`
      const { parentPort } = require('node:worker_threads')
      const { Broker } = require('ringmq')
      const mq = Broker.open('leaver')
      mq.topic('t').subscribe('w', (m) => {})
      parentPort.postMessage(mq._n.handles())
      // Nothing keeps this worker alive: it ends here, never closing.
    \`, { eval: true })
    worker.on('message', (n) => console.log('handles in the worker', n))
    worker.on('exit', async () => {
      console.log('handles after exit', mq._n.handles())
      console.log('groups', Object.keys(t.subscriptionStats()).join(',') || 'none')
      // Nothing would handle these now: they are not dead-lettered.
      for (let i = 0; i < 10; i++) t.publish(Buffer.from('x'))
      await new Promise((r) => setTimeout(r, 100))
      console.log('dead letters', t.deadLetterTopic().stats().published)
      const report = await mq.close(0)
      console.log('closed', report.handlesLeft)
    })
  `)
  assertExited(r, 'closed 0')
  assert.match(r.out, /handles in the worker 2/)
  assert.match(r.out, /handles after exit 1/)
  assert.match(r.out, /groups none/)
  assert.match(r.out, /dead letters 0/)
})

test('a worker holding the last handle stops the broker when it exits', { timeout: 60000 }, async () => {
  const r = await run(`
    const { Worker } = require('node:worker_threads')
    const { Broker } = require('ringmq')
    const mq = new Broker({ name: 'last-in-worker' })
    const t = mq.createTopic('t', { capacity: 64 })
    const pull = t.pull('g')
    const worker = new Worker(\`
      const { parentPort } = require('node:worker_threads')
      const { Broker } = require('ringmq')
      const mq = Broker.open('last-in-worker')
      const t = mq.topic('t')
      parentPort.once('message', () => {
        // The main thread closed its handle: this one keeps the broker.
        t.publish(Buffer.from('from the worker'))
        // Ends without closing.
      })
      parentPort.postMessage('opened')
    \`, { eval: true })
    worker.once('message', async () => {
      const report = await mq.close(5000)
      console.log('main released', report.handlesLeft)
      worker.postMessage('go')
    })
    worker.once('exit', () => {
      let open
      try { Broker.open('last-in-worker'); open = 'open' } catch (e) { open = e.code }
      console.log('after the worker', open)
      try { t.publish(Buffer.from('x')) } catch (e) { console.log('publish', e.code) }
      const again = new Broker({ name: 'last-in-worker' })
      again.close(0).then((r) => console.log('name free', r.handlesLeft))
    })
  `)
  assertExited(r, 'name free 0')
  assert.match(r.out, /main released 1/)
  assert.match(r.out, /after the worker NOT_FOUND/)
  assert.match(r.out, /publish CLOSED/)
})

test('closing one handle of several releases it; the last close stops the broker', { timeout: 30000 }, async () => {
  const a = new Broker({ name: 'node-last' })
  assert.equal(a.name, 'node-last')
  const anon = new Broker()
  assert.equal(anon.name, null)
  await anon.close(0)
  const t = a.createTopic('t', { capacity: 16 })
  const pull = t.pull('g')
  const b = Broker.open('node-last')
  assert.ok(b instanceof Broker)
  assert.equal(b.name, 'node-last')
  let pushed = 0
  a.topic('t').subscribe('pushed-through-a', () => { pushed++ })
  const ra = await a.close(5000)
  assert.equal(ra.handlesLeft, 1)
  assert.equal(a.closed, true)
  assert.equal(b.closed, false)
  assert.throws(() => a.topic('t'), (e) => e.code === 'CLOSED')
  // The push subscription made through a went with it; the topic goes on.
  assert.deepEqual(Object.keys(b.topic('t').subscriptionStats()), ['g'])
  t.publish(Buffer.from('one'))
  const m = await pull.poll(5000)
  assert.equal(m.data.toString(), 'one')
  m.ack()
  assert.equal(pushed, 0)
  const rb = await b.close(1000)
  assert.equal(rb.handlesLeft, 0)
  assert.throws(() => t.publish(Buffer.from('x')), (e) => e.code === 'CLOSED')
  assert.throws(() => Broker.open('node-last'), (e) => e.code === 'NOT_FOUND')
  // The name is free again.
  const again = new Broker({ name: 'node-last' })
  assert.deepEqual(again.topicNames(), [])
  await again.close(0)
})

test('names: taken, unknown and bad', { timeout: 30000 }, async () => {
  const mq = new Broker({ name: 'node-taken' })
  try {
    assert.throws(() => new Broker({ name: 'node-taken' }), (e) => e.code === 'EXISTS' && /node-taken/.test(e.message))
    assert.throws(() => Broker.open('node-never'), (e) => e.code === 'NOT_FOUND' && /node-never/.test(e.message))
    for (const bad of ['', 'n'.repeat(256), 'nul\0inside']) {
      assert.throws(() => new Broker({ name: bad }), (e) => e.code === 'INVALID_ARGUMENT', JSON.stringify(bad))
      assert.throws(() => Broker.open(bad), (e) => e.code === 'INVALID_ARGUMENT', JSON.stringify(bad))
    }
    for (const bad of [7, null, {}]) {
      assert.throws(() => new Broker({ name: bad }), (e) => e.code === 'INVALID_ARGUMENT')
      assert.throws(() => Broker.open(bad), (e) => e.code === 'INVALID_ARGUMENT')
    }
  } finally {
    await mq.close(0)
  }
})
