#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's quick start, on a fresh Debian 12 machine:
#   sh t/quickstart.sh demo   installs what is missing, builds, runs the local demo
#   sh t/quickstart.sh test   installs what is missing, builds, runs the whole test suite
#                             (warnings as errors, the tools configure found checked
#                             against those installed, the daemon suites again with the
#                             Landlock sandboxes, the units under systemd in a Debian 12
#                             container (skipped where none boots), then everything
#                             under ASan/UBSan, the daemon under valgrind, a short fuzzing run, the
#                             load test, make distcheck, the README's two commands in a
#                             fresh clone, then the packages: make deb, make rpm, their
#                             files compared, the .deb installed, removed and purged)
# Every phase runs, even after one has failed; the summary gives each
# phase's own count and time, names every failing check with its message,
# and ends with "N passed, M failed", the sum of the phases' counts. The
# exit code is 0 only if nothing failed. A phase that cannot run on this
# machine at all says "PHASE: skipped: WHY" and exits 0: it is named as
# skipped, and counts neither way. doc/testing.md says more.
#
# Independent of what ran before: every run configures its build
# directories again (two seconds), so a build/ the demo configured before
# the test command installed rpmbuild and clang gets them; and the automake
# logs of an earlier run are removed before a suite runs.
#
# Test-only knobs (t/check-fresh-clone.sh uses them):
#   QP_QUICKSTART_PHASES="build configured check"  run only these phases
#   QP_QUICKSTART_TESTS="t/check_descriptor ..."   the tests of the check phase
set -u
mode=${1:-}
case "$mode" in
demo|test) ;;
*) echo "usage: sh t/quickstart.sh demo|test" >&2; exit 100 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
# what the builds write is read by the sandboxes' user too (see below)
umask 022

# ---- a tree the sandboxes can reach ----
# Run as root, the daemon's sandboxes (and so the filters, the connectors
# and the admission checks of the tests and the demo) run as nobody, and
# nobody must be able to reach the build tree. A clone under a directory
# nobody cannot enter (/root is 0700 on Debian, so is a mktemp -d) would
# fail every call with EACCES. So the run goes on in a mount namespace of
# its own, where that directory is a tmpfs of mode 0755 holding only the
# path down to the tree, and the tree is bind-mounted at its own path:
# the same paths inside and outside, nothing changed on disk. What the
# tmpfs hides of that directory is not needed by the run. The tree's own
# directories must be readable by others: that, only the user can decide.
nobody_uid=$(id -u nobody 2>/dev/null || echo 65534)
nobody_gid=$(id -g nobody 2>/dev/null || echo 65534)
as_nobody() { setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups -- "$@" 2>/dev/null; }
if [ "$(id -u)" = 0 ] && [ "${QP_QUICKSTART_REACH:-}" != "$top" ] && as_nobody true; then
	blocker= path=
	saved_ifs=$IFS
	IFS=/
	set -f
	for part in $top; do
		[ -n "$part" ] || continue
		path=$path/$part
		as_nobody test -x "$path" || { blocker=$path; break; }
	done
	IFS=$saved_ifs
	set +f
	mode_of() { stat -c %a "$1" 2>/dev/null || echo "?"; }
	if [ "$blocker" = "$top" ]; then
		echo "quickstart: $top is mode $(mode_of "$top"): run as root, the sandboxes of the tests run as nobody and cannot enter it; chmod -R a+rX $top (or clone it with umask 022)" >&2
		exit 100
	fi
	if [ -z "$blocker" ]; then
		# the sources, and the build directories themselves (what the builds
		# write in them is readable: umask 022 above)
		closed=$( { find "$top" \( -path "$top/.git" -o -path "$top/build*" -o -path "$top/pkg-*" \) -prune -o \
			-type d \( ! -perm -o=x -o ! -perm -o=r \) -print; find "$top" -maxdepth 1 -name 'build*' -type d \
			! -perm -o=x; } 2>/dev/null | head -n 1)
		if [ -n "$closed" ]; then
			echo "quickstart: $closed is mode $(mode_of "$closed"): run as root, the sandboxes of the tests run as nobody and cannot read it; chmod -R a+rX $top (or clone it with umask 022)" >&2
			exit 100
		fi
	else
		if ! command -v unshare >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1; then
			echo "quickstart: $blocker is mode $(mode_of "$blocker"), and nobody (the sandboxes' user when root runs the tests) cannot reach $top through it; clone the repository where nobody can (for instance /srv/qrexec-proxy), or chmod o+x $blocker" >&2
			exit 100
		fi
		echo "== $blocker is mode $(mode_of "$blocker"): nobody, the sandboxes' user, cannot enter it; running in a mount namespace of its own where $blocker is mode 0755 and holds only the path to this tree"
		keep=$(mktemp -d /tmp/qp-reach.XXXXXX) || exit 111
		QP_QUICKSTART_REACH=$top unshare --mount --propagation private -- sh -c '
			top=$1 blocker=$2 keep=$3 mode=$4
			mount --rbind "$top" "$keep" &&
				mount -t tmpfs -o mode=0755 qp-reach "$blocker" &&
				mkdir -p "$top" &&
				mount --rbind "$keep" "$top" &&
				umount -l "$keep" || exit 99
			cd "$top" && exec sh t/quickstart.sh "$mode"
		' sh "$top" "$blocker" "$keep" "$mode"
		rc=$?
		rmdir "$keep" 2>/dev/null
		if [ "$rc" = 99 ]; then
			echo "quickstart: unable to make $top reachable for nobody in a mount namespace (above); clone the repository where nobody can reach it (for instance /srv/qrexec-proxy), or chmod o+x $blocker" >&2
			exit 111
		fi
		exit "$rc"
	fi
fi

# Debian packages the build, the tests and the demo need
pkgs="build-essential autoconf automake pkg-config libsystemd-dev libyaml-dev libseccomp-dev musl-tools check python3 python3-yaml python3-jsonschema valgrind"
# debootstrap and systemd-container: make check-systemd's Debian 12 container
# (git: the fresh-clone phase)
[ "$mode" = test ] && pkgs="$pkgs clang libclang-rt-14-dev debhelper lintian rpm debootstrap systemd-container git"
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
# configure runs every time: what it records (the tools installed, the
# libc of the filters) is then what this machine has now, whatever ran
# before; it takes two seconds, and make rebuilds only what changed.
build() { # build DIR CONFIGURE-ARGS...
	dir=$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" --enable-werror "$@" && make -j"$jobs")
}

if [ "$mode" = demo ]; then
	build "$top/build" --disable-qubes-service-condition || exit 1
	exec make -C "$top/build" demo
fi

# ---- test: phases, each with its own log, and one summary at the end ----
logs=$top/build/quickstart
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs"/*.res "$logs"/*.rc "$logs"/*.secs
. "$top/t/phases.sh"

# run_phase NAME DIR COMMAND...: phase, unless QP_QUICKSTART_PHASES leaves it out
wanted() {
	case " ${QP_QUICKSTART_PHASES:-$1} " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}
run_phase() { ! wanted "$1" || phase "$@"; }
# about NAME LINE...: what phase NAME does, before it runs
about() {
	wanted "$1" || return 0
	shift
	printf '== %s\n' "$1"
	shift
	for l in "$@"; do printf '   %s\n' "$l"; done
}
# make check in DIR, without the automake logs of an earlier run (a test
# that failed or no longer exists would be counted again)
make_check() { # DIR TARGET
	rm -f "$1"/t/*.log "$1"/t/*.trs "$1"/test-suite.log
	if [ -n "${QP_QUICKSTART_TESTS:-}" ]; then
		make -C "$1" -j"$jobs" "$2" TESTS="$QP_QUICKSTART_TESTS"
	else
		make -C "$1" -j"$jobs" "$2"
	fi
}

about build "build with -Werror"
run_phase build - build "$top/build" --disable-qubes-service-condition
run_phase configured - sh "$top/t/check-configured.sh" "$top/build"
run_phase check "$top/build" make_check "$top/build" check
about check-landlock "the daemon's suites again with every sandbox under Landlock, the fallback" \
	"where unprivileged user namespaces are switched off"
run_phase check-landlock - env QP_TEST_ISOLATION=landlock make -C "$top/build" -j"$jobs" check-daemon
about check-systemd "the units under a real systemd: a Debian 12 container (debootstrap once per" \
	"machine), the build installed into it, the hardened service checked"
run_phase check-systemd - make -C "$top/build" check-systemd
about build-asan "the test suite again under AddressSanitizer and UndefinedBehaviorSanitizer," \
	"with the built-in filters built against glibc (the build without musl-tools)"
run_phase build-asan - build "$top/build-asan" --enable-sanitizers --without-musl
run_phase check-asan "$top/build-asan" make_check "$top/build-asan" check
run_phase check-valgrind - make -C "$top/build" check-valgrind
run_phase fuzz-short - make -C "$top/build" fuzz-short
run_phase stress - make -C "$top/build" stress
run_phase distcheck - make -C "$top/build" distcheck
about fresh-clone "the README's two commands in a fresh clone under mktemp -d: the demo" \
	"configured before rpmbuild and clang were there, then the test command"
run_phase fresh-clone - sh "$top/t/check-fresh-clone.sh"
about packages "the packages: make deb (and lintian), make rpm, their files compared, the .deb" \
	"installed with apt-get, used, removed and purged"
run_phase packages - sh "$top/t/check-packages.sh" "$top/build"

summary
