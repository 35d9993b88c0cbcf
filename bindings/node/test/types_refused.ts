// Compiled (not run) by scripts/test-node.sh with `tsc --noEmit --strict`:
// index.d.ts refuses what the package refuses at run time, so a mistake is
// a compile error: each line marked below must be one, or tsc fails on the
// unused expect-error directive.
import { Broker } from 'ringmq'
import type { CloseReport, NatsBridgeStats, PushMessage } from 'ringmq'

export async function refused(mq: Broker, bridgeStats: NatsBridgeStats): Promise<void> {
  const t = mq.createTopic('t')
  // @ts-expect-error a payload is a Buffer or Uint8Array, not a string
  t.publish('text')
  // @ts-expect-error nor an ArrayBuffer
  t.publish(new ArrayBuffer(4))
  // @ts-expect-error no such stats field
  void t.stats().publishd
  // @ts-expect-error lastError may be null
  const last: string = t.pull('p').stats().lastError
  // @ts-expect-error an unknown option
  mq.createTopic('u', { capacty: 8 })
  // @ts-expect-error not an overflow policy
  mq.createTopic('v', { overflow: 'drop' })
  // @ts-expect-error a subscribe option, not a topic's
  mq.createTopic('w', { concurrency: 2 })
  const report: CloseReport = await mq.close()
  // @ts-expect-error timedOut is a boolean
  const n: number = report.timedOut
  // @ts-expect-error left holds objects, not tuples
  const [topic]: [string] = report.left[0]
  // @ts-expect-error a bridge's lastError may be null
  const why: string = bridgeStats.lastError
  const pull = t.pull('p2')
  const ac = new AbortController()
  // @ts-expect-error a signal is the controller's AbortSignal, not the controller
  void pull.poll(10, { signal: ac })
  // @ts-expect-error a signal goes in the options, as { signal }
  void pull.pollBatch(8, 10, ac.signal)
  // @ts-expect-error publishAsync takes the signal among its options
  void t.publishAsync(Buffer.from('x'), ac.signal)
  // @ts-expect-error close has no other option
  void mq.close(10, { timeoutMs: 10 })
  t.subscribe('s', (m: PushMessage) => {
    // @ts-expect-error a push message is settled by its handler's outcome
    m.ack()
  })
  void [last, n, topic, why]
}
