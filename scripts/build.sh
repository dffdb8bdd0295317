#!/bin/sh
# Configures and builds authguard out of tree in ./build (nothing generated
# lands beside the sources but autotools' own files, which .gitignore lists).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || autoreconf -fi >/dev/null
mkdir -p build
cd build
[ -f Makefile ] && [ Makefile -nt ../configure ] || ../configure --enable-werror "$@" >/dev/null
make -j"$(nproc)" >/dev/null
echo "built: $top/build"
