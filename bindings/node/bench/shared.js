'use strict'
// Throughput between a worker_threads worker and the main thread, both
// ways: the worker produces 64-byte messages and the main thread consumes
// them (and, for the batch paths, the other way round), through one broker shared by
// name (`new Broker({ name })` in main, `Broker.open(name)` in the worker)
// against MessageChannel (the worker's postMessage to the main thread):
//   - ringmq single:     the worker publish()es each message, main
//                        tryPoll()s + ack()s each one
//   - ringmq single, batched take: the worker publish()es each message,
//                        main takes what is there (tryPollBatch + ackAll)
//   - ringmq batch:      publishMany(256 Buffers) / tryPollBatch(256) +
//                        ackAll: a Message object per message
//   - ringmq raw batch:  publishPacked(one Buffer of 256) / tryPollRaw(256)
//                        + ackAll: no object per message
//   - main -> worker:    the two batch cases with the roles swapped: main
//                        publishes, the worker consumes and posts when done
//   - MessageChannel:    postMessage of each message, of an array of 256,
//                        or of 256 packed in one buffer with their lengths
// Every consumer reads each payload. A full ring sends the worker to the
// waiting variant (publishAsync / publishManyAsync), an empty one sends main
// to the waiting poll (poll / pollBatch / pollRaw), as a program would.
// Runs are interleaved (run r of every case before run r+1 of any); the
// medians are printed, then the ratios against MessageChannel and the
// targets (single >= 5x MessageChannel single, batch >= 10 M msgs/s each way).
//
//   node bench/shared.js [--runs 5] [--scale 1] [--quick] [--check]
//
// --quick: 3 runs at a tenth of the size (a smoke run); --check: exit 1 if
// a target is missed (not used by CI: a loaded machine misses them).

const { Worker } = require('node:worker_threads')
const { Broker } = require('ringmq')

const args = process.argv.slice(2)
const flag = (name) => args.includes(name)
const opt = (name, dflt) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : dflt
}
const QUICK = flag('--quick')
const RUNS = opt('--runs', QUICK ? 3 : 5)
const SCALE = opt('--scale', QUICK ? 0.1 : 1)
const SIZE = 64
const BATCH = 256
const CAPACITY = opt('--capacity', 1 << 16)
const NAME = `bench-shared-${process.pid}`

const N_SINGLE = Math.round(1_000_000 * SCALE)
const N_BATCH = Math.round(8_000_000 * SCALE / BATCH) * BATCH
const N_CHANNEL = Math.round(200_000 * SCALE)

const now = () => process.hrtime.bigint()
const secs = (t0) => Number(now() - t0) / 1e9

const mq = new Broker({ name: NAME, workersMax: 2 })

// The batch paths' two ends, used by the main thread and, as source, by the
// worker: whichever side produces or consumes runs the same loop.

// Is e a publish that found the ring full (so the waiting variant is next)?
function full(e) {
  return e.code === 'TIMEOUT' || e.code === 'FULL'
}

// Publishes n messages to topic t in batches of `items` (raw: `packed`
// with `lens`, one call), waiting while the ring is full.
async function sendBatches(t, raw, n, items, packed, lens) {
  for (let sent = 0; sent < n; sent += items.length) {
    try {
      if (raw) t.publishPacked(packed, lens)
      else t.publishMany(items)
    } catch (e) {
      if (!full(e)) throw e
      await t.publishManyAsync(items)
    }
  }
}

// Takes n messages from pull in batches (raw: tryPollRaw, else
// tryPollBatch), waiting while there are none, reads each payload and
// acks; returns how many it took and the sum of their first bytes.
async function takeBatches(pull, raw, n, batch) {
  let got = 0
  let sum = 0
  while (got < n) {
    if (raw) {
      let b = pull.tryPollRaw(batch)
      if (b.length === 0) b = await pull.pollRaw(batch, 5000)
      if (b.length === 0) throw new Error('ringmq raw: stalled')
      const data = b.data
      const offsets = b.offsets
      for (let i = 0; i < b.length; i++) sum += data[offsets[i]]
      b.ackAll()
      got += b.length
    } else {
      let ms = pull.tryPollBatch(batch)
      if (ms.length === 0) ms = await pull.pollBatch(batch, 5000)
      if (ms.length === 0) throw new Error('ringmq batch: stalled')
      for (let i = 0; i < ms.length; i++) sum += ms[i].data[0]
      pull.ackAll(ms)
      got += ms.length
    }
  }
  return { got, sum }
}

// The producer: one worker for every case, told what to send by a message.
const worker = new Worker(
  `
const { parentPort } = require('node:worker_threads')
const { Broker } = require('ringmq')
const mq = Broker.open(${JSON.stringify(NAME)})
const SIZE = ${SIZE}
const BATCH = ${BATCH}
${full}
${sendBatches}
${takeBatches}

async function ring(topic, mode, n) {
  const t = mq.topic(topic)
  if (mode === 'single' || mode === 'single-take') {
    const payload = Buffer.alloc(SIZE, 7)
    for (let i = 0; i < n; i++) {
      try {
        t.publish(payload)
      } catch (e) {
        if (!full(e)) throw e
        await t.publishAsync(payload)
      }
    }
    return
  }
  const items = Array.from({ length: BATCH }, () => Buffer.alloc(SIZE, 7))
  const packed = Buffer.alloc(SIZE * BATCH, 7)
  const lens = new Uint32Array(BATCH).fill(SIZE)
  await sendBatches(t, mode === 'raw', n, items, packed, lens)
}

function channel(mode, n) {
  const payload = new Uint8Array(SIZE).fill(7)
  if (mode === 'single') {
    for (let i = 0; i < n; i++) parentPort.postMessage(payload)
  } else if (mode === 'packed') {
    const data = new Uint8Array(SIZE * BATCH).fill(7)
    const lens = new Uint32Array(BATCH).fill(SIZE)
    for (let sent = 0; sent < n; sent += BATCH) parentPort.postMessage({ data, lens })
  } else {
    const items = Array.from({ length: BATCH }, () => new Uint8Array(SIZE).fill(7))
    for (let sent = 0; sent < n; sent += BATCH) parentPort.postMessage(items)
  }
}

// The other direction: main publishes, this worker consumes and says when
// it has read all n.
async function drain(topic, mode, n) {
  const pull = mq.topic(topic).pullSubscription('c')
  const { got, sum } = await takeBatches(pull, mode === 'raw', n, BATCH)
  parentPort.postMessage({ drained: got, ok: sum === 7 * n && got === n })
}

parentPort.on('message', async (job) => {
  if (job === 'stop') {
    await mq.close()
    parentPort.close()
    return
  }
  if (job.drain) await drain(job.drain, job.mode, job.n)
  else if (job.topic) await ring(job.topic, job.mode, job.n)
  else channel(job.mode, job.n)
})
`,
  { eval: true },
)

// ---- ringmq -----------------------------------------------------------------

// A topic per mode, drained by each run.
const pulls = {}

async function ring(mode, n) {
  const name = `t-${mode}`
  if (pulls[mode] === undefined) {
    pulls[mode] = mq.createTopic(name, { capacity: CAPACITY, slotSize: SIZE }).pull('c')
  }
  const pull = pulls[mode]
  let got = 0
  let sum = 0
  const t0 = now()
  worker.postMessage({ topic: name, mode, n })
  if (mode === 'single') {
    while (got < n) {
      let m = pull.tryPoll()
      if (m === null) m = await pull.poll(5000)
      if (m === null) throw new Error('ringmq single: stalled')
      sum += m.data[0]
      m.ack()
      got++
    }
  } else {
    ;({ got, sum } = await takeBatches(pull, mode === 'raw', n, BATCH))
  }
  const s = secs(t0)
  if (sum !== 7 * n || got !== n) throw new Error(`ringmq ${mode}: lost messages`)
  return n / s
}

// Main -> worker: this thread publishes (as the worker does above), the
// worker drains and posts when it has read all n.
const feeds = {}
const batchItems = Array.from({ length: BATCH }, () => Buffer.alloc(SIZE, 7))
const packed = Buffer.alloc(SIZE * BATCH, 7)
const packedLens = new Uint32Array(BATCH).fill(SIZE)

async function feed(mode, n) {
  const name = `f-${mode}`
  if (feeds[mode] === undefined) {
    const t = mq.createTopic(name, { capacity: CAPACITY, slotSize: SIZE })
    t.pull('c')
    feeds[mode] = t
  }
  const t = feeds[mode]
  const drained = new Promise((resolve) => worker.once('message', resolve))
  const t0 = now()
  worker.postMessage({ drain: name, mode, n })
  await sendBatches(t, mode === 'raw', n, batchItems, packed, packedLens)
  const done = await drained
  const s = secs(t0)
  if (!done.ok || done.drained !== n) throw new Error(`ringmq ${mode} main -> worker: lost messages`)
  return n / s
}

// ---- MessageChannel -----------------------------------------------------------

function channel(mode, n) {
  return new Promise((resolve, reject) => {
    let got = 0
    let sum = 0
    const t0 = now()
    const onMessage = (m) => {
      if (mode === 'single') {
        sum += m[0]
        got++
      } else if (mode === 'packed') {
        const { data, lens } = m
        for (let i = 0, off = 0; i < lens.length; off += lens[i], i++) sum += data[off]
        got += lens.length
      } else {
        for (let i = 0; i < m.length; i++) sum += m[i][0]
        got += m.length
      }
      if (got >= n) {
        worker.off('message', onMessage)
        if (sum !== 7 * got) reject(new Error('MessageChannel: lost messages'))
        else resolve(got / secs(t0))
      }
    }
    worker.on('message', onMessage)
    worker.postMessage({ mode, n })
  })
}

// ---- the run ----------------------------------------------------------------

const cases = [
  ['ringmq single (publish / tryPoll + ack)', () => ring('single', N_SINGLE)],
  ['ringmq single, batched take (publish / tryPollBatch + ackAll)', () => ring('single-take', N_SINGLE)],
  ['ringmq batch (publishMany / tryPollBatch + ackAll, 256)', () => ring('batch', N_BATCH)],
  ['ringmq raw batch (publishPacked / tryPollRaw + ackAll, 256)', () => ring('raw', N_BATCH)],
  ['ringmq batch, main -> worker (publishMany / tryPollBatch + ackAll)', () => feed('batch', N_BATCH)],
  ['ringmq raw batch, main -> worker (publishPacked / tryPollRaw + ackAll)', () => feed('raw', N_BATCH)],
  ['MessageChannel single (postMessage per message)', () => channel('single', N_CHANNEL)],
  ['MessageChannel batch (postMessage of 256)', () => channel('batch', N_BATCH / 4)],
  ['MessageChannel packed (postMessage of 256 in one buffer)', () => channel('packed', N_BATCH)],
]

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (v) => `${(v / 1e6).toFixed(2)} M/s`

async function main() {
  const os = require('node:os')
  console.log(
    `worker <-> main through a shared broker: node ${process.version}, ${os.cpus().length} CPUs, ` +
      `load ${os.loadavg()[0].toFixed(2)}, ${SIZE}-byte payloads, ${RUNS} interleaved runs, medians`,
  )
  const results = cases.map(() => [])
  // One warm-up pass, not counted.
  for (const [, f] of cases) await f()
  for (let r = 0; r < RUNS; r++) {
    for (let c = 0; c < cases.length; c++) results[c].push(await cases[c][1]())
  }
  const med = results.map(median)
  const width = Math.max(...cases.map(([n]) => n.length))
  for (let c = 0; c < cases.length; c++) {
    const runs = results[c].map((v) => (v / 1e6).toFixed(2)).join(' ')
    console.log(`${cases[c][0].padEnd(width)}  ${fmt(med[c]).padStart(11)}   runs: ${runs}`)
  }
  const [single, singleTake, batch, raw, batchBack, rawBack, chSingle, chBatch, chPacked] = med
  const x = (a, b) => `${(a / b).toFixed(2)}x`
  console.log('')
  console.log(`ratio single    vs MessageChannel single: ${x(single, chSingle)} (target >= 5x)`)
  console.log(`ratio single, batched take vs MessageChannel single: ${x(singleTake, chSingle)}`)
  console.log(`ratio batch     vs MessageChannel batch:  ${x(batch, chBatch)}`)
  console.log(`ratio raw batch vs MessageChannel packed: ${x(raw, chPacked)}`)
  const best = Math.max(batch, raw)
  const bestBack = Math.max(batchBack, rawBack)
  console.log(`batched, worker -> main: ${fmt(best)} (target >= 10 M/s)`)
  console.log(`batched, main -> worker: ${fmt(bestBack)} (target >= 10 M/s)`)
  worker.postMessage('stop')
  await new Promise((r) => worker.once('exit', r))
  const report = await mq.close(1000)
  if (report.undelivered !== 0 || report.handlesLeft !== 0) throw new Error(`close left ${JSON.stringify(report)}`)
  const missed = Math.max(single, singleTake) < 5 * chSingle || Math.min(best, bestBack) < 10e6
  if (flag('--check') && missed) {
    console.error('a target was missed')
    process.exitCode = 1
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
