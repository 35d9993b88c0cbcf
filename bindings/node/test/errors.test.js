'use strict'
// Every entry point answers bad input with an Error carrying a `code` and a
// message naming the bad value, and changes nothing.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Broker, RingMQError } = require('ringmq')

function code(c, pattern) {
  return (e) => {
    assert.ok(e instanceof Error, `an Error, got ${e}`)
    assert.ok(e instanceof RingMQError, `a RingMQError, got ${e && e.name}`)
    assert.equal(e.code, c, `code of ${e.message}`)
    if (pattern) assert.match(e.message, pattern)
    return true
  }
}
const bad = (pattern) => code('INVALID_ARGUMENT', pattern)

test('bad broker options', { timeout: 30000 }, () => {
  assert.throws(() => new Broker(5), bad(/must be an object/))
  assert.throws(() => new Broker([]), bad(/must be an object/))
  assert.throws(() => new Broker({ workers: 2 }), bad(/unknown Broker option "workers"/))
  assert.throws(() => new Broker({ workersMax: 0 }), bad(/workersMax 0/))
  assert.throws(() => new Broker({ workersMax: -1 }), bad(/workersMax -1/))
  assert.throws(() => new Broker({ workersMax: 1.5 }), bad(/workersMax must be an integer/))
  assert.throws(() => new Broker({ workersMax: '2' }), bad(/workersMax must be an integer, got "2"/))
  assert.throws(() => new Broker({ workersMin: 3, workersMax: 2 }), bad(/workers_min 3 is larger than workers_max 2/))
  assert.throws(() => new Broker({ idleTimeoutMs: -5 }), bad(/idleTimeoutMs -5 must not be negative/))
  assert.throws(() => new Broker({ idleTimeoutMs: NaN }), bad(/idleTimeoutMs/))
})

test('bad topic options and names', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    assert.throws(() => mq.createTopic('t', { capacity: 1000 }), bad(/capacity 1000 is not a power of two/))
    assert.throws(() => mq.createTopic('t', { capacity: 0 }), bad(/capacity 0/))
    assert.throws(() => mq.createTopic('t', { capacity: -8 }), bad(/capacity -8/))
    assert.throws(() => mq.createTopic('t', { capacity: 8.5 }), bad(/capacity must be an integer/))
    assert.throws(() => mq.createTopic('t', { slotSize: 0 }), bad(/slotSize 0/))
    assert.throws(() => mq.createTopic('t', { slotSize: null }), bad(/slotSize must be an integer, got null/))
    assert.throws(() => mq.createTopic('t', { overflow: 'drop' }), bad(/overflow "drop" is not one of/))
    assert.throws(() => mq.createTopic('t', { overflow: 1 }), bad(/overflow 1 is not one of/))
    assert.throws(() => mq.createTopic('t', { maxAttempts: 0 }), bad(/maxAttempts 0/))
    assert.throws(() => mq.createTopic('t', { backoffBaseMs: -1 }), bad(/backoffBaseMs -1 must not be negative/))
    assert.throws(
      () => mq.createTopic('t', { backoffBaseMs: 100, backoffMaxMs: 10 }),
      bad(/backoff_max .* is shorter than backoff_base/),
    )
    assert.throws(() => mq.createTopic('t', { ackTimeoutMs: 0 }), bad(/ack_timeout 0/))
    assert.throws(() => mq.createTopic('t', { ackTimeoutMs: Infinity }), bad(/ackTimeoutMs must be finite/))
    assert.throws(() => mq.createTopic('t', { capacty: 8 }), bad(/unknown createTopic option "capacty"/))
    assert.throws(() => mq.createTopic('t', 'big'), bad(/must be an object/))
    assert.throws(() => mq.createTopic(''), bad(/name is empty/))
    assert.throws(() => mq.createTopic(42), bad(/topic name must be a string, got 42/))
    assert.throws(() => mq.createTopic('x'.repeat(256)), bad(/over the limit of 255/))
    assert.throws(() => mq.createTopic('a\nb'), bad(/control character/))
    assert.deepEqual(mq.topicNames(), [], 'nothing was created')
    mq.createTopic('t')
    assert.throws(() => mq.createTopic('t'), code('EXISTS', /"t" already exists/))
    assert.throws(() => mq.createTopic('t.dlq'), code('EXISTS'))
    assert.throws(() => mq.topic('nope'), code('NOT_FOUND', /no topic "nope"/))
    assert.throws(() => mq.topic(null), bad(/topic name must be a string/))
  } finally {
    await mq.close(100)
  }
})

test('bad publishes', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('p', { capacity: 8, slotSize: 16 })
    assert.throws(() => t.publish('text'), bad(/publish data must be a Buffer or Uint8Array, got "text"/))
    assert.throws(() => t.publish(null), bad(/got null/))
    assert.throws(() => t.publish([1, 2]), bad(/got a Array/))
    assert.throws(() => t.publish(new ArrayBuffer(4)), bad(/Buffer or Uint8Array/))
    assert.throws(() => t.publish(Buffer.alloc(17)), code('TOO_LARGE', /17 bytes/))
    assert.throws(() => t.publish(Buffer.from('x'), { key: -1 }), bad(/key must be a non-negative safe integer/))
    assert.throws(() => t.publish(Buffer.from('x'), { key: 1.5 }), bad(/key/))
    assert.throws(() => t.publish(Buffer.from('x'), { key: 2 ** 60 }), bad(/key/))
    assert.throws(() => t.publish(Buffer.from('x'), { key: '7' }), bad(/key .* got "7"/))
    assert.throws(() => t.publish(Buffer.from('x'), { key: 1n << 64n }), bad(/not between 0 and 2\^64-1/))
    assert.throws(() => t.publish(Buffer.from('x'), { key: -1n }), bad(/not between/))
    assert.throws(() => t.publish(Buffer.from('x'), { timeoutMs: 100 }), bad(/use publishAsync/))
    assert.throws(() => t.publish(Buffer.from('x'), { timeoutMs: -1 }), bad(/must not be negative/))
    assert.throws(() => t.publish(Buffer.from('x'), { keys: 1 }), bad(/unknown publish option "keys"/))
    assert.throws(() => t.publish(Buffer.from('x'), 7), bad(/must be an object/))
    assert.throws(() => t.publishMany('abc'), bad(/needs an array of Buffers/))
    assert.throws(() => t.publishMany([Buffer.from('a'), 'b']), bad(/item 1 must be a Buffer or Uint8Array/))
    assert.throws(() => t.publishMany([Buffer.alloc(20)]), code('TOO_LARGE'))
    assert.throws(() => t.publishMany([Buffer.from('a')], { timeoutMs: 5 }), bad(/publishManyAsync/))
    await assert.rejects(t.publishAsync('x'), bad(/publishAsync data/))
    await assert.rejects(t.publishAsync(Buffer.from('x'), { timeoutMs: -2 }), bad(/timeoutMs -2/))
    await assert.rejects(t.publishAsync(Buffer.alloc(99)), code('TOO_LARGE'))
    await assert.rejects(t.publishManyAsync([1]), bad(/item 0/))
    assert.equal(t.stats().published, 0, 'nothing was published')
  } finally {
    await mq.close(100)
  }
})

test('bad subscriptions and settles', { timeout: 30000 }, async () => {
  const mq = new Broker()
  try {
    const t = mq.createTopic('s', { capacity: 8 })
    assert.throws(() => t.pull(''), bad(/name is empty/))
    assert.throws(() => t.pull(3), bad(/group name must be a string/))
    assert.throws(() => t.pull('g', { concurrency: 0 }), bad(/concurrency 0/))
    assert.throws(() => t.pull('g', { start: 'middle' }), bad(/start "middle" is not one of/))
    assert.throws(() => t.pull('g', { lossy: 'yes' }), bad(/lossy must be a boolean/))
    assert.throws(() => t.pull('g', { ordered: true }), bad(/unknown pull option "ordered"/))
    assert.throws(() => t.subscribe('g', 'handler'), bad(/handler must be a function/))
    assert.throws(() => t.subscribe('g', () => {}, { concurrency: -1 }), bad(/concurrency -1/))
    assert.throws(() => t.subscribe('g', () => {}, { orderedByKey: 1 }), bad(/orderedByKey must be a boolean/))
    assert.throws(() => t.pullSubscription('none'), code('NOT_FOUND', /no subscription "none"/))
    const pull = t.pull('g')
    assert.throws(() => t.pull('g'), code('EXISTS'))
    t.subscribe('pushed', () => {})
    assert.throws(() => t.pullSubscription('pushed'), bad(/is a push subscription/))
    await assert.rejects(pull.poll(-1), bad(/poll timeoutMs -1 must not be negative/))
    await assert.rejects(pull.poll('soon'), bad(/poll timeoutMs must be a number/))
    await assert.rejects(pull.pollBatch(0, 10), bad(/pollBatch max 0/))
    await assert.rejects(pull.pollBatch(2.5, 10), bad(/pollBatch max must be an integer/))
    assert.throws(() => pull.tryPollBatch(-3), bad(/pollBatch max -3/))
    assert.throws(() => pull.ackAll('all'), bad(/ackAll needs an array/))
    assert.throws(() => pull.ackAll([{}]), bad(/message of this subscription/))

    t.publish(Buffer.from('x'))
    const m = await pull.poll(1000)
    assert.throws(() => m.nack(-5), bad(/nack delayMs -5/))
    assert.equal(m.settled, false, 'a bad nack settles nothing')
    m.ack()
    assert.throws(() => m.ack(), bad(/already settled/))
    assert.throws(() => m.nack(), bad(/already settled/))
    assert.throws(() => m.term(), bad(/already settled/))
    assert.throws(() => m.inProgress(), bad(/already settled/))
    assert.equal(pull.stats().acked, 1)
  } finally {
    await mq.close(100)
  }
})

test('use after close answers CLOSED', { timeout: 30000 }, async () => {
  const mq = new Broker()
  const t = mq.createTopic('c', { capacity: 8 })
  const pull = t.pull('g')
  t.publish(Buffer.from('x'))
  const m = await pull.poll(1000)
  await mq.close(10)
  assert.equal(mq.closed, true)
  assert.throws(() => t.publish(Buffer.from('y')), code('CLOSED'))
  assert.throws(() => t.publishMany([Buffer.from('y')]), code('CLOSED'))
  await assert.rejects(t.publishAsync(Buffer.from('y')), code('CLOSED'))
  assert.throws(() => mq.createTopic('d'), code('CLOSED', /broker is closed/))
  assert.throws(() => mq.topic('c'), code('CLOSED'))
  await assert.rejects(pull.poll(10), code('CLOSED'))
  assert.throws(() => m.ack(), code('CLOSED'))
  await assert.rejects(mq.close(-1), bad(/close drainMs -1/))
})
