'use strict'
// The addon, its objects and index.d.ts agree with what the engine declares
// (exported as `schema`): a stats field, option, spelling or error kind
// added to the engine and missing here fails a test that names the layer.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Broker, RingMQError, schema } = require('ringmq')

const pkg = path.dirname(require.resolve('ringmq/package.json'))
const dts = fs.readFileSync(path.join(pkg, 'index.d.ts'), 'utf8')

/** The property names of `export interface name { ... }` in index.d.ts. */
function interfaceFields(name) {
  const m = new RegExp(`export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`).exec(dts)
  assert.ok(m, `index.d.ts has no interface ${name}`)
  return [...m[1].matchAll(/^ {2}(\w+)\??:/gm)].map((f) => f[1])
}

/** The string literals of `export type name = 'a' | 'b'` in index.d.ts. */
function unionMembers(name) {
  const m = new RegExp(`export type ${name} =([^\\n]*(?:\\n\\s+\\|[^\\n]*)*)`).exec(dts)
  assert.ok(m, `index.d.ts has no type ${name}`)
  return [...m[1].matchAll(/'([^']*)'/g)].map((f) => f[1])
}

const stale = (what) => `${what} is stale: run \`cargo run -p gen-surface\``

test('stats objects and their types have the engine fields', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('s')
    const pull = t.pull('g')
    for (const [scope, iface, obj] of [
      ['topic', 'TopicStats', t.stats()],
      ['sub', 'SubStats', pull.stats()],
      ['pool', 'PoolStats', mq.poolStats()],
    ]) {
      const want = [...schema.stats[scope].map((f) => f.name), ...schema.statsText[scope]]
      assert.deepEqual(Object.keys(obj), want, `${iface} objects differ from the engine's table`)
      assert.deepEqual(interfaceFields(iface), want, stale(`index.d.ts ${iface}`))
    }
    assert.deepEqual(Object.keys(t.subscriptionStats().g), Object.keys(pull.stats()))
    assert.equal(typeof mq.poolStats().utilisation, 'number')
    assert.equal(pull.stats().termed, 0)
  } finally {
    await mq.close(100)
  }
})

test('options and their types have the engine names', { timeout: 30000 }, async () => {
  const names = (scope) => schema.options[scope].map((o) => o.name)
  assert.deepEqual(interfaceFields('BrokerOptions'), names('broker'), stale('index.d.ts BrokerOptions'))
  assert.deepEqual(interfaceFields('TopicOptions'), names('topic'), stale('index.d.ts TopicOptions'))
  assert.deepEqual(interfaceFields('TopicOptionsResolved'), names('topic'), stale('index.d.ts TopicOptionsResolved'))
  assert.deepEqual(interfaceFields('SubscribeOptions'), names('sub'), stale('index.d.ts SubscribeOptions'))
  const mq = new Broker()
  try {
    const o = mq.createTopic('o').options()
    assert.deepEqual(Object.keys(o), names('topic'))
    for (const opt of schema.options.topic) {
      if (opt.default !== null) assert.equal(o[opt.name], opt.default, `default of ${opt.name}`)
    }
  } finally {
    await mq.close(100)
  }
})

test('spellings and error codes are the engine ones', { timeout: 30000 }, async () => {
  assert.deepEqual(unionMembers('ErrorCode'), schema.errorCodes, stale('index.d.ts ErrorCode'))
  assert.deepEqual(unionMembers('Overflow'), schema.overflow, stale('index.d.ts Overflow'))
  assert.deepEqual(unionMembers('StartAt'), schema.start, stale('index.d.ts StartAt'))
  const mq = new Broker()
  try {
    for (const overflow of schema.overflow) {
      assert.equal(mq.createTopic(`o-${overflow}`, { overflow }).options().overflow, overflow)
    }
    const t = mq.createTopic('starts')
    for (const start of schema.start) t.pull(`p-${start}`, { start })
  } finally {
    await mq.close(100)
  }
})

test('the addon sets the code of its errors itself', { timeout: 30000 }, async () => {
  const native = require(path.join(pkg, 'ringmq.node'))
  assert.throws(
    () => new native.NativeBroker({ workersMax: 0 }),
    (e) => e instanceof Error && !(e instanceof RingMQError) && e.code === 'INVALID_ARGUMENT' && /workers_max 0/.test(e.message),
  )
  const b = new native.NativeBroker({})
  const t = b.createTopic('full', { capacity: 2, overflow: 'reject' })
  const open = b.createTopic('open', {})
  try {
    assert.throws(() => b.topic('nope'), (e) => e.code === 'NOT_FOUND' && /no topic "nope"/.test(e.message))
    t.subscribePull('hold', {}) // holds the ring's slots: it can fill
    const f = t.bind()
    f.publish(Buffer.from('a'), 0)
    f.publish(Buffer.from('b'), 0)
    assert.throws(() => f.publish(Buffer.from('c'), 0), (e) => e.code === 'FULL')
  } finally {
    await b.close(0)
  }
  assert.throws(() => open.publishSplit(Buffer.from('x'), 0, 0), (e) => e.code === 'CLOSED')
  // A promise of the addon rejects with the code set too.
  await assert.rejects(open.publishWait([Buffer.from('x')], 0, 0, 10), (e) => e.code === 'CLOSED')
})
