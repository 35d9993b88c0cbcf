'use strict'
// Durable topics: a broker with a dataDir keeps the messages of its durable
// topics (and the positions of their groups) in a log, so they survive
// close and a new Broker on the same directory; the directory is locked
// while a broker has it; bad options are refused and change nothing.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Broker, RingMQError } = require('ringmq')

const code = (want, pattern) => (e) => {
  assert.ok(e instanceof RingMQError, `a RingMQError, got ${e}`)
  assert.equal(e.code, want, `code of ${e.message}`)
  if (pattern) assert.match(e.message, pattern)
  return true
}
const bad = (pattern) => code('INVALID_ARGUMENT', pattern)

/** Runs `fn(dir)` with a fresh directory, removed afterwards. */
async function withDir(fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringmq-durable-'))
  try {
    await fn(dir)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * publish, again after a pause while the ring is full: a slot is free
 * again once the topic's journal has appended its message, and under
 * 'interval' and 'never' a publish does not wait for that (nor does a
 * synchronous publish ever wait).
 */
async function publish(t, data, opts) {
  for (let tries = 0; ; tries++) {
    try {
      return t.publish(data, opts)
    } catch (e) {
      if (e.code !== 'TIMEOUT' || tries >= 1000) throw e
      await sleep(2)
    }
  }
}

const TOPIC = { capacity: 16, slotSize: 64, durable: true, fsync: 'batch', fsyncIntervalMs: 10, segmentBytes: 1 << 16 }

test('messages of a durable topic survive close and a new Broker on the same dataDir', { timeout: 60000 }, async () => {
  await withDir(async (dataDir) => {
    for (const fsync of ['always', 'batch', 'interval', 'never']) {
      const name = `t-${fsync}`
      const opts = { ...TOPIC, fsync }
      let mq = new Broker({ workersMax: 2, dataDir })
      const ids = []
      try {
        const t = mq.createTopic(name, opts)
        assert.equal(t.options().durable, true)
        assert.equal(t.options().fsync, fsync)
        assert.equal(t.options().fsyncIntervalMs, 10)
        assert.equal(t.options().segmentBytes, 1 << 16)
        // More than the ring holds: the older ones are read from the log.
        for (let i = 0; i < 40; i++) {
          const key = i === 39 ? 2n ** 64n - 1n : i % 3
          ids.push(await publish(t, Buffer.from(`m${i}`), { key, headers: { n: `h${i}` } }))
        }
      } finally {
        await mq.close(1000)
      }
      assert.deepEqual(ids, Array.from({ length: 40 }, (_, i) => i))

      mq = new Broker({ workersMax: 2, dataDir })
      try {
        // The options it was created with give the recovered topic.
        const t = mq.createTopic(name, opts)
        assert.ok(mq.topicNames().includes(`${name}.dlq`))
        const reader = t.pull('reader', { start: 'earliest' })
        for (let i = 0; i < 40; i++) {
          const m = await reader.poll(5000)
          assert.ok(m !== null, `recovered message ${i} (${fsync})`)
          assert.equal(m.id, i)
          assert.equal(m.key, i === 39 ? 2n ** 64n - 1n : i % 3)
          assert.equal(m.data.toString(), `m${i}`)
          assert.equal(m.headers.n.toString(), `h${i}`)
          assert.equal(m.attempt, 1)
          m.ack()
        }
        // Ids go on after the log's.
        assert.equal(t.publish(Buffer.from('next')), 40)
        assert.equal((await reader.poll(5000)).data.toString(), 'next')
        // Other options than it was created with: refused, the topic stays.
        assert.throws(() => mq.createTopic(name, { ...opts, capacity: 32 }), code('EXISTS'))
        assert.equal(mq.topic(name).options().capacity, 16)
      } finally {
        await mq.close(1000)
      }
    }
  })
})

test('a group resumes where it acked: acked not redelivered, unacked redelivered with attempt 2', { timeout: 60000 }, async () => {
  await withDir(async (dataDir) => {
    const opts = { ...TOPIC, capacity: 64, ackTimeoutMs: 30000 }
    let mq = new Broker({ workersMax: 2, dataDir })
    const held = []
    try {
      const t = mq.createTopic('jobs', opts)
      const pull = t.pull('workers')
      for (let i = 0; i < 30; i++) await publish(t, Buffer.from(`${i}`))
      for (let i = 0; i < 20; i++) {
        const m = await pull.poll(5000)
        assert.equal(m.id, i)
        if (i % 7 === 3) held.push(m.id) // taken, never settled
        else m.ack()
      }
      // A nacked one waits for its retry (a minute away) with its attempt
      // and its due time, across the restart.
      const nacked = await pull.poll(5000)
      assert.equal(nacked.id, 20)
      nacked.nack(60000)
    } finally {
      await mq.close(0)
    }

    mq = new Broker({ workersMax: 2, dataDir })
    try {
      const t = mq.topic('jobs')
      assert.equal(t.options().durable, true)
      const pull = t.pull('workers')
      const got = []
      for (let m = await pull.poll(500); m !== null; m = await pull.poll(500)) {
        got.push([m.id, m.attempt, m.data.toString()])
        m.ack()
      }
      got.sort((a, b) => a[0] - b[0])
      const want = [
        ...held.map((id) => [id, 2, `${id}`]),
        ...Array.from({ length: 9 }, (_, i) => [21 + i, 1, `${21 + i}`]),
      ]
      assert.deepEqual(got, want)
      // Message 20 is still waiting for its retry.
      assert.equal(pull.stats().waitingRetry, 1)
    } finally {
      await mq.close(1000)
    }
  })
})

test('a second Broker on the same dataDir throws EXISTS until the first is closed', { timeout: 30000 }, async () => {
  await withDir(async (dataDir) => {
    const mq = new Broker({ dataDir })
    try {
      assert.throws(() => new Broker({ dataDir }), code('EXISTS', /in use/))
    } finally {
      await mq.close(0)
    }
    const again = new Broker({ dataDir, repair: true })
    await again.close(0)
  })
})

test('bad durable options throw INVALID_ARGUMENT and change nothing', { timeout: 30000 }, async () => {
  const mem = new Broker()
  try {
    assert.throws(() => mem.createTopic('d', { durable: true }), bad(/data_dir/))
    assert.deepEqual(mem.topicNames(), [])
  } finally {
    await mem.close(0)
  }
  for (const dataDir of ['', 42, null, 'a\0b']) {
    assert.throws(() => new Broker({ dataDir }), bad(/dataDir/), `dataDir ${JSON.stringify(dataDir)}`)
  }
  assert.throws(() => new Broker({ repair: 'yes' }), bad(/repair/))
  await withDir(async (dataDir) => {
    const mq = new Broker({ dataDir })
    try {
      for (const [opts, pattern] of [
        [{ fsync: 'sometimes' }, /fsync "sometimes" is not one of "always", "batch", "interval", "never"/],
        [{ fsync: 1 }, /fsync/],
        [{ durable: 'yes' }, /durable/],
        [{ fsyncIntervalMs: -1 }, /fsyncIntervalMs/],
        [{ fsyncIntervalMs: 0, fsync: 'interval' }, /fsync_interval/],
        [{ fsyncIntervalMs: 1e300 }, /fsync_interval .* is over the limit/],
        [{ segmentBytes: 100 }, /segmentBytes/],
        [{ segmentBytes: 4096, maxBytes: 4096 }, /max_bytes/],
        [{ maxBytes: -1 }, /maxBytes/],
        [{ segmentBytes: 2 ** 41 }, /segmentBytes/],
        [{ segmentBytes: 4096.5 }, /segmentBytes/],
      ]) {
        assert.throws(() => mq.createTopic('d', { ...TOPIC, ...opts }), bad(pattern), JSON.stringify(opts))
      }
      assert.deepEqual(mq.topicNames(), [])
      const topics = path.join(dataDir, 'topics')
      assert.deepEqual(fs.existsSync(topics) ? fs.readdirSync(topics) : [], [])
      // The good options still make the topic.
      mq.createTopic('d', TOPIC)
      assert.deepEqual(mq.topicNames().sort(), ['d', 'd.dlq'])
    } finally {
      await mq.close(0)
    }
  })
})
