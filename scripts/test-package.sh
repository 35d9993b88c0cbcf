#!/usr/bin/env bash
# Builds the installable artifacts (scripts/package.sh) and installs each one
# as a user without a Rust toolchain would, cargo and rustc off PATH: the
# wheel into a fresh venv, the npm tarballs into a fresh npm project, and the
# C tarball into a prefix that a program built with pkg-config and one built
# with CMake use. Each runs a smoke test that publishes, consumes and acks.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

need_apt() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -ne 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
need_apt cmake pkg-config python3-venv

bash scripts/package.sh all

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# PATH without any directory that has cargo or rustc in it.
no_rust_path=""
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  if [ -n "$d" ] && [ ! -x "$d/cargo" ] && [ ! -x "$d/rustc" ]; then
    no_rust_path=${no_rust_path:+$no_rust_path:}$d
  fi
done
if PATH=$no_rust_path command -v cargo >/dev/null || PATH=$no_rust_path command -v rustc >/dev/null; then
  echo "test-package.sh: could not take cargo and rustc off PATH" >&2
  exit 1
fi
without_rust() { env -u CARGO -u RUSTC -u CARGO_HOME -u RUSTUP_HOME PATH="$no_rust_path" "$@"; }

echo "== Python: the wheel in a fresh venv"
python3 -m venv "$tmp/venv"
without_rust "$tmp/venv/bin/pip" install -q --no-index "$root"/dist/ringmq-"$version"-*.whl
cat >"$tmp/smoke.py" <<'EOF'
import ringmq

with ringmq.Broker() as mq:
    t = mq.create_topic("smoke", capacity=64)
    sub = t.pull("g")
    for i in range(10):
        t.publish(b"m%d" % i, key=i)
    got = []
    while len(got) < 10:
        batch = sub.poll_batch(10, timeout=2.0)
        assert batch, "nothing delivered"
        got += [bytes(m.data) for m in batch]
        sub.ack_all(batch)
    assert got == [b"m%d" % i for i in range(10)], got
    assert t.stats()["published"] == 10
print("python smoke: ok", ringmq.__file__)
EOF
(cd "$tmp" && without_rust "$tmp/venv/bin/python" smoke.py)

echo "== Node: the tarballs in a fresh npm project"
mkdir -p "$tmp/npm"
platform=$(node -p "require('$root/bindings/node/scripts/platform.js').prebuiltName().slice('@ringmq/'.length)")
(
  cd "$tmp/npm"
  npm init -y >/dev/null
  without_rust npm install --no-audit --no-fund --loglevel=error \
    "$root/dist/ringmq-$platform-$version.tgz" "$root/dist/ringmq-$version.tgz"
  [ ! -e node_modules/ringmq/ringmq.node ] || {
    echo "test-package.sh: the addon was built from source, not taken prebuilt" >&2
    exit 1
  }
  cat >smoke.js <<'EOF'
const { Broker } = require('ringmq')

async function main() {
  const mq = new Broker()
  const t = mq.createTopic('smoke', { capacity: 64 })
  const sub = t.pull('g')
  for (let i = 0; i < 10; i++) t.publish(Buffer.from(`m${i}`), { key: i })
  const got = []
  while (got.length < 10) {
    const m = await sub.poll(2000)
    if (!m) throw new Error('nothing delivered')
    got.push(m.data.toString())
    m.ack()
  }
  const want = [...Array(10).keys()].map((i) => `m${i}`)
  if (got.join() !== want.join()) throw new Error(`got ${got}`)
  await mq.close(5000)
  console.log('node smoke: ok', require.resolve('ringmq'))
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
EOF
  without_rust node smoke.js
)

echo "== C: the tarball, with pkg-config and with CMake"
tar -xzf "$root"/dist/ringmq-"$version"-linux-*-gnu.tar.gz -C "$tmp"
prefix=$(ls -d "$tmp"/ringmq-"$version"-linux-*)
cp examples/c/quickstart.c "$tmp/app.c"
(
  cd "$tmp"
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  # shellcheck disable=SC2046
  without_rust cc -Wall -Wextra -Werror app.c -o app-pc $(pkg-config --cflags --libs ringmq) \
    -Wl,-rpath,"$(pkg-config --variable=libdir ringmq)"
  needed=$(objdump -p app-pc | awk '$1 == "NEEDED" && $2 ~ /ringmq/ { print $2 }')
  [ "$needed" = "libringmq.so.${version%%.*}" ] || {
    echo "test-package.sh: app-pc needs '$needed', expected the soname libringmq.so.${version%%.*}" >&2
    exit 1
  }
  without_rust ./app-pc >/dev/null
  echo "C with pkg-config: ok (needs $needed)"
  mkdir -p cm
  cat >cm/CMakeLists.txt <<EOF
cmake_minimum_required(VERSION 3.16)
project(ringmq_smoke C)
find_package(ringmq ${version%.*} REQUIRED)
add_executable(app ../app.c)
target_compile_options(app PRIVATE -Wall -Wextra -Werror)
target_link_libraries(app PRIVATE ringmq::ringmq)
add_executable(app_static ../app.c)
target_link_libraries(app_static PRIVATE ringmq::ringmq_static)
EOF
  without_rust cmake -S cm -B cm/build -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  without_rust cmake --build cm/build >/dev/null
  without_rust ./cm/build/app >/dev/null
  without_rust ./cm/build/app_static >/dev/null
  echo "C with CMake (shared and static): ok"
)
ls -l dist/
echo "packages: ok"
