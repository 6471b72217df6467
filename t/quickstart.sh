#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's quick start, on a fresh Debian 12 machine:
#   sh t/quickstart.sh demo   installs what is missing, builds, runs the local demo
#   sh t/quickstart.sh test   installs what is missing, builds, runs the whole test suite
#                             (warnings as errors, then again under ASan/UBSan, then
#                             the daemon under valgrind, a short fuzzing run, the
#                             load test, then make distcheck)
set -eu
mode=${1:-}
case "$mode" in
demo|test) ;;
*) echo "usage: sh t/quickstart.sh demo|test" >&2; exit 100 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)

# Debian packages the build, the tests and the demo need
pkgs="build-essential autoconf automake pkg-config libsystemd-dev libyaml-dev libseccomp-dev musl-tools check python3 python3-yaml python3-jsonschema valgrind"
[ "$mode" = test ] && pkgs="$pkgs clang libclang-rt-14-dev"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "== installing:$missing"
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

jobs=$(nproc 2>/dev/null || echo 2)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi

build() { # build DIR CONFIGURE-ARGS...
	dir=$1; shift
	mkdir -p "$dir"
	(cd "$dir" && { [ -f Makefile ] || "$top/configure" --enable-werror "$@"; } && make -j"$jobs")
}

case "$mode" in
demo)
	build "$top/build"
	make -C "$top/build" demo
	;;
test)
	echo "== build with -Werror and run the test suite"
	build "$top/build"
	make -C "$top/build" -j"$jobs" check || { cat "$top"/build/t/*.log "$top"/build/test-suite.log 2>/dev/null | tail -n 200; exit 1; }
	echo "== the test suite again under AddressSanitizer and UndefinedBehaviorSanitizer,"
	echo "   with the built-in filters built against glibc (the build without musl-tools)"
	build "$top/build-asan" --enable-sanitizers --without-musl
	make -C "$top/build-asan" -j"$jobs" check || { cat "$top"/build-asan/test-suite.log 2>/dev/null | tail -n 200; exit 1; }
	echo "== the daemon under valgrind"
	make -C "$top/build" check-valgrind || { cat "$top"/build/test-suite.log 2>/dev/null | tail -n 200; exit 1; }
	echo "== fuzzing, short: the descriptor parser and the configuration loader"
	make -C "$top/build" fuzz-short
	echo "== load: 200 connections at once through random chains"
	make -C "$top/build" stress
	echo "== make distcheck"
	make -C "$top/build" distcheck
	# one closing line for whoever reads this run: the Check cases of both suites
	cat "$top"/build/t/*.log "$top"/build-asan/t/*.log 2>/dev/null |
		sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' |
		awk '{ n += $1; f += $2 + $3 } END { printf "%d passed, %d failed\n", n - f, f }'
	;;
esac
