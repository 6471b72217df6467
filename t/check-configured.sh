#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Whether a build directory was configured with the tools installed now: for
# every program configure.ac looks for (AC_PATH_PROG: valgrind, python3,
# clang, dpkg-buildpackage, rpmbuild, ...), the path the build directory's
# Makefile recorded is the one configure would find now; and the built-in
# filters' libc is musl exactly when musl-gcc is installed (unless the
# directory was configured --without-musl). A build directory configured
# before a tool was installed (the demo before the test command installed
# rpm and clang, issue 26) fails here, naming the tool.
#   usage: sh t/check-configured.sh BUILDDIR
# The last line is "N passed, M failed"; exit 1 if any failed.
set -u
B=${1:-}
[ -n "$B" ] && [ -f "$B/Makefile" ] || { echo "usage: $0 BUILDDIR (a configured build directory)" >&2; exit 100; }
S=$(cd "$(dirname "$0")/.." && pwd)
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
recorded() { sed -n "s/^$1 = //p" "$B/Makefile" | head -n 1; }

# AC_PATH_PROG([VAR], [prog], [default], [path]): configure's own list
progs=$(sed -n 's/^AC_PATH_PROG(\[\([A-Z0-9_]*\)\], *\[\([^]]*\)\]\(, *\[[^]]*\], *\[\([^]]*\)\]\)\{0,1\}).*/\1 \2 \4/p' \
	"$S/configure.ac")
while read -r var prog path; do
	# the search path configure was given, as configure expands it
	[ -n "$path" ] && search=$(eval "echo \"$path\"") || search=$PATH
	now=$(PATH=$search command -v "$prog" 2>/dev/null || true)
	was=$(recorded "$var")
	if [ "$now" = "$was" ]; then
		ok "$var: ${now:-not installed}, as recorded"
	else
		fail "$var: $B was configured with '${was:-none}', but $prog is now '${now:-not installed}': run configure again"
	fi
done <<EOF
$progs
EOF
if grep -q -- '--without-musl' "$B/config.status" 2>/dev/null; then
	echo "(configured --without-musl: the filters' libc is glibc by choice)"
else
	libc=$(recorded FILTER_LIBC)
	if command -v musl-gcc >/dev/null 2>&1; then want=musl is=installed; else want=glibc is="not installed"; fi
	[ "$libc" = "$want" ] && ok "FILTER_LIBC: $libc, as musl-gcc is $is" ||
		fail "FILTER_LIBC: $B was configured with '$libc', but musl-gcc is $is: run configure again"
fi
[ "$passed" -ge 5 ] || fail "only $passed tools found in configure.ac: the list is not read"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
