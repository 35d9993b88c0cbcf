'use strict'
// Helpers of the tests that run code in a child node process (no tests of
// its own).
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')

/**
 * Runs `code` in a child node process, killed after `limitMs`; resolves to
 * { code, signal, out, ms, limitMs }.
 */
function run(code, limitMs) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['-e', code], {
      cwd: __dirname,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out, ms: Date.now() - started, limitMs })
    })
  })
}

/** The child exited by itself, with 0, and printed `marker`. */
function assertExited(r, marker) {
  assert.equal(r.signal, null, `the process had to be killed after ${r.limitMs} ms; output:\n${r.out}`)
  assert.equal(r.code, 0, `exit code ${r.code}; output:\n${r.out}`)
  assert.match(r.out, new RegExp(marker), `output:\n${r.out}`)
}

module.exports = { run, assertExited }
