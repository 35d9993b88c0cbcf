'use strict'
// Throughput of the Node binding against the ways a Node program hands
// messages around without it, 64-byte payloads, one producer and one
// consumer:
//   - ringmq single:     publish(buf) + tryPoll() + ack(), one call each
//   - ringmq await poll:  publish(buf) + await poll() + ack()
//   - ringmq batch:      publishMany(256 bufs) + tryPollBatch(256) + ackAll()
//   - ringmq raw batch:  publishPacked(one Buffer of 256) + tryPollRaw(256)
//                        + ackAll(), no object per message
//   - ringmq push:       publishMany + a handler on the JS thread (acks)
//   - MessageChannel:    a worker_threads worker posts to the main thread,
//                        one postMessage per message, an array of 256, or
//                        256 packed in one buffer with their lengths
//   - array queue:       push a copy and shift, in the same thread
// Every consumer reads each payload. Runs are interleaved (run r of every
// case before run r+1 of any) and the median of the runs is reported.
//
//   node bench/bench.js [--runs 5] [--scale 1]

const { Worker } = require('node:worker_threads')
const { Broker } = require('ringmq')

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const RUNS = opt('--runs', 5)
const SCALE = opt('--scale', 1)
const SIZE = 64
const BATCH = 256

const N_SINGLE = Math.round(400_000 * SCALE)
const N_BATCH = Math.round(4_000_000 * SCALE)
const N_CHANNEL = Math.round(200_000 * SCALE)
const N_PUSH = Math.round(200_000 * SCALE)

const payload = Buffer.alloc(SIZE, 7)
const batchItems = Array.from({ length: BATCH }, (_, i) => Buffer.alloc(SIZE, i))

const now = () => process.hrtime.bigint()
const secs = (t0) => Number(now() - t0) / 1e9

// ---- ringmq -----------------------------------------------------------------

const mq = new Broker({ workersMax: 2 })
let topicNo = 0
function freshTopic() {
  return mq.createTopic(`bench-${topicNo++}`, { capacity: 4096, slotSize: SIZE })
}

function ringSingle(n) {
  const t = freshTopic()
  const pull = t.pull('c')
  let sum = 0
  const t0 = now()
  for (let i = 0; i < n; i++) {
    t.publish(payload)
    const m = pull.tryPoll()
    sum += m.data[0]
    m.ack()
  }
  const s = secs(t0)
  pull.unsubscribe()
  if (sum !== 7 * n) throw new Error('ringmq single: lost messages')
  return n / s
}

async function ringAwait(n) {
  const t = freshTopic()
  const pull = t.pull('c')
  let sum = 0
  const t0 = now()
  for (let i = 0; i < n; i++) {
    t.publish(payload)
    const m = await pull.poll(1000)
    sum += m.data[0]
    m.ack()
  }
  const s = secs(t0)
  pull.unsubscribe()
  if (sum !== 7 * n) throw new Error('ringmq await poll: lost messages')
  return n / s
}

function ringBatch(n) {
  const t = freshTopic()
  const pull = t.pull('c')
  let got = 0
  let sum = 0
  const t0 = now()
  while (got < n) {
    t.publishMany(batchItems)
    const ms = pull.tryPollBatch(BATCH)
    for (let i = 0; i < ms.length; i++) sum += ms[i].data.length
    pull.ackAll(ms)
    got += ms.length
  }
  const s = secs(t0)
  pull.unsubscribe()
  if (sum !== SIZE * got) throw new Error('ringmq batch: lost messages')
  return got / s
}

const packed = Buffer.concat(batchItems)
const packedLens = new Uint32Array(BATCH).fill(SIZE)

function ringRaw(n) {
  const t = freshTopic()
  const pull = t.pull('c')
  let got = 0
  let sum = 0
  const t0 = now()
  while (got < n) {
    t.publishPacked(packed, packedLens)
    const b = pull.tryPollRaw(BATCH)
    const data = b.data
    const offsets = b.offsets
    for (let i = 0; i < b.length; i++) sum += data[offsets[i]] + 1
    b.ackAll()
    got += b.length
  }
  const s = secs(t0)
  pull.unsubscribe()
  // Item j of each batch is filled with the byte j: sum of (j + 1).
  if (sum !== (got / BATCH) * ((BATCH * (BATCH + 1)) / 2)) throw new Error('ringmq raw: lost messages')
  return got / s
}

async function ringPush(n) {
  const t = freshTopic()
  let got = 0
  let done
  const finished = new Promise((r) => (done = r))
  const sub = t.subscribe(
    'c',
    (m) => {
      got += m.data.length === SIZE ? 1 : 0
      if (got === n) done()
    },
    { concurrency: 1024 },
  )
  const t0 = now()
  for (let sent = 0; sent < n; sent += BATCH) {
    await t.publishManyAsync(sent + BATCH <= n ? batchItems : batchItems.slice(0, n - sent))
  }
  await finished
  const s = secs(t0)
  await sub.unsubscribe()
  return n / s
}

// ---- peers ------------------------------------------------------------------

const workerSource = `
const { parentPort } = require('node:worker_threads')
parentPort.on('message', ({ n, batch, size, pack }) => {
  const payload = new Uint8Array(size).fill(7)
  if (batch === 1) {
    for (let i = 0; i < n; i++) parentPort.postMessage(payload)
  } else if (pack) {
    const data = new Uint8Array(size * batch).fill(7)
    const lens = new Uint32Array(batch).fill(size)
    for (let sent = 0; sent < n; sent += batch) parentPort.postMessage({ data, lens })
  } else {
    const items = Array.from({ length: batch }, () => new Uint8Array(size).fill(7))
    for (let sent = 0; sent < n; sent += batch) parentPort.postMessage(items)
  }
})
`
const worker = new Worker(workerSource, { eval: true })

function channel(n, batch, pack = false) {
  return new Promise((resolve) => {
    let got = 0
    let sum = 0
    const t0 = now()
    const onMessage = (m) => {
      if (batch === 1) {
        sum += m[0]
        got++
      } else if (pack) {
        const { data, lens } = m
        for (let i = 0, off = 0; i < lens.length; off += lens[i], i++) sum += data[off]
        got += lens.length
      } else {
        for (let i = 0; i < m.length; i++) sum += m[i][0]
        got += m.length
      }
      if (got >= n) {
        worker.off('message', onMessage)
        if (sum !== 7 * got) throw new Error('MessageChannel: lost messages')
        resolve(got / secs(t0))
      }
    }
    worker.on('message', onMessage)
    worker.postMessage({ n, batch, size: SIZE, pack })
  })
}

function arrayQueue(n, batch) {
  const q = []
  let sum = 0
  let got = 0
  const t0 = now()
  while (got < n) {
    for (let j = 0; j < batch; j++) q.push(Buffer.from(batchItems[j]))
    for (let j = 0; j < batch; j++) sum += q.shift().length
    got += batch
  }
  const s = secs(t0)
  if (sum !== SIZE * got) throw new Error('array queue: lost messages')
  return got / s
}

// ---- the run ----------------------------------------------------------------

const cases = [
  ['ringmq single (publish + tryPoll + ack)', () => ringSingle(N_SINGLE)],
  ['ringmq single (publish + await poll + ack)', () => ringAwait(N_SINGLE / 4)],
  ['ringmq batch (publishMany + tryPollBatch + ackAll, 256)', () => ringBatch(N_BATCH)],
  ['ringmq raw batch (publishPacked + tryPollRaw + ackAll, 256)', () => ringRaw(N_BATCH)],
  ['ringmq push (handler on the JS thread)', () => ringPush(N_PUSH)],
  ['MessageChannel worker -> main, single', () => channel(N_CHANNEL, 1)],
  ['MessageChannel worker -> main, batch of 256', () => channel(N_BATCH / 4, BATCH)],
  ['MessageChannel worker -> main, packed 256', () => channel(N_BATCH, BATCH, true)],
  ['array queue in-thread, single (push copy + shift)', () => arrayQueue(N_SINGLE, 1)],
  ['array queue in-thread, batch of 256', () => arrayQueue(N_BATCH, BATCH)],
]

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (v) => `${(v / 1e6).toFixed(2)} M/s`

async function main() {
  console.log(`node ${process.version}, ${SIZE}-byte payloads, ${RUNS} interleaved runs, medians`)
  const results = cases.map(() => [])
  // One warm-up pass, not counted.
  for (const [, f] of cases) await f()
  for (let r = 0; r < RUNS; r++) {
    for (let c = 0; c < cases.length; c++) results[c].push(await cases[c][1]())
  }
  const med = results.map(median)
  const by = Object.fromEntries(cases.map(([name], i) => [name, med[i]]))
  const width = Math.max(...cases.map(([n]) => n.length))
  for (let c = 0; c < cases.length; c++) {
    const runs = results[c].map((v) => (v / 1e6).toFixed(2)).join(' ')
    console.log(`${cases[c][0].padEnd(width)}  ${fmt(med[c]).padStart(11)}   runs: ${runs}`)
  }
  const chSingle = by['MessageChannel worker -> main, single']
  const chBatch = by['MessageChannel worker -> main, batch of 256']
  const arrSingle = by['array queue in-thread, single (push copy + shift)']
  const arrBatch = by['array queue in-thread, batch of 256']
  const single = by['ringmq single (publish + tryPoll + ack)']
  const awaitPoll = by['ringmq single (publish + await poll + ack)']
  const batch = by['ringmq batch (publishMany + tryPollBatch + ackAll, 256)']
  const push = by['ringmq push (handler on the JS thread)']
  const raw = by['ringmq raw batch (publishPacked + tryPollRaw + ackAll, 256)']
  const chPacked = by['MessageChannel worker -> main, packed 256']
  const x = (a, b) => `${(a / b).toFixed(2)}x`
  console.log('')
  console.log(`ratio single (tryPoll)    vs MessageChannel single: ${x(single, chSingle)}   vs array queue single: ${x(single, arrSingle)}`)
  console.log(`ratio single (await poll) vs MessageChannel single: ${x(awaitPoll, chSingle)}   vs array queue single: ${x(awaitPoll, arrSingle)}`)
  console.log(`ratio batch               vs MessageChannel batch:  ${x(batch, chBatch)}   vs array queue batch:  ${x(batch, arrBatch)}`)
  console.log(`ratio raw batch           vs MessageChannel packed: ${x(raw, chPacked)}   vs array queue batch:  ${x(raw, arrBatch)}`)
  console.log(`ratio push                vs MessageChannel single: ${x(push, chSingle)}`)
  await worker.terminate()
  await mq.close(1000)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
