#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's quick start, on a fresh Debian 12 machine:
#   sh t/quickstart.sh demo   installs what is missing, builds, runs the local demo
#   sh t/quickstart.sh test   installs what is missing, builds, runs the whole test suite
#                             (warnings as errors, the daemon suites again with the
#                             Landlock sandboxes, the units under systemd in a Debian 12
#                             container (skipped where none boots), then everything
#                             under ASan/UBSan, the daemon under valgrind, a short fuzzing run, the
#                             load test, make distcheck, then the packages: make deb,
#                             make rpm, their files compared, the .deb installed and purged)
# Every phase runs, even after one has failed; the last line is always
# "N passed, M failed" over all of them, after the names of the phases and
# tests that failed, with their messages. The exit code is 0 only if
# nothing failed. A phase that cannot run on this machine at all says
# "PHASE: skipped: WHY" and exits 0: it is named as skipped, and counts
# neither way.
set -u
mode=${1:-}
case "$mode" in
demo|test) ;;
*) echo "usage: sh t/quickstart.sh demo|test" >&2; exit 100 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)

# Debian packages the build, the tests and the demo need
pkgs="build-essential autoconf automake pkg-config libsystemd-dev libyaml-dev libseccomp-dev musl-tools check python3 python3-yaml python3-jsonschema valgrind"
# debootstrap and systemd-container: make check-systemd's Debian 12 container
[ "$mode" = test ] && pkgs="$pkgs clang libclang-rt-14-dev debhelper lintian rpm debootstrap systemd-container"
# tinyproxy, curl and openssl: t/check_http_allow's destination, caller and TLS server
[ "$mode" = test ] && pkgs="$pkgs tinyproxy curl openssl"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "== installing Debian packages:$missing"
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	# another apt-get or unattended-upgrades may hold the lock: wait for it (10 min)
	lock="-o DPkg::Lock::Timeout=600"
	$sudo apt-get $lock update -qq || { echo "quickstart: apt-get update failed" >&2; exit 111; }
	DEBIAN_FRONTEND=noninteractive $sudo apt-get $lock install -y -qq --no-install-recommends $missing ||
		{ echo "quickstart: unable to install:$missing" >&2; exit 111; }
else
	echo "== Debian packages: all there ($pkgs)"
fi

jobs=$(nproc 2>/dev/null || echo 2)
cd "$top"
if ! { [ -x configure ] && [ configure -nt configure.ac ]; }; then
	autoreconf -fi || { echo "quickstart: autoreconf failed" >&2; exit 111; }
fi

# Not in a qube: the units of these builds start without the Qubes service
# (the packages, built by t/check-packages.sh, keep the condition).
build() { # build DIR CONFIGURE-ARGS...
	dir=$1; shift
	mkdir -p "$dir"
	(cd "$dir" && { [ -f Makefile ] || "$top/configure" --enable-werror "$@"; } && make -j"$jobs")
}

if [ "$mode" = demo ]; then
	build "$top/build" --disable-qubes-service-condition || exit 1
	exec make -C "$top/build" demo
fi

# ---- test: phases, each with its own log, and one summary at the end ----
logs=$top/build/quickstart
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs"/*.res
phases=

# phase NAME DIR COMMAND...: runs COMMAND, its output to the screen and to
# $logs/NAME.log; DIR is the build directory whose t/*.log it reads (or -)
phase() {
	name=$1 dir=$2; shift 2
	phases="$phases $name"
	echo "== $name: $*"
	rc_file=$logs/$name.rc
	{ "$@" 2>&1; echo $? > "$rc_file"; } | tee "$logs/$name.log"
	rc=$(cat "$rc_file")
	count_phase "$name" "$dir" "$rc"
	return 0
}

# The Check cases of a phase: from the automake logs of DIR (a make check)
# or from the phase's own output; a phase without Check cases counts as one.
count_phase() {
	name=$1 dir=$2 rc=$3
	res=$logs/$name.res
	: > "$res"
	if [ "$dir" != - ]; then
		for trs in "$dir"/t/*.trs; do
			[ -f "$trs" ] || continue
			log=${trs%.trs}.log
			t=$(basename "${trs%.trs}")
			if grep -q 'Checks: [0-9]*, Failures' "$log" 2>/dev/null; then
				sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/checks \1 \2 \3/p' "$log" >> "$res"
				# a Check binary that died before its summary
				grep -q ':test-result: \(FAIL\|ERROR\)' "$trs" &&
					! grep -q 'Failures: [1-9]\|Errors: [1-9]' "$log" &&
					echo "fail $t: exited non-zero after its summary; see $log" >> "$res"
			else
				r=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
				case "$r" in
				PASS) echo "checks 1 0 0" >> "$res" ;;
				SKIP) echo "skip $t" >> "$res" ;;
				*) echo "checks 1 1 0" >> "$res"; echo "fail $t: $r; see $log" >> "$res" ;;
				esac
			fi
			grep -h -E '^[^ :]+\.c:[0-9]+:[EF]:' "$log" 2>/dev/null | sed 's/^/fail /' >> "$res"
		done
	else
		sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/checks \1 \2 \3/p' "$logs/$name.log" >> "$res"
		grep -h -E '^[^ :]+\.c:[0-9]+:[EF]:' "$logs/$name.log" | sed 's/^/fail /' >> "$res"
		# a script's own summary, "N passed, M failed", and its FAIL: lines
		sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$logs/$name.log" | tail -n 1 |
			awk '{ print "checks", $1 + $2, $2, 0 }' >> "$res"
		grep -q '^[0-9]* passed, [0-9]* failed$' "$logs/$name.log" &&
			sed -n 's/^FAIL: /fail /p' "$logs/$name.log" >> "$res"
		# a phase that cannot run here at all
		why=$(sed -n "s/^$name: skipped: //p" "$logs/$name.log" | tail -n 1)
		if [ "$rc" = 0 ] && [ -n "$why" ]; then
			echo "skipped $why" > "$res"
			return 0
		fi
	fi
	if ! grep -q '^checks' "$res"; then
		if [ "$rc" = 0 ]; then echo "checks 1 0 0" >> "$res"; else echo "checks 1 1 0" >> "$res"; fi
	fi
	if [ "$rc" != 0 ]; then
		echo "phasefail $name (exit $rc)" >> "$res"
		# a failure that no Check case reports (a build error, a valgrind
		# finding, a crash) still counts
		grep -q '^checks [0-9]* \([1-9]\|[0-9]* [1-9]\)' "$res" || echo "checks 1 1 0" >> "$res"
	fi
}

echo "== build with -Werror"
phase build - build "$top/build" --disable-qubes-service-condition
phase check "$top/build" make -C "$top/build" -j"$jobs" check
echo "== the daemon's suites again with every sandbox under Landlock, the fallback"
echo "   where unprivileged user namespaces are switched off"
phase check-landlock - env QP_TEST_ISOLATION=landlock make -C "$top/build" -j"$jobs" check-daemon
echo "== the units under a real systemd: a Debian 12 container (debootstrap once per"
echo "   machine), the build installed into it, the hardened service checked"
phase check-systemd - make -C "$top/build" check-systemd
echo "== the test suite again under AddressSanitizer and UndefinedBehaviorSanitizer,"
echo "   with the built-in filters built against glibc (the build without musl-tools)"
phase build-asan - build "$top/build-asan" --enable-sanitizers --without-musl
phase check-asan "$top/build-asan" make -C "$top/build-asan" -j"$jobs" check
phase check-valgrind - make -C "$top/build" check-valgrind
phase fuzz-short - make -C "$top/build" fuzz-short
phase stress - make -C "$top/build" stress
phase distcheck - make -C "$top/build" distcheck
echo "== the packages: make deb (and lintian), make rpm, their files compared, the .deb"
echo "   installed with apt-get, used and purged"
phase packages - sh "$top/t/check-packages.sh" "$top/build"

# ---- summary ----
passed=0 failed=0
failed_phases=
for p in $phases; do
	res=$logs/$p.res
	set -- $(awk '$1 == "checks" { n += $2; f += $3 + $4 } END { print n + 0, f + 0 }' "$res")
	passed=$((passed + $1 - $2))
	failed=$((failed + $2))
	grep -q '^phasefail' "$res" && failed_phases="$failed_phases $p"
done
echo
echo "== summary (logs in $logs)"
for p in $phases; do
	res=$logs/$p.res
	if grep -q '^skipped ' "$res"; then
		echo "skipped phase $p: $(sed -n 's/^skipped //p' "$res")"
	elif grep -q '^phasefail' "$res"; then
		echo "FAILED phase $p: $(sed -n 's/^phasefail [^ ]* //p' "$res"), log $logs/$p.log"
		sed -n 's/^fail /    /p' "$res" | head -n 40
		if ! grep -q '^fail ' "$res"; then
			echo "    last lines of its output:"
			tail -n 15 "$logs/$p.log" | sed 's/^/    | /'
		fi
	else
		echo "ok     phase $p"
	fi
done
[ -n "$failed_phases" ] && echo "failed phases:$failed_phases"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ -z "$failed_phases" ]
