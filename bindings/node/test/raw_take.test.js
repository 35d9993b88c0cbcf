'use strict'
// Takes hold their messages by raw tag: a raw tag pins its payload in the
// ring only until it is settled or its ack deadline passes, after which the
// slot may carry another message. What a waiting poll took may sit in the
// subscription until the JS thread gets to it, past that deadline: these
// tests hold it there (the JS thread blocked while a worker thread lets the
// deadline pass, takes the messages back as another consumer of the group
// and publishes others into their slots) and check that what is handed over
// is what was taken, and that its settle is refused as expired.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Worker } = require('node:worker_threads')
const { Broker } = require('ringmq')

const SIZE = 64
const N_HELD = 4

/** A payload of `len` bytes that says which message it is: its tag and index. */
function payload(tag, i, len = SIZE) {
  const b = Buffer.alloc(len)
  for (let k = 0; k < len; k++) b[k] = (tag.charCodeAt(k % tag.length) + i * 7 + k) & 0xff
  b.write(`${tag}${i}:`, 0)
  return b
}

// The worker: opens the broker, publishes the first messages in one claim,
// waits until the main thread's wait has taken them (`delivered`), lets their
// ack deadline pass, takes every one back as another consumer of the group
// (the ack timer redelivers what the main thread holds) and acks them, then
// publishes as many others, which reuse the freed slots. It tells the main
// thread through `flag` (the main thread is blocked meanwhile) and then by a
// message with what it saw.
const WORKER = `
  const { workerData, parentPort } = require('node:worker_threads')
  const { Broker } = require('ringmq')
  const { name, flag: sab, size, n, ackTimeoutMs } = workerData
  const flag = new Int32Array(sab)
  const payload = ${payload.toString()}
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
  ;(async () => {
    const mq = Broker.open(name)
    const t = mq.topic('t')
    const other = t.pullSubscription('g')
    const seen = []
    let published = 0
    try {
      t.publishMany(Array.from({ length: n }, (_, i) => payload('first', i, size)))
      while (other.stats().delivered < 1) await sleep(1)
      await sleep(ackTimeoutMs * 3)
      const acked = new Set()
      while (acked.size < n) {
        const b = await other.pollRaw(n, 5000)
        if (b.length === 0) throw new Error('nothing came back')
        for (let i = 0; i < b.length; i++) {
          const id = b.id(i)
          if (!b.payload(i).equals(payload('first', id, size))) throw new Error('bad payload ' + id)
          seen.push({ id, attempt: b.attempt(i) })
          acked.add(id)
        }
        b.ackAll()
      }
      for (let i = 0; i < n; i++) {
        try {
          t.publish(payload('second', n + i, size))
          published++
        } catch (e) {
          if (e.code !== 'TIMEOUT') throw e
        }
      }
    } finally {
      Atomics.store(flag, 0, 1)
      Atomics.notify(flag, 0)
    }
    parentPort.postMessage({ seen, published })
    await mq.close()
  })().catch((e) => {
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    parentPort.postMessage({ error: String(e && e.stack) })
  })
`

/**
 * Starts a waiting pollRaw, blocks the JS thread while the worker does its
 * part, then runs `after` (synchronously, before the wait's result reaches
 * JS) and returns the poll's promise and what the worker said.
 */
async function holdPastDeadline(name, opts, after) {
  const ackTimeoutMs = 40
  const mq = new Broker({ name })
  const t = mq.createTopic('t', { capacity: N_HELD, slotSize: SIZE, ackTimeoutMs, backoffBaseMs: 1, backoffMaxMs: 2 })
  const pull = t.pull('g')
  const flag = new Int32Array(new SharedArrayBuffer(4))
  // Nothing is ready: the poll waits on the libuv pool.
  const polled = pull.pollRaw(N_HELD, 10000, opts)
  polled.catch(() => {})
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { name, flag: flag.buffer, size: SIZE, n: N_HELD, ackTimeoutMs },
  })
  const said = new Promise((resolve) => worker.once('message', resolve))
  const exited = new Promise((resolve) => worker.once('exit', resolve))
  // Blocked: the wait's result stays where the binding keeps it.
  assert.notEqual(Atomics.wait(flag, 0, 0, 20000), 'timed-out', 'the worker did its part')
  after()
  const report = await said
  assert.equal(report.error, undefined, report.error)
  return { mq, t, pull, polled, report, exited }
}

function checkWorker(report) {
  // Every message the main thread's wait took came back to the worker
  // (attempt 2) and was acked there; their slots were then free.
  assert.equal(report.seen.length, N_HELD, JSON.stringify(report.seen))
  assert.ok(report.seen.some((s) => s.attempt === 2), JSON.stringify(report.seen))
  assert.equal(report.published, N_HELD, 'a held, expired message never holds producers back')
}

async function checkSecond(pull) {
  const b = await pull.pollRaw(N_HELD, 5000)
  assert.equal(b.length, N_HELD)
  for (let i = 0; i < b.length; i++) {
    assert.equal(b.attempt(i), 1)
    assert.deepEqual(b.payload(i), payload('second', b.id(i)))
  }
  b.ackAll()
}

for (const withSignal of [false, true]) {
  const how = withSignal ? ' (with a signal)' : ''
  test(`a waited pollRaw held past its ack deadline hands over what it took${how}`, { timeout: 60000 }, async () => {
    const opts = withSignal ? { signal: new AbortController().signal } : undefined
    const { mq, pull, polled, report, exited } = await holdPastDeadline(`held${withSignal}`, opts, () => {})
    try {
      checkWorker(report)
      const b = await polled
      assert.ok(b.length >= 1)
      const ids = []
      for (let i = 0; i < b.length; i++) {
        ids.push(b.id(i))
        assert.equal(b.attempt(i), 1)
        assert.deepEqual(b.payload(i), payload('first', b.id(i)), `payload of message ${b.id(i)}`)
      }
      assert.ok(
        ids.every((id) => report.seen.some((s) => s.id === id && s.attempt === 2)),
        'the worker got them again',
      )
      // Their deliveries expired and were acked elsewhere: refused, and
      // nothing else is touched.
      assert.throws(() => b.ackAll(), (e) => e.code === 'INVALID_ARGUMENT' && /expired|unknown/.test(e.message))
      await checkSecond(pull)
      assert.equal(pull.tryPollRaw().length, 0)
      const s = pull.stats()
      assert.equal(s.inFlight, 0)
      assert.equal(s.acked, 2 * N_HELD)
    } finally {
      await exited
      await mq.close(1000)
    }
  })
}

test('a waited pollRaw aborted after its ack deadline passed gives nothing back twice', { timeout: 60000 }, async () => {
  const ac = new AbortController()
  const { mq, pull, polled, report, exited } = await holdPastDeadline('held-abort', { signal: ac.signal }, () =>
    ac.abort(),
  )
  try {
    checkWorker(report)
    await assert.rejects(polled, (e) => e === ac.signal.reason)
    // The requeue of the expired tags was refused: the messages now in
    // their slots are untouched, delivered once, at attempt 1.
    await checkSecond(pull)
    assert.equal(pull.tryPollRaw().length, 0)
    assert.equal(pull.stats().inFlight, 0)
  } finally {
    await exited
    await mq.close(1000)
  }
})

test('a waited pollRaw settled in time acks as usual, from the stash and beyond it', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('t', { capacity: 8, slotSize: SIZE })
    const dead = t.deadLetterTopic().pull('dead')
    const pull = t.pull('g', { start: 'latest' })
    const waiting = pull.pollRaw(3, 5000)
    setTimeout(() => {
      t.publish(payload('x', 0), { headers: { h: 'v' }, msgId: 'm0' })
      t.publish(payload('x', 1))
      t.publish(payload('x', 2))
    }, 20)
    const b = await waiting
    assert.ok(b.length >= 1)
    assert.equal(b.headers(0).h.toString(), 'v')
    assert.equal(b.msgId(0).toString(), 'm0')
    let got = b.length
    for (let i = 0; i < b.length; i++) assert.deepEqual(b.payload(i), payload('x', b.id(i)))
    b.term(0)
    b.ackAll()
    while (got < 3) {
      const r = await pull.pollRaw(3, 5000)
      for (let i = 0; i < r.length; i++) assert.deepEqual(r.payload(i), payload('x', r.id(i)))
      got += r.length
      r.ackAll()
    }
    // A dead letter through a wait: its note and extension come along.
    const d = await dead.pollRaw(1, 5000)
    assert.equal(d.length, 1)
    assert.equal(d.error(0), 'termed')
    assert.equal(d.deadLetterGroup(0), 'g')
    assert.equal(d.msgId(0).toString(), 'm0')
    assert.deepEqual(d.payload(0), payload('x', 0))
    d.ackAll()
    assert.equal(pull.stats().inFlight, 0)
  } finally {
    await mq.close(1000)
  }
})

test('a worker publishing packed batches, the main thread taking raw with acks and nacks: each message once, intact', { timeout: 120000 }, async () => {
  const name = 'raw-stress'
  const N = 100000
  const mq = new Broker({ name, workersMax: 2 })
  const t = mq.createTopic('t', { capacity: 512, slotSize: SIZE, backoffBaseMs: 1, backoffMaxMs: 4 })
  const pull = t.pull('g')
  // Payloads of 8 to 64 bytes: the index, then bytes made from it.
  const code = `
    const { workerData } = require('node:worker_threads')
    const { Broker } = require('ringmq')
    const { name, n, size } = workerData
    ;(async () => {
      const mq = Broker.open(name)
      const t = mq.topic('t')
      const stage = Buffer.alloc(256 * size)
      const lens = new Uint32Array(256)
      for (let i = 0; i < n; ) {
        let at = 0
        let k = 0
        for (; k < 256 && i + k < n; k++) {
          const id = i + k
          const len = 8 + (id % (size - 7))
          stage.writeUInt32LE(id, at)
          for (let j = 4; j < len; j++) stage[at + j] = (id * 31 + j) & 0xff
          lens[k] = len
          at += len
        }
        for (;;) {
          try {
            t.publishPacked(stage.subarray(0, at), lens.subarray(0, k))
            break
          } catch (e) {
            if (e.code !== 'TIMEOUT') throw e
            await new Promise((r) => setImmediate(r))
          }
        }
        i += k
      }
      await mq.close()
    })()
  `
  const worker = new Worker(code, { eval: true, workerData: { name, n: N, size: SIZE } })
  const exited = new Promise((resolve, reject) => {
    worker.once('exit', resolve)
    worker.once('error', reject)
  })
  try {
    const acked = new Uint8Array(N)
    let done = 0
    let nacked = 0
    let turn = 0
    while (done < N) {
      turn++
      let b = turn % 3 === 0 ? await pull.pollRaw(256, 5000) : pull.tryPollRaw(256)
      if (b.length === 0) b = await pull.pollRaw(1 + (turn % 256), 5000)
      assert.ok(b.length > 0, `stalled after ${done} of ${N}`)
      for (let i = 0; i < b.length; i++) {
        const p = b.payload(i)
        const id = p.readUInt32LE(0)
        assert.equal(p.length, 8 + (id % (SIZE - 7)), `length of ${id}`)
        for (let j = 4; j < p.length; j++) {
          if (p[j] !== ((id * 31 + j) & 0xff)) assert.fail(`payload of ${id} corrupted at ${j}`)
        }
        // Ids follow publish order, which the payloads say too.
        assert.equal(b.id(i), id)
        // Every 13th message is nacked on its first attempt, so that
        // retries come from the store among ring deliveries.
        if (b.attempt(i) === 1 && id % 13 === 0) {
          b.nack(i, id % 2 === 0 ? 0 : 1)
          nacked++
          continue
        }
        if (acked[id]) assert.fail(`message ${id} acked twice`)
        acked[id] = 1
        done++
      }
      b.ackAll()
    }
    assert.equal(pull.tryPollRaw().length, 0)
    const s = pull.stats()
    assert.equal(s.acked, N)
    assert.equal(s.nacked, nacked)
    assert.equal(s.inFlight, 0)
    assert.equal(s.deadLettered, 0)
  } finally {
    await exited
    await mq.close(1000)
  }
})

test('raw batches of large slots, through a wait and a take, keep their bytes', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('large', { capacity: 8, slotSize: 100_000 })
    const pull = t.pull('g')
    const waiting = pull.pollRaw(8, 5000)
    const sizes = [70_000, 1, 99_999, 100_000, 20_000]
    setTimeout(() => t.publishMany(sizes.map((n, i) => Buffer.alloc(n, i + 1))), 20)
    const batches = [await waiting]
    let got = batches[0].length
    while (got < sizes.length) {
      const b = pull.tryPollRaw(8)
      batches.push(b)
      got += b.length
    }
    // Every batch still reads its own bytes after the later takes.
    for (const b of batches) {
      for (let i = 0; i < b.length; i++) {
        const id = b.id(i)
        assert.equal(b.lengths[i], sizes[id])
        assert.ok(b.payload(i).equals(Buffer.alloc(sizes[id], id + 1)), `payload ${id}`)
      }
      b.ackAll()
    }
    assert.equal(pull.stats().inFlight, 0)
  } finally {
    await mq.close(1000)
  }
})
