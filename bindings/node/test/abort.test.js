'use strict'
// Cancellation: every call that can wait takes an AbortSignal (`signal`).
// An aborted call rejects with the signal's reason and changes nothing: a
// poll takes nothing (what the engine handed over as the abort came goes
// back for redelivery), a publish publishes nothing, a close still closes
// the broker fully but cuts its drain short.
const test = require('node:test')
const assert = require('node:assert/strict')
const { getEventListeners } = require('node:events')
const { Broker, RingMQError } = require('ringmq')

// An abort ends a wait within a wake-up's latency (about a millisecond);
// the bound leaves room for a loaded machine.
const PROMPT_MS = 100
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Sleeps the JS thread (not the event loop's timers): the pool threads go on. */
function block(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** How p settles: { value } or { error }, and ms from the abort (or now). */
async function settle(p, from = () => Date.now()) {
  try {
    const value = await p
    return { value, ms: Date.now() - from() }
  } catch (error) {
    return { error, ms: Date.now() - from() }
  }
}

/** Aborts `ac` after `ms`; returns a function giving the abort's time. */
function abortLater(ac, ms, reason) {
  let at = Infinity
  setTimeout(() => {
    at = Date.now()
    ac.abort(reason)
  }, ms)
  return () => at
}

function isInvalid(what) {
  return (e) => e instanceof RingMQError && e.code === 'INVALID_ARGUMENT' && new RegExp(what).test(e.message)
}

test('an already aborted signal rejects every waiting call at once, changing nothing', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('pre')
    const pull = t.pull('g')
    t.publish(Buffer.from('ready'))
    const signal = AbortSignal.abort()
    for (const [what, call] of [
      ['poll', () => pull.poll(1000, { signal })],
      ['poll without timeout', () => pull.poll(undefined, { signal })],
      ['pollBatch', () => pull.pollBatch(8, 1000, { signal })],
      ['pollRaw', () => pull.pollRaw(8, 1000, { signal })],
      ['publishAsync', () => t.publishAsync(Buffer.from('x'), { signal })],
      ['publishManyAsync', () => t.publishManyAsync([Buffer.from('x'), Buffer.from('y')], { signal })],
      ['messages', () => pull.messages({ signal })[Symbol.asyncIterator]().next()],
      ['close', () => mq.close(1000, { signal })],
    ]) {
      await assert.rejects(call(), (e) => e === signal.reason && e.name === 'AbortError', what)
    }
    // Nothing was taken, published or closed: the ready message is still
    // there, first delivery, and it is the only one.
    assert.equal(mq.closed, false)
    assert.equal(t.stats().published, 1)
    assert.equal(pull.stats().delivered, 0)
    const m = pull.tryPoll()
    assert.equal(m.data.toString(), 'ready')
    assert.equal(m.attempt, 1)
    m.ack()
    assert.equal(pull.tryPoll(), null)
  } finally {
    await mq.close(100)
  }
})

for (const [name, wait] of [
  ['poll', (pull, signal) => pull.poll(undefined, { signal })],
  ['poll with a timeout', (pull, signal) => pull.poll(30000, { signal })],
  ['pollBatch', (pull, signal) => pull.pollBatch(16, undefined, { signal })],
  ['pollRaw', (pull, signal) => pull.pollRaw(16, 30000, { signal })],
]) {
  test(`an abort ends a waiting ${name} promptly, taking nothing`, { timeout: 30000 }, async () => {
    const mq = new Broker({ workersMax: 2 })
    try {
      const t = mq.createTopic('w')
      const pull = t.pull('g')
      const ac = new AbortController()
      const abortedAt = abortLater(ac, 50)
      const r = await settle(wait(pull, ac.signal), abortedAt)
      assert.equal(r.error, ac.signal.reason)
      assert.equal(r.error.name, 'AbortError')
      assert.ok(r.ms < PROMPT_MS, `settled ${r.ms} ms after the abort`)
      // A later publish goes to a later poll, once, as its first delivery.
      t.publish(Buffer.from('after'))
      const m = await pull.poll(5000)
      assert.equal(m.data.toString(), 'after')
      assert.equal(m.attempt, 1)
      m.ack()
      assert.equal(await pull.poll(50), null)
      const s = pull.stats()
      assert.equal(s.delivered, 1)
      assert.equal(s.nacked, 0)
      assert.equal(s.inFlight, 0)
    } finally {
      await mq.close(100)
    }
  })
}

test('a message handed over as the abort comes goes back for redelivery', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('race')
    const pull = t.pull('g')
    for (const wait of [
      (signal) => pull.poll(undefined, { signal }),
      (signal) => pull.pollBatch(8, undefined, { signal }),
      (signal) => pull.pollRaw(8, undefined, { signal }),
    ]) {
      const ac = new AbortController()
      const pending = settle(wait(ac.signal))
      await sleep(20)
      // The waiting pool thread takes the message while the JS thread
      // sleeps; the abort comes before the wait's result reaches JS.
      const id = t.publish(Buffer.from('both'))
      block(100)
      ac.abort()
      const r = await pending
      assert.equal(r.error, ac.signal.reason)
      // Released at once, not held until an ack timeout: the next poll
      // gets it again.
      const m = await pull.poll(2000)
      assert.ok(m !== null, 'the message came back')
      assert.equal(m.id, id)
      assert.equal(m.attempt, 1, 'a release is not an attempt')
      m.ack()
      assert.equal(await pull.poll(50), null)
    }
    const s = pull.stats()
    assert.equal(s.inFlight, 0)
    assert.equal(s.acked, 3)
    assert.equal(s.nacked, 3) // a requeue counts among the nacks
    assert.equal(s.lastError, null)
  } finally {
    await mq.close(100)
  }
})

test('a message a wait got just before the abort reached the call goes back too', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('late')
    const pull = t.pull('g')
    // The abort comes after the native wait settled with its deliveries
    // and before the call's continuation runs (white box: the wait of the
    // addon's handle is wrapped to abort right after it resolves).
    const wait = pull._n.wait
    let ac = null
    pull._n.wait = (...args) =>
      wait.apply(pull._n, args).then((n) => {
        ac.abort()
        return n
      })
    for (const call of [
      (signal) => pull.poll(undefined, { signal }),
      (signal) => pull.pollBatch(8, 5000, { signal }),
      (signal) => pull.pollRaw(8, undefined, { signal }),
    ]) {
      ac = new AbortController()
      const pending = settle(call(ac.signal))
      await sleep(20)
      const id = t.publish(Buffer.from('late'))
      const r = await pending
      assert.equal(r.error, ac.signal.reason)
      const m = pull.tryPoll() ?? (await pull.poll(2000))
      assert.ok(m !== null, 'the message came back')
      assert.equal(m.id, id)
      assert.equal(m.attempt, 1, 'a release is not an attempt')
      m.ack()
      assert.equal(pull.tryPoll(), null)
    }
    delete pull._n.wait
    const s = pull.stats()
    assert.equal(s.inFlight, 0)
    assert.equal(s.acked, 3)
    assert.equal(s.nacked, 3) // a requeue counts among the nacks
    assert.equal(s.lastError, null)
  } finally {
    await mq.close(100)
  }
})

for (const many of [false, true]) {
  const name = many ? 'publishManyAsync' : 'publishAsync'
  test(`an abort ends ${name} waiting for room, publishing nothing`, { timeout: 30000 }, async () => {
    const mq = new Broker({ workersMax: 2 })
    try {
      const t = mq.createTopic('full', { capacity: 2, overflow: 'block' })
      const pull = t.pull('g')
      t.publish(Buffer.from('a'))
      t.publish(Buffer.from('b'))
      const before = t.stats()
      const ac = new AbortController()
      const abortedAt = abortLater(ac, 50, new Error('stop publishing'))
      const call = many
        ? t.publishManyAsync([Buffer.from('c'), Buffer.from('d')], { signal: ac.signal })
        : t.publishAsync(Buffer.from('c'), { signal: ac.signal })
      const r = await settle(call, abortedAt)
      assert.equal(r.error, ac.signal.reason)
      assert.equal(r.error.message, 'stop publishing')
      assert.ok(r.ms < PROMPT_MS, `settled ${r.ms} ms after the abort`)
      // Nothing published; timedOut counts the call's first try, which
      // never waits (as for any publishAsync on a full ring), and nothing
      // for the wait the abort ended.
      const n = many ? 2 : 1
      assert.deepEqual(t.stats(), { ...before, timedOut: before.timedOut + n })
      // Room again: a later publish works, and only a, b and it arrive.
      const got = []
      for (const m of await pull.pollBatch(8, 1000)) {
        got.push(m.data.toString())
        m.ack()
      }
      const id = await t.publishAsync(Buffer.from('later'), { signal: new AbortController().signal })
      assert.equal(id, 2)
      for (const m of await pull.pollBatch(8, 1000)) {
        got.push(m.data.toString())
        m.ack()
      }
      assert.equal(await pull.poll(50), null)
      assert.deepEqual(got, ['a', 'b', 'later'])
      assert.equal(t.stats().published, 3)
    } finally {
      await mq.close(100)
    }
  })
}

test('a publish with a signal that finds room publishes as usual', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('room')
    const pull = t.pull('g')
    const { signal } = new AbortController()
    assert.equal(await t.publishAsync(Buffer.from('x'), { signal, key: 3 }), 0)
    assert.deepEqual(await t.publishManyAsync([Buffer.from('y')], { signal }), [1])
    const ms = await pull.pollBatch(8, 1000, { signal })
    assert.deepEqual(ms.map((m) => m.data.toString()), ['x', 'y'])
    pull.ackAll(ms)
    assert.equal(getEventListeners(signal, 'abort').length, 0)
  } finally {
    await mq.close(100)
  }
})

test('an abort cuts a close drain short; the broker still closes fully', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  const t = mq.createTopic('slow')
  t.pull('idle') // nobody polls it: the drain would wait all of drainMs
  t.publish(Buffer.from('left'))
  const ac = new AbortController()
  const reason = new Error('shutting down now')
  const abortedAt = abortLater(ac, 50, reason)
  const r = await settle(mq.close(60000, { signal: ac.signal }), abortedAt)
  assert.equal(r.error, reason)
  assert.ok(r.ms < 2 * PROMPT_MS, `settled ${r.ms} ms after the abort`)
  assert.equal(mq.closed, true)
  assert.throws(() => t.publish(Buffer.from('x')), (e) => e.code === 'CLOSED')
  // The report, as the drain left it: a later close resolves to it at once.
  const report = await mq.close(60000)
  assert.equal(report.timedOut, true)
  assert.equal(report.undelivered, 1)
  assert.deepEqual(report.left, [{ topic: 'slow', group: 'idle', count: 1 }])
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
})

test('a close with a signal that is not aborted resolves to its report', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  const t = mq.createTopic('c')
  const pull = t.pull('g')
  t.publish(Buffer.from('x'))
  setTimeout(() => pull.tryPoll().ack(), 20)
  const ac = new AbortController()
  const report = await mq.close(5000, { signal: ac.signal })
  assert.equal(report.timedOut, false)
  assert.equal(report.undelivered, 0)
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
  ac.abort()
})

test('for await over messages({ signal }) ends by the abort', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('iter')
    const pull = t.pull('g')
    t.publish(Buffer.from('1'))
    t.publish(Buffer.from('2'))
    const ac = new AbortController()
    const got = []
    let abortedAt = Infinity
    const r = await settle(
      (async () => {
        for await (const m of pull.messages({ signal: ac.signal })) {
          got.push(m.data.toString())
          m.ack()
          if (got.length === 2) {
            setTimeout(() => {
              abortedAt = Date.now()
              ac.abort()
            }, 50)
          }
        }
      })(),
      () => abortedAt,
    )
    assert.equal(r.error, ac.signal.reason)
    assert.ok(r.ms < PROMPT_MS, `the loop ended ${r.ms} ms after the abort`)
    assert.deepEqual(got, ['1', '2'])
    t.publish(Buffer.from('3'))
    const m = await pull.poll(1000)
    assert.equal(m.data.toString(), '3')
    assert.equal(m.attempt, 1)
    m.ack()
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
  } finally {
    await mq.close(100)
  }
})

test('a long-lived signal keeps no listener of a settled call', { timeout: 60000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('leak', { capacity: 4 })
    const pull = t.pull('g')
    const { signal } = new AbortController()
    const count = () => getEventListeners(signal, 'abort').length
    // While a call waits, its listener is there (so the count can tell).
    const pending = pull.poll(200, { signal })
    assert.equal(count(), 1)
    assert.equal(await pending, null)
    assert.equal(count(), 0)
    for (let i = 0; i < 200; i++) {
      // Waits that time out, waits that get a message, ready messages.
      assert.equal(await pull.poll(1, { signal }), null)
      assert.deepEqual(await pull.pollBatch(4, 1, { signal }), [])
      assert.equal((await pull.pollRaw(4, 1, { signal })).length, 0)
      const p = pull.poll(1000, { signal })
      t.publish(Buffer.from('x'))
      ;(await p).ack()
      t.publish(Buffer.from('y'))
      ;(await pull.poll(1000, { signal })).ack()
    }
    // Publishes that wait for room, then get it.
    for (let i = 0; i < 4; i++) t.publish(Buffer.from('full'))
    for (let i = 0; i < 50; i++) {
      const p = t.publishAsync(Buffer.from('z'), { signal })
      ;(await pull.poll(1000)).ack()
      await p
    }
    assert.equal(count(), 0)
    assert.equal(signal.aborted, false)
  } finally {
    await mq.close(100)
  }
})

test('many calls waiting with one signal share one listener and all end by its abort', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    const pull = mq.createTopic('idle').pull('g')
    const full = mq.createTopic('full', { capacity: 2 })
    full.pull('hold')
    full.publish(Buffer.from('1'))
    full.publish(Buffer.from('2'))
    const ac = new AbortController()
    const calls = []
    // More calls than the libuv pool has threads: those queued behind the
    // waiting ones start after the abort and end at once.
    for (let i = 0; i < 8; i++) {
      calls.push(settle(pull.poll(undefined, { signal: ac.signal })))
      calls.push(settle(pull.pollBatch(4, 30000, { signal: ac.signal })))
      calls.push(settle(pull.pollRaw(4, undefined, { signal: ac.signal })))
    }
    calls.push(settle(full.publishAsync(Buffer.from('3'), { signal: ac.signal })))
    calls.push(settle(full.publishManyAsync([Buffer.from('4')], { signal: ac.signal })))
    await sleep(50)
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1)
    const at = Date.now()
    ac.abort()
    const results = await Promise.all(calls)
    const ms = Date.now() - at
    for (const r of results) assert.equal(r.error, ac.signal.reason)
    assert.ok(ms < 2 * PROMPT_MS, `all ${results.length} settled ${ms} ms after the abort`)
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
    assert.equal(full.stats().published, 2)
    assert.equal(pull.stats().delivered, 0)
    await sleep(10)
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    )
  } finally {
    process.off('warning', onWarning)
    await mq.close(0)
  }
})

test('a signal that is not an AbortSignal is bad input and changes nothing', { timeout: 30000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    const t = mq.createTopic('bad')
    const pull = t.pull('g')
    t.publish(Buffer.from('ready'))
    const bad = ['abort', 1, null, {}, { aborted: true }, new EventTarget(), new AbortController()]
    for (const signal of bad) {
      await assert.rejects(pull.poll(10, { signal }), isInvalid('poll signal must be an AbortSignal'))
      await assert.rejects(pull.pollBatch(4, 10, { signal }), isInvalid('pollBatch signal must be an AbortSignal'))
      await assert.rejects(pull.pollRaw(4, 10, { signal }), isInvalid('pollRaw signal must be an AbortSignal'))
      await assert.rejects(t.publishAsync(Buffer.from('x'), { signal }), isInvalid('publishAsync signal'))
      await assert.rejects(t.publishManyAsync([Buffer.from('x')], { signal }), isInvalid('publishManyAsync signal'))
      await assert.rejects(mq.close(10, { signal }), isInvalid('close signal must be an AbortSignal'))
      assert.throws(() => pull.messages({ signal }), isInvalid('messages signal must be an AbortSignal'))
    }
    // Other options and non-objects are refused too.
    await assert.rejects(pull.poll(10, { sigal: AbortSignal.abort() }), isInvalid('unknown poll option "sigal"'))
    await assert.rejects(pull.poll(10, AbortSignal.abort()), isInvalid('poll options must be an object, got an AbortSignal'))
    await assert.rejects(pull.pollBatch(4, 10, 'signal'), isInvalid('pollBatch must be an object'))
    await assert.rejects(mq.close(10, { timeoutMs: 1 }), isInvalid('unknown close option "timeoutMs"'))
    assert.equal(mq.closed, false)
    assert.equal(t.stats().published, 1)
    assert.equal(pull.stats().delivered, 0)
    const m = pull.tryPoll()
    assert.equal(m.data.toString(), 'ready')
    assert.equal(m.attempt, 1)
    m.ack()
  } finally {
    await mq.close(100)
  }
})

test('polls aborted at random times lose and duplicate no message', { timeout: 120000 }, async () => {
  const N = 3000
  const mq = new Broker({ workersMax: 2 })
  try {
    // A message the engine handed over as an abort came is requeued, which
    // is not an attempt: however often one is caught, the default
    // maxAttempts never dead-letters it.
    const t = mq.createTopic('stress', { capacity: 256, overflow: 'block' })
    const pull = t.pull('g', { start: 'earliest' })
    const seen = new Map()
    const take = (m) => {
      const k = m.data.readUInt32LE(0)
      seen.set(k, (seen.get(k) || 0) + 1)
      m.ack()
    }
    let aborted = 0
    // The producer: batches at random intervals, waiting for room.
    const producer = (async () => {
      for (let i = 0; i < N; ) {
        const n = Math.min(N - i, 1 + Math.floor(Math.random() * 40))
        const items = []
        for (let j = 0; j < n; j++) {
          const b = Buffer.alloc(4)
          b.writeUInt32LE(i + j)
          items.push(b)
        }
        await t.publishManyAsync(items)
        i += n
        if (Math.random() < 0.5) await sleep(Math.random() * 2)
      }
    })()
    // Consumers whose every call is aborted after 0 to 3 ms.
    let producing = true
    const stop = () => {
      producing = false
    }
    producer.then(stop, stop)
    const consumer = async (kind) => {
      while (producing) {
        const ac = new AbortController()
        const timer = setTimeout(() => ac.abort(), Math.random() * 3)
        const signal = ac.signal
        try {
          if (kind === 0) {
            const m = await pull.poll(undefined, { signal })
            if (m !== null) take(m)
          } else if (kind === 1) {
            for (const m of await pull.pollBatch(16, undefined, { signal })) take(m)
          } else {
            const b = await pull.pollRaw(16, undefined, { signal })
            for (let i = 0; i < b.length; i++) {
              const k = b.payload(i).readUInt32LE(0)
              seen.set(k, (seen.get(k) || 0) + 1)
            }
            b.ackAll()
          }
        } catch (e) {
          if (e !== signal.reason) throw e
          aborted++
        } finally {
          clearTimeout(timer)
        }
      }
    }
    await Promise.all([producer, consumer(0), consumer(1), consumer(2), consumer(0)])
    // Then plain polls take what is left; a message kept by an aborted
    // call would only come back after the ack timeout (30 s), too late.
    const until = Date.now() + 10000
    while (seen.size < N && Date.now() < until) {
      for (const m of await pull.pollBatch(256, 200)) take(m)
    }
    assert.ok(aborted > 0, 'some calls were aborted')
    const missing = []
    const twice = []
    for (let i = 0; i < N; i++) {
      const c = seen.get(i) || 0
      if (c === 0) missing.push(i)
      else if (c > 1) twice.push(i)
    }
    assert.deepEqual(missing, [], 'every message was received')
    assert.deepEqual(twice, [], 'no message was received twice')
    assert.equal(seen.size, N)
    const s = pull.stats()
    assert.equal(s.acked, N)
    assert.equal(s.inFlight, 0)
    assert.equal(s.deadLettered, 0)
    // Every delivery beyond one per message was a release (a nack).
    assert.equal(s.delivered - N, s.nacked)
  } finally {
    await mq.close(100)
  }
})

test('publishes aborted at random times publish exactly what they resolve', { timeout: 120000 }, async () => {
  const mq = new Broker({ workersMax: 2 })
  try {
    // A small ring, so that publishes wait for room most of the time.
    const t = mq.createTopic('pstress', { capacity: 16, overflow: 'block' })
    const pull = t.pull('g')
    const published = new Set()
    const refused = new Set()
    const seen = new Map()
    let next = 0
    let producing = 2
    const producer = async (many) => {
      while (published.size < 2000) {
        const n = many ? 1 + Math.floor(Math.random() * 8) : 1
        const values = []
        for (let j = 0; j < n; j++) values.push(next++)
        const items = values.map((v) => {
          const b = Buffer.alloc(4)
          b.writeUInt32LE(v)
          return b
        })
        const ac = new AbortController()
        const timer = setTimeout(() => ac.abort(), Math.random() * 2)
        try {
          if (many) await t.publishManyAsync(items, { signal: ac.signal })
          else await t.publishAsync(items[0], { signal: ac.signal })
          for (const v of values) published.add(v)
        } catch (e) {
          if (e !== ac.signal.reason) throw e
          for (const v of values) refused.add(v)
        } finally {
          clearTimeout(timer)
        }
      }
      producing--
    }
    // A consumer that takes slowly enough for the ring to fill.
    const consumer = async () => {
      while (producing > 0 || seen.size < published.size) {
        for (const m of await pull.pollBatch(4, 20)) {
          const v = m.data.readUInt32LE(0)
          seen.set(v, (seen.get(v) || 0) + 1)
          m.ack()
        }
        if (Math.random() < 0.3) await sleep(1)
      }
    }
    await Promise.all([producer(false), producer(true), consumer()])
    assert.equal(await pull.poll(100), null, 'nothing more arrives')
    assert.ok(refused.size > 0, 'some publishes were aborted')
    const received = [...seen.keys()].sort((a, b) => a - b)
    assert.deepEqual(received, [...published].sort((a, b) => a - b), 'received exactly what resolved')
    assert.deepEqual([...seen.values()].filter((c) => c !== 1), [], 'each once')
    assert.equal(t.stats().published, published.size)
  } finally {
    await mq.close(100)
  }
})

test('requeue gives a message back at once without counting an attempt', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('rq', { maxAttempts: 2, backoffBaseMs: 60000, backoffMaxMs: 60000 })
    const pull = t.pull('g')
    const id = t.publish(Buffer.from('x'))
    for (let i = 0; i < 5; i++) {
      const m = await pull.poll(1000)
      assert.ok(m !== null && m.id === id)
      assert.equal(m.attempt, 1)
      m.requeue()
      assert.equal(m.settled, true)
      assert.throws(() => m.requeue(), { code: 'INVALID_ARGUMENT' })
    }
    const m = await pull.poll(1000)
    assert.equal(m.attempt, 1)
    m.ack()
    const s = pull.stats()
    assert.equal(s.acked, 1)
    assert.equal(s.inFlight, 0)
    assert.equal(s.deadLettered, 0)
  } finally {
    await mq.close(100)
  }
})
