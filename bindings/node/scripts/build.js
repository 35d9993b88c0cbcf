'use strict'
// Builds the native addon from source with cargo and copies it next to
// index.js as ringmq.node. Run by `npm install` (the package's "install"
// script); needs only node and a Rust toolchain, no npm build tools.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

// A prebuilt addon for this machine (the optional dependency
// `@ringmq/<platform>`, napi-rs layout) makes the source build unnecessary;
// RINGMQ_NODE_BUILD_FROM_SOURCE=1 builds anyway.
const { prebuiltName } = require('./platform.js')
if (!process.env.RINGMQ_NODE_BUILD_FROM_SOURCE) {
  try {
    const found = require.resolve(prebuiltName(), { paths: [root] })
    console.log(`ringmq: using the prebuilt addon ${found}`)
    process.exit(0)
  } catch {
    // None for this machine: build from source.
  }
}
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
const profile = process.env.RINGMQ_NODE_PROFILE === 'debug' ? 'debug' : 'release'
const args = ['build', '--manifest-path', path.join(root, 'Cargo.toml'), '--lib']
if (profile === 'release') args.push('--release')

const cargo = process.env.CARGO || 'cargo'
const r = spawnSync(cargo, args, {
  stdio: 'inherit',
  env: { ...process.env, CARGO_TARGET_DIR: targetDir },
})
if (r.error) {
  console.error(`ringmq: cannot run ${cargo} (${r.error.message}); install a Rust toolchain (rustup) and retry`)
  process.exit(1)
}
if (r.status !== 0) process.exit(r.status || 1)

const names = {
  linux: 'libringmq_node.so',
  darwin: 'libringmq_node.dylib',
  win32: 'ringmq_node.dll',
}
const lib = names[process.platform] || 'libringmq_node.so'
const from = path.join(targetDir, profile, lib)
const to = path.join(root, 'ringmq.node')
// Copy to a temporary name and rename, so a running process that has the
// old addon loaded keeps a valid file.
const tmp = `${to}.${process.pid}.tmp`
fs.copyFileSync(from, tmp)
fs.renameSync(tmp, to)
console.log(`ringmq: built ${to}`)
