#!/usr/bin/env bash
# Builds the artifacts a user installs without a Rust toolchain, into dist/:
#
#   scripts/package.sh [all|python|node|c]     (default: all)
#
# - Python: an abi3 wheel (CPython 3.9+, manylinux tag chosen by maturin from
#   the glibc symbols the extension uses, checked with `auditwheel show`)
#   and an sdist (which builds from source with cargo, the fallback).
# - Node: the package tarball `ringmq-VERSION.tgz` and the prebuilt addon as
#   its own package `@ringmq/PLATFORM` (`ringmq-PLATFORM-VERSION.tgz`), the
#   per-platform layout napi-rs packages use: `ringmq` lists it as an
#   optional dependency, npm installs the one that matches the machine, and
#   the install script builds from source with cargo only when none did.
# - C: `ringmq-VERSION-PLATFORM.tar.gz` holding lib/libringmq.so.VERSION
#   (soname libringmq.so.MAJOR) with the libringmq.so.MAJOR and
#   libringmq.so links, lib/libringmq.a, include/ringmq.h, a relocatable
#   lib/pkgconfig/ringmq.pc and a CMake package (find_package(ringmq),
#   target ringmq::ringmq); libraries stripped, the shared library's debug
#   info in ringmq-VERSION-PLATFORM-debug.tar.gz (lib/debug/*.debug, found
#   by its .gnu_debuglink when extracted over the same prefix).
#
# Needs cargo, Python 3 with pip, Node.js with npm, binutils and patchelf
# (installed with apt-get when missing). scripts/test-package.sh installs
# each artifact with cargo and rustc off PATH and runs a smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
what=${1:-all}
case "$what" in all | python | node | c) ;; *)
  echo "usage: scripts/package.sh [all|python|node|c]" >&2
  exit 2
  ;;
esac

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
need_apt binutils patchelf

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
major=${version%%.*}
arch=$(uname -m)
case "$arch" in x86_64) node_cpu=x64 ;; aarch64) node_cpu=arm64 ;; *) node_cpu=$arch ;; esac
platform=linux-$node_cpu-gnu
dist=$root/dist
mkdir -p "$dist"
target_dir=${CARGO_TARGET_DIR:-$root/target}

# Splits `file`'s debug info into `debug_dir`/NAME.debug and strips it.
split_debug() {
  local file=$1 debug_dir=$2
  mkdir -p "$debug_dir"
  local dbg
  dbg="$debug_dir/$(basename "$file").debug"
  objcopy --only-keep-debug "$file" "$dbg"
  strip --strip-debug --strip-unneeded "$file"
  objcopy --add-gnu-debuglink="$dbg" "$file"
}

package_python() {
  echo "== Python wheel and sdist"
  local venv=$target_dir/package-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'maturin>=1.5,<2' 'auditwheel>=6'
  rm -f "$dist"/ringmq-*.whl "$dist/ringmq-$version.tar.gz"
  (cd bindings/python && "$venv/bin/maturin" build --release --strip --out "$dist" -q)
  (cd bindings/python && "$venv/bin/maturin" sdist --out "$dist")
  local wheel
  wheel=$(ls "$dist"/ringmq-"$version"-*.whl)
  "$venv/bin/auditwheel" show "$wheel" | tee "$dist/auditwheel.txt"
  # (auditwheel wraps its lines.)
  if ! tr -s ' \n' '  ' <"$dist/auditwheel.txt" |
    grep -q 'is consistent with the following platform tag: "manylinux'; then
    echo "package.sh: $wheel is not manylinux-compliant (auditwheel show above)" >&2
    exit 1
  fi
  case "$wheel" in *-cp39-abi3-*) ;; *)
    echo "package.sh: $wheel is not an abi3 wheel for CPython 3.9+" >&2
    exit 1
    ;;
  esac
}

package_node() {
  echo "== Node package and prebuilt addon ($platform)"
  local pkg=$target_dir/package-node
  rm -rf "$pkg"
  mkdir -p "$pkg/platform"
  (cd bindings/node && CARGO_TARGET_DIR=$target_dir/node cargo build --release --lib -q)
  local addon=ringmq.$platform.node
  cp "$target_dir/node/release/libringmq_node.so" "$pkg/platform/$addon"
  split_debug "$pkg/platform/$addon" "$dist/node-debug"
  cat >"$pkg/platform/package.json" <<EOF
{
  "name": "@ringmq/$platform",
  "version": "$version",
  "description": "RingMQ's prebuilt native addon for $platform",
  "license": "MIT OR Apache-2.0",
  "main": "$addon",
  "files": ["$addon"],
  "os": ["linux"],
  "cpu": ["$node_cpu"],
  "libc": ["glibc"],
  "engines": { "node": ">=18" }
}
EOF
  (cd "$pkg/platform" && npm pack --silent --pack-destination "$dist" >/dev/null)
  # The main package: the package directory as it is, with the platform
  # package as an optional dependency (npm installs only the one whose os,
  # cpu and libc match).
  mkdir -p "$pkg/main"
  (cd bindings/node && npm pack --silent --pack-destination "$pkg/main" >/dev/null)
  tar -xzf "$pkg/main/ringmq-$version.tgz" -C "$pkg/main"
  node -e '
    const fs = require("fs"), f = process.argv[1];
    const p = JSON.parse(fs.readFileSync(f, "utf8"));
    p.optionalDependencies = { [process.argv[2]]: process.argv[3] };
    fs.writeFileSync(f, JSON.stringify(p, null, 2) + "\n");
  ' "$pkg/main/package/package.json" "@ringmq/$platform" "$version"
  (cd "$pkg/main/package" && npm pack --silent --ignore-scripts --pack-destination "$dist" >/dev/null)
  ls -l "$dist/ringmq-$version.tgz" "$dist/ringmq-$platform-$version.tgz"
}

package_c() {
  echo "== C library tarball"
  cargo build --release -p ringmq-ffi -q
  local name=ringmq-$version-$platform
  local out=$target_dir/package-c/$name
  rm -rf "$target_dir/package-c"
  mkdir -p "$out/lib/pkgconfig" "$out/lib/cmake/ringmq" "$out/include"
  local so=libringmq.so.$version
  cp "$target_dir/release/libringmq.so" "$out/lib/$so"
  patchelf --set-soname "libringmq.so.$major" "$out/lib/$so"
  ln -s "$so" "$out/lib/libringmq.so.$major"
  ln -s "libringmq.so.$major" "$out/lib/libringmq.so"
  cp "$target_dir/release/libringmq.a" "$out/lib/libringmq.a"
  # The debug info goes in a tarball of its own, extracted over the same
  # prefix when wanted (gdb finds lib/debug/*.debug by the debuglink).
  split_debug "$out/lib/$so" "$target_dir/package-c/$name-debug/lib/debug"
  strip --strip-debug "$out/lib/libringmq.a"
  cp include/ringmq.h "$out/include/ringmq.h"
  sed -e 's|^prefix=.*|prefix=${pcfiledir}/../..|' \
    -e 's|@LIBDIR@|${prefix}/lib|' -e 's|@INCLUDEDIR@|${prefix}/include|' \
    -e "s|@VERSION@|$version|" ringmq-ffi/ringmq.pc.in >"$out/lib/pkgconfig/ringmq.pc"
  cat >"$out/lib/cmake/ringmq/ringmqConfig.cmake" <<EOF
# find_package(ringmq) for the C API of RingMQ $version: the imported
# targets ringmq::ringmq (shared) and ringmq::ringmq_static.
get_filename_component(_ringmq_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET ringmq::ringmq)
  add_library(ringmq::ringmq SHARED IMPORTED)
  set_target_properties(ringmq::ringmq PROPERTIES
    IMPORTED_LOCATION "\${_ringmq_prefix}/lib/$so"
    IMPORTED_SONAME "libringmq.so.$major"
    INTERFACE_INCLUDE_DIRECTORIES "\${_ringmq_prefix}/include")
endif()
if(NOT TARGET ringmq::ringmq_static)
  add_library(ringmq::ringmq_static STATIC IMPORTED)
  set_target_properties(ringmq::ringmq_static PROPERTIES
    IMPORTED_LOCATION "\${_ringmq_prefix}/lib/libringmq.a"
    INTERFACE_INCLUDE_DIRECTORIES "\${_ringmq_prefix}/include"
    INTERFACE_LINK_LIBRARIES "pthread;dl;m;rt;util;gcc_s")
endif()
set(ringmq_VERSION $version)
unset(_ringmq_prefix)
EOF
  cat >"$out/lib/cmake/ringmq/ringmqConfigVersion.cmake" <<EOF
# Same major version, and at least the one asked for.
set(PACKAGE_VERSION "$version")
if(PACKAGE_FIND_VERSION_MAJOR STREQUAL "$major" AND
   NOT PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
else()
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
endif()
EOF
  local soname
  soname=$(objdump -p "$out/lib/$so" | awk '$1 == "SONAME" { print $2 }')
  [ "$soname" = "libringmq.so.$major" ] || {
    echo "package.sh: soname is '$soname', expected libringmq.so.$major" >&2
    exit 1
  }
  tar -czf "$dist/$name.tar.gz" -C "$target_dir/package-c" "$name"
  tar -czf "$dist/$name-debug.tar.gz" -C "$target_dir/package-c/$name-debug" lib
  ls -l "$dist/$name.tar.gz" "$dist/$name-debug.tar.gz"
  du -h "$out/lib/$so" "$out/lib/libringmq.a" | sed 's/^/  /'
}

case "$what" in
  python) package_python ;;
  node) package_node ;;
  c) package_c ;;
  all)
    package_c
    package_python
    package_node
    ;;
esac
echo "dist/:"
ls -1 "$dist"
