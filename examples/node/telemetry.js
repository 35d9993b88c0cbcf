'use strict'
// Telemetry on an edge gateway: sensors publish readings into a topic where
// the newest wins (drop_oldest); an alerting handler runs on the JS thread
// for every reading (async, with retries and a dead-letter topic for alerts
// it cannot deliver); a dashboard polls batches and keeps per-sensor
// averages; the process prints stats and a few Prometheus metrics, then
// closes the broker, which drains what is pending.
//
//   npm install           # in examples/node: brings ringmq from ../../bindings/node,
//                         # building its addon with cargo
//   node telemetry.js [--seconds N]

const { Broker } = require('ringmq')

const argSeconds = process.argv.indexOf('--seconds')
const seconds = argSeconds > 0 ? Number(process.argv[argSeconds + 1]) : 3
if (!(seconds > 0)) {
  console.error('usage: node telemetry.js [--seconds N]  (N > 0)')
  process.exit(2)
}

const SENSORS = 8
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// A reading: sensor id (u16), sequence (u32), temperature in centi-degrees (i32).
function encode(sensor, seq, centi) {
  const b = Buffer.allocUnsafe(10)
  b.writeUInt16LE(sensor, 0)
  b.writeUInt32LE(seq, 2)
  b.writeInt32LE(centi, 6)
  return b
}
function decode(buf) {
  return { sensor: buf.readUInt16LE(0), seq: buf.readUInt32LE(2), celsius: buf.readInt32LE(6) / 100 }
}

async function main() {
  const mq = new Broker({ workersMax: 2 })
  const readings = mq.createTopic('telemetry', { capacity: 4096, slotSize: 16, overflow: 'drop_oldest' })
  const alerts = mq.createTopic('alerts', { capacity: 256, slotSize: 64, maxAttempts: 3, backoffBaseMs: 5, backoffMaxMs: 50 })

  // Alerting: every reading, on the JS thread; a hot one raises an alert.
  let raised = 0
  readings.subscribe(
    'alerting',
    async (msg) => {
      const r = decode(msg.data)
      if (r.celsius > 82) {
        raised++
        await alerts.publishAsync(Buffer.from(`sensor ${r.sensor} at ${r.celsius.toFixed(2)} C`), { key: r.sensor, timeoutMs: 100 })
      }
    },
    { concurrency: 64 },
  )

  // Alert delivery: a flaky pager that fails one call in three; failures are
  // retried with backoff and, after 3 attempts, dead-lettered.
  let paged = 0
  let pagerCalls = 0
  alerts.subscribe('pager', async (msg) => {
    pagerCalls++
    await sleep(1)
    if (pagerCalls % 3 === 0) throw new Error(`pager busy (attempt ${msg.attempt})`)
    paged++
  })
  const undeliverable = alerts.deadLetterTopic().pull('on-call-log')

  // Dashboard: a lossy pull consumer, never holding the sensors back.
  const dashboard = readings.pull('dashboard', { lossy: true })
  const avg = new Map()
  let running = true
  const dash = (async () => {
    while (running) {
      const batch = await dashboard.pollBatch(512, 100)
      for (const m of batch) {
        const r = decode(m.data)
        const a = avg.get(r.sensor) || { n: 0, sum: 0 }
        a.n++
        a.sum += r.celsius
        avg.set(r.sensor, a)
      }
      dashboard.ackAll(batch)
    }
  })()

  // Sensors: a burst of readings, one per sensor, every millisecond or so.
  const until = Date.now() + seconds * 1000
  let seq = 0
  while (Date.now() < until) {
    const burst = []
    for (let s = 0; s < SENSORS; s++) {
      const centi = 2000 + s * 800 + Math.round(Math.sin(seq / 50 + s) * 800)
      burst.push(encode(s, seq, centi))
    }
    readings.publishMany(burst)
    seq++
    await sleep(1)
  }
  running = false
  await dash
  const dashStats = dashboard.stats()
  dashboard.unsubscribe()

  const dead = []
  for (;;) {
    const m = await undeliverable.poll(50)
    if (m === null) break
    dead.push(m.data.toString())
    m.ack()
  }
  undeliverable.unsubscribe()

  const t = readings.stats()
  const subs = readings.subscriptionStats()
  console.log(`published ${t.published} readings from ${SENSORS} sensors in ${seconds} s`)
  console.log(`alerting handled ${subs.alerting.acked}, p99 publish-to-ack ${(subs.alerting.latencyP99Ns / 1e3).toFixed(0)} us`)
  console.log(`dashboard saw ${dashStats.acked}, skipped ${dashStats.dropped} (lossy)`)
  for (const [sensor, a] of [...avg].sort((x, y) => x[0] - y[0])) {
    console.log(`  sensor ${sensor}: ${(a.sum / a.n).toFixed(2)} C average over ${a.n}`)
  }
  const pager = alerts.subscriptionStats().pager
  console.log(`alerts raised ${raised}, paged ${paged}, retried ${pager.retried}, dead-lettered ${pager.deadLettered}${pager.lastError ? ` (last error: ${pager.lastError})` : ''}`)
  if (dead.length > 0) console.log(`  undeliverable: ${dead[0]}${dead.length > 1 ? ` and ${dead.length - 1} more` : ''}`)
  const metrics = mq.metricsText().split('\n').filter((l) => l.startsWith('ringmq_') && l.includes('topic="telemetry"'))
  console.log(metrics.slice(0, 4).join('\n'))

  const report = await mq.close(2000)
  console.log(`closed: ${report.undelivered} left undelivered${report.timedOut ? ' (drain timed out)' : ''}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
