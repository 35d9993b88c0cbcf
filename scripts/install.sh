#!/usr/bin/env bash
# Builds the C library (release) and installs it into a prefix:
#
#   scripts/install.sh [PREFIX]          (default: $PREFIX, else /usr/local)
#
# Installs PREFIX/include/ringmq.h, PREFIX/lib/libringmq.so,
# PREFIX/lib/libringmq.a and PREFIX/lib/pkgconfig/ringmq.pc, so that
#
#   cc app.c $(pkg-config --cflags --libs ringmq)
#
# works (add PREFIX/lib/pkgconfig to PKG_CONFIG_PATH for a non-standard
# prefix, and PREFIX/lib to LD_LIBRARY_PATH or run ldconfig to run the
# program). LIBDIR overrides PREFIX/lib; DESTDIR is honoured for packaging.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${1:-${PREFIX:-/usr/local}}
case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=$PREFIX/include
DESTDIR=${DESTDIR:-}

cargo build --release -p ringmq-ffi
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
pkgid=$(cargo pkgid -p ringmq-ffi)
version=${pkgid##*[#@]}

install -d "$DESTDIR$INCLUDEDIR" "$DESTDIR$LIBDIR/pkgconfig"
install -m 644 include/ringmq.h "$DESTDIR$INCLUDEDIR/ringmq.h"
install -m 755 "$target_dir/release/libringmq.so" "$DESTDIR$LIBDIR/libringmq.so"
install -m 644 "$target_dir/release/libringmq.a" "$DESTDIR$LIBDIR/libringmq.a"
sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$LIBDIR|" -e "s|@INCLUDEDIR@|$INCLUDEDIR|" \
    -e "s|@VERSION@|$version|" ringmq-ffi/ringmq.pc.in >"$DESTDIR$LIBDIR/pkgconfig/ringmq.pc"
chmod 644 "$DESTDIR$LIBDIR/pkgconfig/ringmq.pc"
echo "installed ringmq $version into $DESTDIR$PREFIX"
