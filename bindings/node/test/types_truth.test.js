'use strict'
// index.d.ts tells the truth about what the package returns: every object
// of a declared interface (stats, close report, bridge stats) has exactly
// the declared keys, each with a value of its declared type, and no key
// declared optional (`?`) when it is always there. (surface.test.js checks
// the generated interfaces against the engine's tables; this checks every
// interface against the objects themselves.)
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Broker, NatsBridge } = require('ringmq')

const pkg = path.dirname(require.resolve('ringmq/package.json'))
const dts = fs.readFileSync(path.join(pkg, 'index.d.ts'), 'utf8')

/** name -> [optional, type] of the properties of `export interface name`. */
function declared(name) {
  const m = new RegExp(`export interface ${name}(?: extends \\w+)? \\{\\n([\\s\\S]*?)\\n\\}`).exec(dts)
  assert.ok(m, `index.d.ts has no interface ${name}`)
  const body = m[1].replace(/\/\*\*[\s\S]*?\*\//g, '')
  return new Map([...body.matchAll(/^ {2}(\w+)(\??): (.+)$/gm)].map((f) => [f[1], [f[2] === '?', f[3].trim()]]))
}

/** Whether value is of the TypeScript type (the few this file's interfaces use). */
function isOf(value, type) {
  return type.split(' | ').some((t) => {
    switch (t) {
      case 'number':
        return typeof value === 'number'
      case 'boolean':
        return typeof value === 'boolean'
      case 'string':
        return typeof value === 'string'
      case 'null':
        return value === null
      default:
        if (t.startsWith('Array<')) return Array.isArray(value)
        throw new Error(`isOf does not know the type ${t}`)
    }
  })
}

function check(what, value, name) {
  const fields = declared(name)
  assert.deepEqual(Object.keys(value).sort(), [...fields.keys()].sort(), `${what}: keys differ from index.d.ts ${name}`)
  for (const [key, [optional, type]] of fields) {
    assert.ok(!optional, `index.d.ts ${name}.${key} is optional, but ${what} always has it`)
    assert.ok(isOf(value[key], type), `${what}.${key} = ${JSON.stringify(value[key])} is not ${type}`)
  }
}

test('stats, the close report and the bridge stats are what index.d.ts says', { timeout: 30000 }, async () => {
  const mq = new Broker()
  const t = mq.createTopic('orders')
  const pull = t.pull('audit')
  const push = t.subscribe('billing', () => {})
  const failing = t.subscribe('failing', () => {
    throw new Error('boom')
  })
  failing.on('error', () => {})
  t.publish(Buffer.from('left behind'))
  check('Topic.stats()', t.stats(), 'TopicStats')
  check('Pull.stats()', pull.stats(), 'SubStats')
  check('Subscription.stats()', push.stats(), 'SubStats')
  for (const [group, s] of Object.entries(t.subscriptionStats())) check(`subscriptionStats().${group}`, s, 'SubStats')
  check('Broker.poolStats()', mq.poolStats(), 'PoolStats')
  await pull.poll(1000)
  // A failed handler leaves a lastError: the `string` of `string | null`.
  for (let i = 0; i < 200 && failing.stats().lastError === null; i++) await new Promise((r) => setTimeout(r, 10))
  assert.equal(failing.stats().lastError, 'boom')
  check('Subscription.stats() after a failure', failing.stats(), 'SubStats')

  const bridge = new NatsBridge(mq, {
    id: 't',
    servers: 'nats://127.0.0.1:1',
    exports: [{ topic: 'orders', group: 'nats', subject: 'orders.created' }],
    reconnectMinMs: 10,
    reconnectMaxMs: 50,
  })
  check('NatsBridge.stats()', bridge.stats(), 'NatsBridgeStats')
  check('NatsBridge.stop()', await bridge.stop(0), 'NatsBridgeStats')
  check('NatsBridge.stats() after stop', bridge.stats(), 'NatsBridgeStats')

  const report = await mq.close(0)
  check('Broker.close()', report, 'CloseReport')
  assert.deepEqual(report.left.find((l) => l.group === 'audit'), { topic: 'orders', group: 'audit', count: 1 })
  for (const l of report.left) assert.deepEqual(Object.keys(l).sort(), ['count', 'group', 'topic'])
})

/** The optional properties of an interface, each given as undefined. */
function allUndefined(...names) {
  const out = {}
  for (const name of names) {
    for (const [key, [optional, type]] of declared(name)) {
      if (!optional) continue
      assert.ok(type.endsWith('| undefined'), `index.d.ts ${name}.${key} is optional but does not admit undefined`)
      out[key] = undefined
    }
  }
  return out
}

test('an option given as undefined is one left out, as `?: T | undefined` says', { timeout: 30000 }, async () => {
  const mq = new Broker(allUndefined('BrokerOptions'))
  const t = mq.createTopic('t', allUndefined('TopicOptions'))
  t.pull('p', allUndefined('SubscribeOptions'))
  t.subscribe('s', () => {}, allUndefined('SubscribeOptions'))
  t.publish(Buffer.from('x'), allUndefined('PublishOptions', 'PublishOneOptions'))
  t.publishMany([Buffer.from('x')], allUndefined('PublishOptions'))
  await t.publishAsync(Buffer.from('x'), allUndefined('PublishAsyncOptions'))
  await t.publishManyAsync([Buffer.from('x')], allUndefined('PublishAsyncOptions'))
  const pull = t.pull('w')
  assert.equal(await pull.poll(0, allUndefined('WaitOptions')), null)
  assert.deepEqual(await pull.pollBatch(4, 0, allUndefined('WaitOptions')), [])
  assert.equal((await pull.pollRaw(4, 0, allUndefined('WaitOptions'))).length, 0)
  assert.equal(typeof pull.messages(allUndefined('WaitOptions')).next, 'function')
  const bridge = new NatsBridge(mq, {
    id: 't',
    servers: 'nats://127.0.0.1:1',
    ...allUndefined('NatsBridgeOptions'),
    exports: [{ topic: 't', group: 'n', subject: 's', ...allUndefined('NatsExport') }],
    imports: [{ stream: 'S', consumer: 'c', topic: 't', group: 'i', ...allUndefined('NatsImport') }],
  })
  await bridge.stop(0)
  await mq.close(0, allUndefined('WaitOptions'))
})
