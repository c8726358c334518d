#!/bin/sh
# install_test.sh CMAKE BUILD_DIR WORK_DIR HELLO_C CC LIBDIR SANITIZE(0|1)
# Installs BUILD_DIR into WORK_DIR/prefix, then compiles HELLO_C against it
# with flags from pkg-config alone, once on the shared library and once on the
# static one, and checks that each program prints "ok".
set -eu

if [ $# -ne 7 ]; then
	echo "usage: $0 CMAKE BUILD_DIR WORK_DIR HELLO_C CC LIBDIR SANITIZE" >&2
	exit 2
fi
cmake=$1 build=$2 work=$3 hello=$4 cc=$5 libdir=$6 sanitize=$7

# An absolute libdir would make cmake --install write outside the scratch
# prefix, into the real system.
case "$libdir" in
/*)
	echo "skipped: CMAKE_INSTALL_LIBDIR is absolute ($libdir)"
	exit 77
	;;
esac

prefix=$work/prefix
rm -rf "$work"
mkdir -p "$work"
"$cmake" --install "$build" --prefix "$prefix"

san=""
if [ "$sanitize" = 1 ]; then
	san="-fsanitize=address,undefined"
fi

PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
cflags=$(pkg-config --cflags softvmm)
libs=$(pkg-config --libs softvmm)
# -l:libsoftvmm.a makes the linker take the archive although the .so sits
# beside it; the private libraries come from --static.
slibs=$(pkg-config --static --libs softvmm | sed 's/-lsoftvmm\( \|$\)/-l:libsoftvmm.a\1/')
echo "cflags: $cflags"
echo "libs: $libs"
echo "static libs: $slibs"

# The flags are lists of words: splitting them is the point.
# shellcheck disable=SC2086
"$cc" -std=c17 -Wall -Wextra -Werror $san -o "$work/hello-shared" "$hello" $cflags $libs
# shellcheck disable=SC2086
"$cc" -std=c17 -Wall -Wextra -Werror $san -o "$work/hello-static" "$hello" $cflags $slibs

fail=0
out=$(LD_LIBRARY_PATH=$prefix/$libdir "$work/hello-shared") || fail=1
if [ "$fail" -ne 0 ] || [ "$out" != ok ]; then
	echo "FAIL: hello-shared printed \"$out\"" >&2
	exit 1
fi

if readelf -d "$work/hello-static" | grep -q 'NEEDED.*libsoftvmm'; then
	echo "FAIL: hello-static depends on the shared libsoftvmm" >&2
	exit 1
fi
out=$(env -u LD_LIBRARY_PATH "$work/hello-static") || fail=1
if [ "$fail" -ne 0 ] || [ "$out" != ok ]; then
	echo "FAIL: hello-static printed \"$out\"" >&2
	exit 1
fi
echo "install_and_link: shared and static ok"
