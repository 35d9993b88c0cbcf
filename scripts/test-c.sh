#!/usr/bin/env bash
# Builds the C API (ringmq-ffi) and runs every C-side check: clippy and
# unit tests of the FFI crate; the generated stats structs against the
# core's tables; the committed header against a fresh cbindgen
# run; the header's version macros against Cargo.toml; the library's
# exported functions against the header's declarations; the ABI against the
# committed list include/ringmq.abi and the naming rule
# (tests/c/check_abi.py); that deprecated names warn and the stable ones do
# not; no heap allocation per message (tests/c/test_alloc.c); the C tests
# (tests/c/test_ringmq.c, tests/c/test_events.c for the readiness
# descriptor and wakes, and tests/c/test_abi.c for struct_size, the
# version macros and the old names) plain, under
# AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer included),
# under valgrind and against the shared library; the header compiled as
# C++; installing into a temporary prefix and building with pkg-config
# (shared and static); the IoT-gateway example; a short run of the
# throughput program (the full measurement is `make -C examples/c bench`);
# a bounded slice of the C API fuzzer under ASan+UBSan and a 10 s soak (the
# long campaign is scripts/fuzz-c.sh --minutes M, see docs/C.md).
# Usage (from anywhere): scripts/test-c.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

missing=()
command -v cc >/dev/null || missing+=(gcc)
command -v c++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v nm >/dev/null || missing+=(binutils)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step "clippy (ringmq-ffi)"
cargo clippy -p ringmq-ffi --all-targets --no-deps -- -D warnings

step "Rust unit tests (ringmq-ffi)"
cargo test -p ringmq-ffi

step "generated C stats structs match the core's tables (gen-surface --check)"
cargo run -q -p gen-surface -- --check

step "header is up to date"
scripts/gen-header.sh "$tmp/ringmq.h"
if ! cmp -s include/ringmq.h "$tmp/ringmq.h"; then
    diff -u include/ringmq.h "$tmp/ringmq.h" | head -60 || true
    echo "include/ringmq.h is stale: run scripts/gen-header.sh and commit it" >&2
    exit 1
fi

step "header version macros match Cargo.toml"
pkgid=$(cargo pkgid -p ringmq-ffi)
version=${pkgid##*[#@]}
macro() { sed -n "s/^#define RINGMQ_VERSION_$1 \([0-9]*\)$/\1/p" include/ringmq.h; }
header_version="$(macro MAJOR).$(macro MINOR).$(macro PATCH)"
header_string=$(sed -n 's/^#define RINGMQ_VERSION_STRING "\(.*\)"$/\1/p' include/ringmq.h)
if [ "$header_version" != "${version%%[-+]*}" ] || [ "$header_string" != "$version" ]; then
    echo "include/ringmq.h says $header_version ($header_string), Cargo.toml says $version:" \
        "run scripts/gen-header.sh" >&2
    exit 1
fi
echo "$version"

step "build libringmq (release)"
cargo build --release -p ringmq-ffi
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
lib="$target_dir/release"
native_libs="-lpthread -ldl -lm"
# RINGMQ_WARN_DEPRECATED: the tests use no deprecated name (but test_abi.c,
# which calls them on purpose).
cflags=(-std=c11 -Wall -Wextra -Werror -pthread -g -Iinclude -DRINGMQ_WARN_DEPRECATED)

step "the shared library exports exactly the functions the header declares"
grep -o '\bringmq_[a-z_]*(' include/ringmq.h | tr -d '(' | sort -u >"$tmp/declared"
nm -D --defined-only "$lib/libringmq.so" | awk '$2 == "T" && $3 ~ /^ringmq_/ {print $3}' | sort -u >"$tmp/exported"
if ! diff -u "$tmp/declared" "$tmp/exported"; then
    echo "header declarations and library exports differ" >&2
    exit 1
fi
echo "$(wc -l <"$tmp/declared") functions"

step "ABI: include/ringmq.abi (symbols, signatures, layouts) and the naming rule (tests/c/check_abi.py)"
python3 tests/c/check_abi.py --lib "$lib/libringmq.so"

step "deprecated names warn under RINGMQ_WARN_DEPRECATED, stable aliases and new names do not"
cat >"$tmp/deprecated.c" <<'C'
#include "ringmq.h"
int main(void) { return (int)ringmq_poll_batch(0, 1, 0, 0, 0); }
C
if cc -std=c11 -Wall -Werror -Iinclude -DRINGMQ_WARN_DEPRECATED -fsyntax-only "$tmp/deprecated.c" \
    2>"$tmp/deprecated.log"; then
    echo "ringmq_poll_batch compiled without a deprecation warning" >&2
    exit 1
fi
grep -q "renamed ringmq_sub_poll_batch" "$tmp/deprecated.log" ||
    { cat "$tmp/deprecated.log"; echo "the warning does not name the new function" >&2; exit 1; }
c++ -std=c++11 -Wall -Werror -Iinclude -DRINGMQ_WARN_DEPRECATED -fsyntax-only -x c++ "$tmp/deprecated.c" \
    2>/dev/null && { echo "no deprecation warning in C++" >&2; exit 1; }
# Without it, code built with -Werror keeps building.
cc -std=c11 -Wall -Werror -Iinclude -fsyntax-only "$tmp/deprecated.c"
cat >"$tmp/stable.c" <<'C'
#include "ringmq.h"
int main(void) {
    ringmq_message m;
    ringmq_sub_options o;
    ringmq_sub_options_default(&o);
    return (int)ringmq_poll(0, 0, &m) + (int)ringmq_sub_poll(0, 0, &m) + (int)ringmq_ack(0, 0) +
           (int)o.struct_size;
}
C
cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -DRINGMQ_WARN_DEPRECATED -fsyntax-only "$tmp/stable.c"
echo "ok"

step "no allocation per message through the C API (allocation functions wrapped)"
cc "${cflags[@]}" -O1 tests/c/test_alloc.c "$lib/libringmq.a" $native_libs \
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,--wrap=aligned_alloc \
    -o "$tmp/test_alloc"
"$tmp/test_alloc"

step "C tests, plain (static library)"
cc "${cflags[@]}" -O1 tests/c/test_ringmq.c "$lib/libringmq.a" $native_libs -o "$tmp/test_plain"
"$tmp/test_plain"
cc "${cflags[@]}" -O1 tests/c/test_abi.c "$lib/libringmq.a" $native_libs -o "$tmp/test_abi_plain"
"$tmp/test_abi_plain"
cc "${cflags[@]}" -O1 tests/c/test_events.c "$lib/libringmq.a" $native_libs -o "$tmp/test_events_plain"
"$tmp/test_events_plain"

step "C tests, AddressSanitizer + UndefinedBehaviorSanitizer (leaks checked at exit)"
cc "${cflags[@]}" -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    tests/c/test_ringmq.c "$lib/libringmq.a" $native_libs -o "$tmp/test_asan"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$tmp/test_asan"
cc "${cflags[@]}" -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    tests/c/test_abi.c "$lib/libringmq.a" $native_libs -o "$tmp/test_abi_asan"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$tmp/test_abi_asan"
cc "${cflags[@]}" -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    tests/c/test_events.c "$lib/libringmq.a" $native_libs -o "$tmp/test_events_asan"
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$tmp/test_events_asan"

step "C tests, plain build under valgrind memcheck (uninitialised reads, definite leaks)"
valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    --log-file="$tmp/valgrind.log" "$tmp/test_plain" >"$tmp/valgrind.out" 2>&1 ||
    { cat "$tmp/valgrind.out" "$tmp/valgrind.log"; exit 1; }
tail -1 "$tmp/valgrind.out"
valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    --log-file="$tmp/valgrind_abi.log" "$tmp/test_abi_plain" >"$tmp/valgrind_abi.out" 2>&1 ||
    { cat "$tmp/valgrind_abi.out" "$tmp/valgrind_abi.log"; exit 1; }
tail -1 "$tmp/valgrind_abi.out"

step "C tests against the shared library"
cc "${cflags[@]}" tests/c/test_ringmq.c -L"$lib" -lringmq -o "$tmp/test_shared"
LD_LIBRARY_PATH="$lib" "$tmp/test_shared" >"$tmp/shared.log" 2>&1 || { cat "$tmp/shared.log"; exit 1; }
tail -1 "$tmp/shared.log"
cc "${cflags[@]}" tests/c/test_abi.c -L"$lib" -lringmq -o "$tmp/test_abi_shared"
LD_LIBRARY_PATH="$lib" "$tmp/test_abi_shared" >"$tmp/shared_abi.log" 2>&1 || { cat "$tmp/shared_abi.log"; exit 1; }
tail -1 "$tmp/shared_abi.log"

step "the header compiles on its own as C99, and as C++ (-Wall -Wextra -Werror -pedantic)"
cc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c include/ringmq.h
c++ -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -DRINGMQ_WARN_DEPRECATED tests/c/header_check.cpp \
    "$lib/libringmq.a" $native_libs -pthread -o "$tmp/header_check"
"$tmp/header_check"

step "install into a temporary prefix; build with pkg-config"
scripts/install.sh "$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
pkg-config --modversion ringmq
# shellcheck disable=SC2046
cc -Wall -Werror examples/c/quickstart.c $(pkg-config --cflags --libs ringmq) -o "$tmp/quickstart"
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/quickstart"
# shellcheck disable=SC2046
cc -Wall -Werror examples/c/quickstart.c $(pkg-config --cflags ringmq) \
    "$(pkg-config --variable=libdir ringmq)/libringmq.a" $(pkg-config --libs-only-l --static ringmq | sed 's/-lringmq//') \
    -o "$tmp/quickstart_static"
"$tmp/quickstart_static"

step "IoT-gateway example (make -C examples/c run)"
make -C examples/c run

step "throughput program, small run (it checks every message arrives once, in order)"
make -s -C examples/c throughput
examples/c/throughput 100000 1

step "fuzzer, bounded slice: 50 seeds under ASan+UBSan (scripts/fuzz-c.sh --ci)"
scripts/fuzz-c.sh --ci

step "fuzzer, bounded slice without sanitizers (fork() mid-run included): 30 seeds"
scripts/fuzz-c.sh --ci --plain --start 1001 --seeds 30 | tail -1

step "soak, short run (scripts/fuzz-c.sh --soak 10): RSS and threads flat, exact accounting"
scripts/fuzz-c.sh --soak 10 | tail -2

echo
echo "C API: all checks passed"
