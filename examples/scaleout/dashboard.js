'use strict'
// Process B of the scale-out demo: a fleet dashboard in another process
// (and language) than the gateway that produces the readings.
//
// A NATS bridge imports the JetStream stream FLEET into a local RingMQ
// topic; the dashboard's handlers (a push subscription, one reading of a
// vehicle at a time, so each vehicle's readings are handled in order) keep
// per-vehicle figures. The bridge's import group is that subscription: a
// handler's ack acks the message in JetStream, a failing reading is retried
// here in place (JetStream is told it is in progress) and, after the
// topic's maxAttempts, goes to the local dead-letter topic and is
// terminated in JetStream. A live line shows what is going on.
//
// When the gateway's manifest (--manifest) appears, the dashboard waits
// until it has handled or dead-lettered every reading it lists, stops, and
// writes what it saw to --report for examples/scaleout/check.py.
//
//   node dashboard.js --nats nats://127.0.0.1:4222 --manifest manifest.json \
//       --report report.json [--timeout 90]
// Run with the gateway by examples/scaleout/run.sh.

const fs = require('node:fs')
const { Broker, NatsBridge } = require('ringmq')

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) {
    if (fallback === undefined) {
      console.error(`usage: node dashboard.js --nats URL --manifest PATH --report PATH [--timeout S]  (--${name} missing)`)
      process.exit(2)
    }
    return fallback
  }
  return process.argv[i + 1]
}

const url = arg('nats')
const manifestPath = arg('manifest')
const reportPath = arg('report')
const timeoutS = Number(arg('timeout', '90'))
// The demo's clock: seconds since run.sh started both processes (its
// RINGMQ_SCALEOUT_T0, Unix time), else since this one started.
const T0 = Number(process.env.RINGMQ_SCALEOUT_T0) || Date.now() / 1000
const log = (text) => console.log(`[dashboard B] ${(Date.now() / 1000 - T0).toFixed(1).padStart(4)}s ${text}`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function main() {
  const t0 = Date.now()
  const mq = new Broker({ workersMax: 2 })
  const telemetry = mq.createTopic('telemetry', {
    capacity: 1024,
    slotSize: 256,
    maxAttempts: 3,
    backoffBaseMs: 20,
    backoffMaxMs: 100,
    ackTimeoutMs: 2000,
  })

  // The handlers: parse, check the vehicle's order, keep its figures.
  const handled = [] // [vehicle, seq, attempt], in the order handled
  const seen = new Set()
  const vehicles = new Map() // vehicle -> { n, lastSeq, speedSum }
  let outOfOrder = 0
  let copies = 0
  const sub = telemetry.subscribe(
    'dashboard',
    (msg) => {
      const name = msg.headers.reading ? msg.headers.reading.toString() : '?'
      let r
      try {
        r = JSON.parse(msg.data.toString())
      } catch {
        throw new Error(`reading ${name} cannot be parsed as JSON`)
      }
      handled.push([r.vehicle, r.seq, msg.attempt])
      // Imports are at least once: a copy (JetStream delivered the reading
      // again, its ack lost in an outage) changes nothing here.
      const id = `v${r.vehicle}-${r.seq}`
      if (seen.has(id)) {
        copies++
        return
      }
      seen.add(id)
      const v = vehicles.get(r.vehicle) || { n: 0, lastSeq: -1, speedSum: 0 }
      if (r.seq <= v.lastSeq) outOfOrder++
      v.n++
      v.lastSeq = Math.max(v.lastSeq, r.seq)
      v.speedSum += r.speed_kmh
      vehicles.set(r.vehicle, v)
    },
    { orderedByKey: true, concurrency: 8 },
  )
  let failures = 0
  sub.on('error', (err, msg) => {
    failures++
    if (failures <= 5) log(`handler failed (attempt ${msg.attempt}): ${err.message}`)
  })

  // The dead letters: what the handlers gave up on, with the reason.
  const dead = []
  const alerts = telemetry.deadLetterTopic().pull('alerts', { start: 'earliest' })
  let running = true
  const alerting = (async () => {
    while (running) {
      const m = await alerts.poll(200)
      if (m === null) continue
      const name = m.headers.reading ? m.headers.reading.toString() : '?'
      dead.push({ reading: name, key: Number(m.key), attempts: m.attempt, error: m.error, group: m.deadLetterGroup })
      log(`dead letter: reading ${name} of vehicle ${m.key} after ${m.attempt} attempts: ${m.error}`)
      m.ack()
    }
  })()

  // The bridge: JetStream's stream FLEET into the topic, settled by the
  // handlers' group. The stream is the gateway's: until it exists the
  // import retries (lastError says why).
  const bridge = new NatsBridge(mq, {
    id: 'dashboard-b',
    servers: [url],
    imports: [{ stream: 'FLEET', consumer: 'dashboard', topic: 'telemetry', group: 'dashboard', batch: 256 }],
    reconnectMinMs: 50,
    reconnectMaxMs: 1000,
  })

  log(`JetStream stream FLEET at ${url} -> import -> topic 'telemetry' -> handlers, in order per vehicle`)
  let manifest = null
  let lastHandled = 0
  let doneAt = null
  let ok = false
  for (let tick = 1; ; tick++) {
    await sleep(250)
    const elapsed = (Date.now() - t0) / 1000
    if (tick % 4 === 0) {
      const b = bridge.stats()
      const s = telemetry.subscriptionStats().dashboard
      const rate = (handled.length - lastHandled) / 1
      lastHandled = handled.length
      log(
        `imported ${String(b.imported).padStart(6)}  handled ${String(handled.length).padStart(6)}` +
          `  ${String(Math.round(rate)).padStart(5)}/s  lag ${String(s.lag).padStart(4)}  in flight ${String(b.inFlight).padStart(4)}` +
          `  dead letters ${dead.length}  vehicles ${vehicles.size}  nats ${b.connected ? 'up' : 'DOWN'}`,
      )
    }
    if (manifest === null && fs.existsSync(manifestPath)) {
      manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
      log(`gateway done: ${manifest.published} readings to see`)
    }
    if (manifest !== null && doneAt === null && seen.size + dead.length >= manifest.published) {
      doneAt = Date.now()
    }
    // A second more, for any late copy (JetStream delivers at least once).
    if (doneAt !== null && Date.now() - doneAt >= 1000) {
      ok = true
      break
    }
    if (elapsed > timeoutS) {
      log(`timed out after ${timeoutS} s; bridge: ${JSON.stringify(bridge.stats())}`)
      break
    }
  }

  const final = await bridge.stop(1000)
  running = false
  await alerting
  const subStats = telemetry.subscriptionStats().dashboard
  await mq.close(1000)

  log(
    `done: handled ${seen.size} readings of ${vehicles.size} vehicles (${outOfOrder} out of order, ` +
      `${copies} copies seen again), dead letters ${dead.length}; bridge imported ${final.imported}, ` +
      `dead-lettered ${final.deadLettered}, reconnects ${final.reconnects}`,
  )
  for (const [v, s] of [...vehicles].sort((a, b) => a[0] - b[0])) {
    log(`  vehicle ${v}: ${s.n} readings, last #${s.lastSeq}, average ${(s.speedSum / s.n).toFixed(1)} km/h`)
  }
  const report = { handled, dead, bridge: final, subscription: subStats, completed: ok }
  fs.writeFileSync(reportPath, JSON.stringify(report))
  return ok ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
