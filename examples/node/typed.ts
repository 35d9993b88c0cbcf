// Typed use of the ringmq package, compiled with `tsc --strict` and run by
// scripts/test-node.sh: a push handler that dead-letters a poison message,
// a pull subscription, the dead letter read back, the stats and the close
// report as the interfaces index.d.ts declares, and messages printed with
// console.log (a few lines each: topic, group, id, key, attempt, a payload
// preview, headers).
//
//   npm install && npm run typed     # in examples/node

import { Broker, Term } from 'ringmq'
import type { CloseReport, Message, PoolStats, PushMessage, SubStats, TopicStats } from 'ringmq'

function describe(group: string, s: SubStats): string {
  const p99Ms = s.latencyP99Ns / 1e6
  const why = s.lastError === null ? '' : `, last error ${JSON.stringify(s.lastError)}`
  return `${group}: ${s.acked} acked, ${s.deadLettered} dead-lettered, lag ${s.lag}, p99 ${p99Ms.toFixed(2)} ms${why}`
}

async function main(): Promise<void> {
  const mq = new Broker({ workersMax: 2 })
  const orders = mq.createTopic('orders', { maxAttempts: 2, backoffBaseMs: 5 })
  const dlq = orders.deadLetterTopic()
  if (dlq === null) throw new Error('orders has a dead-letter topic')
  const deadLetters = dlq.pull('inspect', { start: 'earliest' })

  let handled = 0
  orders.subscribe('billing', (msg: PushMessage) => {
    handled++
    if (msg.data.toString('utf8') === 'poison') throw new Term('cannot bill this')
  })
  const audit = orders.pull('audit')

  const bodies = ['{"order":1,"amount":"9.99"}', '{"order":2,"amount":"19.99"}', 'poison']
  const ids: number[] = bodies.map((body, i) =>
    orders.publish(Buffer.from(body), { key: i, headers: { source: 'typed.ts' } }),
  )

  const batch: Message[] = await audit.pollBatch(ids.length, 1000)
  console.log(batch[0])
  audit.ackAll(batch)

  const dead: Message | null = await deadLetters.poll(5000)
  if (dead === null) throw new Error('the poison message was not dead-lettered')
  console.log(dead)
  dead.ack()

  const topic: TopicStats = orders.stats()
  const pool: PoolStats = mq.poolStats()
  for (const [group, s] of Object.entries(orders.subscriptionStats())) console.log(describe(group, s))
  console.log(`orders: ${topic.published} published; pool: ${pool.workers} workers; ${handled} handler calls`)
  console.log(orders, audit, mq)

  const report: CloseReport = await mq.close(1000)
  const left = report.left.map((l) => `${l.topic}/${l.group}: ${l.count}`).join(', ') || 'nothing'
  console.log(`closed: ${report.undelivered} undelivered, timed out: ${report.timedOut}, left ${left}`)
  if (topic.published !== bodies.length || report.undelivered !== 0) throw new Error('unexpected counts')
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
