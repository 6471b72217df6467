#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The packages, end to end, from a configured build directory:
#   make deb (dpkg-buildpackage from the release tarball), lintian: no error;
#   make rpm (rpmbuild; --nodeps on Debian);
#   the files of each package, and the .deb's and the .rpm's compared: the
#   same files, each in its distribution's directories;
#   the .debs installed with apt-get and used (check, run, policy, the kit
#   built against the installed header and library, the units verified),
#   then purged: nothing of them left behind but the system user and group
#   (Debian keeps those), which this test then removes if it created them.
# Without dpkg-buildpackage it skips (exit 77); without rpmbuild, the rpm
# part is skipped; installing needs root. Every step runs; exit 1 if any
# failed.
#   usage: sh t/check-packages.sh BUILDDIR     (or QP_BUILDDIR=BUILDDIR)
#   make check-packages
set -u
B=${1:-${QP_BUILDDIR:-}}
[ -n "$B" ] && [ -f "$B/Makefile" ] || { echo "usage: $0 BUILDDIR (a configured build directory)" >&2; exit 100; }
B=$(cd "$B" && pwd)
S=$(cd "$(dirname "$0")/.." && pwd)
unset MAKEFLAGS MFLAGS
failed=0 passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
	echo "check-packages: $passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit $?
}

if ! command -v dpkg-buildpackage >/dev/null 2>&1 || ! [ -x /usr/bin/dh ]; then
	echo "SKIP: no dpkg-buildpackage or debhelper (apt-get install dpkg-dev debhelper)"
	exit 77
fi
tmp=$(mktemp -d /tmp/qp-packages.XXXXXX)
# one run at a time on a machine: the .debs are installed system-wide
exec 9>/tmp/qrexec-proxy-check-packages.lock
if command -v flock >/dev/null 2>&1; then
	flock -w 1800 9 || { echo "FAIL: another check-packages holds the lock for 30 min"; exit 1; }
fi
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

# ---- build ----
echo "== make deb"
if make -C "$B" deb > "$tmp/deb.log" 2>&1; then
	ok "make deb"
else
	tail -n 40 "$tmp/deb.log"
	fail "make deb (log above)"
	finish
fi
deb=$(ls "$B"/pkg-deb/qrexec-proxy_*.deb 2>/dev/null | head -n 1)
devdeb=$(ls "$B"/pkg-deb/qrexec-proxy-dev_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] && [ -n "$devdeb" ] && ok "two binary packages: $(basename "$deb") $(basename "$devdeb")" ||
	{ fail "no qrexec-proxy or qrexec-proxy-dev .deb in $B/pkg-deb"; finish; }
grep -q '^PASS: t/check_policy' "$tmp/deb.log" && ok "the package build ran the unit suites ($(grep -c '^PASS: ' "$tmp/deb.log") passed)" ||
	echo "(the package build ran no test: DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})"

if command -v lintian >/dev/null 2>&1; then
	lintian --pedantic "$B"/pkg-deb/*.changes > "$tmp/lintian" 2>&1
	grep -v 'running with root privileges' "$tmp/lintian" | sed 's/^/    /'
	e=$(grep -c '^E: ' "$tmp/lintian") w=$(grep -c '^W: ' "$tmp/lintian") i=$(grep -c '^[IPX]: ' "$tmp/lintian")
	[ "$e" = 0 ] && ok "lintian: $e errors, $w warnings, $i info/pedantic" || fail "lintian: $e errors, $w warnings"
else
	echo "(no lintian: apt-get install lintian)"
fi

# ---- contents ----
# the files (and symlinks) of a package, without directories
deb_files() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|'; }
rpm_files() { rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$1" | awk '$1 !~ /^d/ { print $2 }'; }
# The same file in Debian's and Fedora's places: merged /usr, the library
# directory, compressed manual pages and documents, the -dev package's
# documents under the main one's; each distribution's own metadata (Debian's
# changelog, copyright and lintian overrides, Fedora's build ids) left out.
normalize() {
	sed -e 's|^/lib/|/usr/lib/|' -e 's|^/bin/|/usr/bin/|' -e 's|^/sbin/|/usr/sbin/|' \
	    -e 's|^/usr/lib/[a-z0-9_]*-linux-[a-z0-9_]*/|/usr/LIBDIR/|' -e 's|^/usr/lib64/|/usr/LIBDIR/|' \
	    -e 's|\.gz$||' -e 's|^/usr/share/doc/qrexec-proxy-dev/|/usr/share/doc/qrexec-proxy/|' |
	grep -v -E '^/usr/share/doc/[^/]*/(changelog|changelog\.Debian|copyright)$|^/usr/share/lintian/|^/usr/lib/\.build-id/|^/usr/share/licenses/' |
	sort
}
for f in "$deb" "$devdeb"; do
	echo "== $(basename "$f"): $(du -k "$f" | cut -f1) KiB, $(deb_files "$f" | wc -l) files"
	deb_files "$f" | sed 's/^/    /'
done
deb_files "$deb" > "$tmp/deb.main"
deb_files "$devdeb" > "$tmp/deb.dev"
for want in /usr/bin/qrexec-proxy /usr/libexec/qrexec-proxy/filters/pass /usr/libexec/qrexec-proxy/filters/count \
	/lib/systemd/system/qrexec-proxy.socket /lib/systemd/system/qrexec-proxy.service \
	/usr/lib/sysusers.d/qrexec-proxy.conf /etc/qrexec-proxy/chains.yaml /etc/qubes-rpc/qrexec-proxy \
	/usr/lib/qubes-bind-dirs.d/50_qrexec-proxy.conf /usr/share/man/man1/qrexec-proxy.1.gz \
	/usr/share/man/man5/qrexec-proxy.yaml.5.gz /usr/share/man/man1/qrexec-proxy-filter-count.1.gz; do
	grep -qx "$want" "$tmp/deb.main" || fail "qrexec-proxy lacks $want"
done
for want in /usr/include/qrexec-proxy/qpf.h /usr/share/man/man7/qrexec-proxy-filter.7.gz \
	/usr/share/doc/qrexec-proxy-dev/examples/kit-pass.c /usr/share/doc/qrexec-proxy-dev/examples/line-allowlist.c; do
	grep -qx "$want" "$tmp/deb.dev" || fail "qrexec-proxy-dev lacks $want"
done
grep -q '/libqrexec-proxy-filter\.a$' "$tmp/deb.dev" && grep -q '/pkgconfig/qrexec-proxy-filter\.pc$' "$tmp/deb.dev" ||
	fail "qrexec-proxy-dev lacks the library or its pkg-config file"
dpkg-deb -I "$deb" conffiles 2>/dev/null | grep -qx /etc/qrexec-proxy/chains.yaml &&
	ok "chains.yaml is a conffile" || fail "chains.yaml is not a conffile of $(basename "$deb")"
[ "$(dpkg-deb -c "$deb" | awk '$6 == "./etc/qubes-rpc/qrexec-proxy" { print $8 }')" = /run/qrexec-proxy.sock ] &&
	ok "/etc/qubes-rpc/qrexec-proxy -> /run/qrexec-proxy.sock" || fail "/etc/qubes-rpc/qrexec-proxy is not a link to the socket"

if command -v rpmbuild >/dev/null 2>&1; then
	echo "== make rpm"
	if make -C "$B" rpm > "$tmp/rpm.log" 2>&1; then
		ok "make rpm"
		rpm=$(ls "$B"/pkg-rpm/RPMS/*/qrexec-proxy-[0-9]*.rpm 2>/dev/null | head -n 1)
		devrpm=$(ls "$B"/pkg-rpm/RPMS/*/qrexec-proxy-devel-[0-9]*.rpm 2>/dev/null | head -n 1)
		if [ -n "$rpm" ] && [ -n "$devrpm" ]; then
			ok "two binary packages: $(basename "$rpm") $(basename "$devrpm")"
			echo "    $(basename "$rpm"): $(du -k "$rpm" | cut -f1) KiB; $(basename "$devrpm"): $(du -k "$devrpm" | cut -f1) KiB"
			rpm_files "$rpm" > "$tmp/rpm.main"
			rpm_files "$devrpm" > "$tmp/rpm.dev"
			echo "== the lists compared, after: /lib -> /usr/lib, the library directory -> /usr/LIBDIR,"
			echo "   no .gz, -dev documents under the main package's, no distribution metadata"
			for p in main dev; do
				normalize < "$tmp/deb.$p" > "$tmp/deb.$p.n"
				normalize < "$tmp/rpm.$p" > "$tmp/rpm.$p.n"
				if diff -u "$tmp/deb.$p.n" "$tmp/rpm.$p.n" > "$tmp/diff.$p"; then
					ok "the $p packages have the same $(wc -l < "$tmp/deb.$p.n") files"
				else
					sed 's/^/    /' "$tmp/diff.$p"
					fail "the $p packages differ (- .deb, + .rpm)"
				fi
			done
			rpm -qp --configfiles "$rpm" | grep -qx /etc/qrexec-proxy/chains.yaml &&
				ok "chains.yaml is a %config file" || fail "chains.yaml is not a %config file of the rpm"
			[ "$(rpm -qp --qf '[%{FILENAMES} %{FILELINKTOS}\n]' "$rpm" | awk '$1 == "/etc/qubes-rpc/qrexec-proxy" { print $2 }')" = /run/qrexec-proxy.sock ] &&
				ok "rpm: /etc/qubes-rpc/qrexec-proxy -> /run/qrexec-proxy.sock" || fail "rpm: no link to the socket"
		else
			fail "no qrexec-proxy or qrexec-proxy-devel .rpm in $B/pkg-rpm/RPMS"
		fi
	else
		tail -n 40 "$tmp/rpm.log"
		fail "make rpm (log above)"
	fi
else
	echo "(no rpmbuild: the rpm part is skipped; Debian: apt-get install rpm)"
fi

# ---- install, use, purge ----
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "(not root, or no apt-get: the .deb is not installed)"
	finish
fi
apt="apt-get -o DPkg::Lock::Timeout=600 -y -q"
export DEBIAN_FRONTEND=noninteractive
if dpkg-query -W -f='${Status}' qrexec-proxy 2>/dev/null | grep -q installed ||
	dpkg-query -W -f='${Status}' qrexec-proxy-dev 2>/dev/null | grep -q installed; then
	echo "(qrexec-proxy was installed before this test: purged first)"
	$apt purge qrexec-proxy qrexec-proxy-dev > "$tmp/purge0.log" 2>&1
fi
# what the system holds before, outside the package manager's own state
snapshot() {
	find /etc /usr /lib /opt /srv /var/lib -xdev \
		\( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/ucf -o -path /var/lib/man-db \) -prune \
		-o -print 2>/dev/null | sort
}
snapshot > "$tmp/before"
had_user=no had_qubes=no had_group=no
getent passwd qrexec-proxy >/dev/null && had_user=yes
getent group qubes >/dev/null && had_qubes=yes
getent group qrexec-proxy >/dev/null && had_group=yes

echo "== apt-get install $(basename "$deb") $(basename "$devdeb")"
if $apt install "$deb" "$devdeb" > "$tmp/install.log" 2>&1; then
	ok "apt-get install"
else
	tail -n 30 "$tmp/install.log"
	fail "apt-get install (log above)"
	finish
fi
getent passwd qrexec-proxy >/dev/null && id -nG qrexec-proxy | tr ' ' '\n' | grep -qx qubes &&
	ok "user qrexec-proxy, in group qubes (sysusers.d)" || fail "no user qrexec-proxy in group qubes after install"
[ -L /etc/systemd/system/sockets.target.wants/qrexec-proxy.socket ] &&
	ok "qrexec-proxy.socket enabled (it starts only where /run/qubes-service/qrexec-proxy exists)" ||
	fail "qrexec-proxy.socket is not enabled"
grep -qx 'ConditionPathExists=/run/qubes-service/qrexec-proxy' /lib/systemd/system/qrexec-proxy.socket &&
	ok "the installed socket unit has the Qubes service condition" || fail "the installed socket unit has no Qubes service condition"
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify /lib/systemd/system/qrexec-proxy.socket /lib/systemd/system/qrexec-proxy.service \
		> "$tmp/verify" 2>&1 && ! [ -s "$tmp/verify" ] && ok "systemd-analyze verify (man pages included)" ||
		fail "systemd-analyze verify: $(cat "$tmp/verify")"
fi
qrexec-proxy check --config /etc/qrexec-proxy/chains.yaml > "$tmp/check" 2>&1 &&
	ok "qrexec-proxy check of the installed example finds the installed filters" ||
	fail "qrexec-proxy check: $(cat "$tmp/check")"
out=$(printf 'through the installed filters' | qrexec-proxy run --log stderr pass -- cat 2>"$tmp/run")
[ "$out" = "through the installed filters" ] && ok "qrexec-proxy run pass -- cat" || fail "qrexec-proxy run: '$out' $(cat "$tmp/run")"
if SOURCE_DATE_EPOCH=0 qrexec-proxy policy --proxy-qube sys-proxy > "$tmp/policy" 2>"$tmp/policy.err"; then
	if python3 "$S/t/check-policy.py" --read "$tmp/policy" > "$tmp/policy.read" 2>&1; then
		ok "qrexec-proxy policy: $(cat "$tmp/policy.read")"
	else
		fail "the policy written does not read: $(cat "$tmp/policy.read")"
	fi
else
	fail "qrexec-proxy policy: $(cat "$tmp/policy.err")"
fi
if command -v cc >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1; then
	cc -std=c11 -o "$tmp/kit-pass" /usr/share/doc/qrexec-proxy-dev/examples/kit-pass.c \
		$(pkg-config --cflags --libs qrexec-proxy-filter) > "$tmp/cc" 2>&1 &&
		[ "$(echo kit | "$tmp/kit-pass")" = kit ] && ok "the kit's example builds against the installed kit, and runs" ||
		fail "building the kit's example: $(cat "$tmp/cc")"
fi

echo "== apt-get purge qrexec-proxy qrexec-proxy-dev"
$apt purge qrexec-proxy qrexec-proxy-dev > "$tmp/purge.log" 2>&1 && ok "apt-get purge" ||
	{ tail -n 30 "$tmp/purge.log"; fail "apt-get purge (log above)"; }
dpkg-query -W -f='${Status}' qrexec-proxy 2>/dev/null | grep -q 'installed\|config-files' &&
	fail "dpkg still knows qrexec-proxy: $(dpkg-query -W -f='${Status}' qrexec-proxy)"
# Debian keeps the system users a package created: so does the package; the
# test removes what it made itself, to leave the machine as it found it
getent passwd qrexec-proxy >/dev/null && echo "    (purge kept user qrexec-proxy, as Debian does)"
[ $had_user = no ] && getent passwd qrexec-proxy >/dev/null && userdel qrexec-proxy
[ $had_group = no ] && getent group qrexec-proxy >/dev/null && groupdel qrexec-proxy
[ $had_qubes = no ] && getent group qubes >/dev/null && groupdel qubes
snapshot > "$tmp/after"
# ours: every path of the package has qrexec-proxy or qubes in it; anything
# else that changed meanwhile is another process's doing on this machine
comm -13 "$tmp/before" "$tmp/after" > "$tmp/new"
comm -23 "$tmp/before" "$tmp/after" > "$tmp/gone"
left=$(grep -E 'qrexec-proxy|qubes' "$tmp/new")
if [ -z "$left" ]; then
	ok "nothing left behind after purge"
else
	echo "$left" | sed 's/^/    /'
	fail "left behind after purge (above)"
fi
other=$(cat "$tmp/new" "$tmp/gone" | grep -v -E 'qrexec-proxy|qubes' | head -n 10)
[ -n "$other" ] && echo "    (changed meanwhile, not by the package: $(echo "$other" | tr '\n' ' '))"
finish
