'use strict'
// The name of the prebuilt addon's package for this machine, in the layout
// napi-rs packages use (`@ringmq/linux-x64-gnu`): scripts/package.sh makes
// it, index.js loads it, scripts/build.js skips the source build when it is
// installed.
function prebuiltName() {
  let libc = ''
  if (process.platform === 'linux') {
    const header = process.report && process.report.getReport().header
    libc = header && header.glibcVersionRuntime ? '-gnu' : '-musl'
  }
  return `@ringmq/${process.platform}-${process.arch}${libc}`
}

module.exports = { prebuiltName }
