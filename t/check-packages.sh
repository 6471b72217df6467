#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The packages, end to end, from a configured build directory:
#   make deb (dpkg-buildpackage from the release tarball), lintian: no error;
#   make rpm (rpmbuild; --nodeps on Debian);
#   the files of each package, and the .deb's and the .rpm's compared: the
#   same files, each in its distribution's directories;
#   the .debs installed with apt-get and used (check, run, policy, the kit
#   built against the installed header and library, the units verified:
#   the socket enabled, the service static, units and preset under one
#   prefix); qrexec services linked to the socket with qrexec-proxy links,
#   beside a link elsewhere and a file; the rpm's %preun run as rpm would
#   (upgrade: links kept; erase: links gone, the rest kept); apt-get remove
#   (the links gone, the rest kept), then purge: no dpkg warning, and
#   nothing left of what dpkg -L listed, of what the maintainer scripts
#   make (listed below) or of the links, but the system user and group
#   (Debian keeps those), which this test then removes if it created them.
#   Nothing else on the machine is compared: other work may change it.
# Without dpkg-buildpackage it skips (exit 77); without rpmbuild, the rpm
# part is skipped; installing needs root. Every step runs; the last line is
# "N passed, M failed", each failure a line "FAIL: message" (the form
# t/quickstart.sh reads); exit 1 if any failed.
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
	# the one form t/quickstart.sh reads (see doc/testing.md)
	echo "$passed passed, $failed failed"
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

# ---- install, use, remove, purge ----
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

# What the packages may leave: their own files (dpkg-deb -c now, dpkg -L once
# installed), what their maintainer scripts make (listed here: the units'
# enablement and deb-systemd-helper's record of it, the service's state), and
# the qrexec services this test has qrexec-proxy links make. Nothing else
# on the machine is looked at: other work may change it meanwhile.
socket=/run/qrexec-proxy.sock
rpcdirs="/usr/local/etc/qubes-rpc /etc/qubes-rpc"
made_by_scripts="/etc/systemd/system/sockets.target.wants/qrexec-proxy.socket
/etc/systemd/system/multi-user.target.wants/qrexec-proxy.service
/var/lib/systemd/deb-systemd-helper-enabled/qrexec-proxy.socket.dsh-also
/var/lib/systemd/deb-systemd-helper-enabled/qrexec-proxy.service.dsh-also
/var/lib/systemd/deb-systemd-helper-enabled/sockets.target.wants/qrexec-proxy.socket
/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/qrexec-proxy.service
/var/lib/systemd/deb-systemd-helper-masked/qrexec-proxy.socket
/var/lib/systemd/deb-systemd-helper-masked/qrexec-proxy.service
/var/lib/qrexec-proxy
/etc/qrexec-proxy"
# the transparent services of this test (names no real qube uses), made by
# qrexec-proxy links in both directories qrexec reads; beside them, what is
# not the proxy's and must stay: a link to another socket, a file
test_links="/usr/local/etc/qubes-rpc/qp-test.Copy /usr/local/etc/qubes-rpc/qp-test.Print /etc/qubes-rpc/qp-test.Copy /etc/qubes-rpc/qp-test.Print"
decoys="/usr/local/etc/qubes-rpc/qp-test.Elsewhere /usr/local/etc/qubes-rpc/qp-test.File"
exists() { [ -e "$1" ] || [ -L "$1" ]; }
{ dpkg-deb -c "$deb"; dpkg-deb -c "$devdeb"; } | awk '{ print $6 }' | sed -e 's|^\./|/|' -e 's|/$||' | grep . > "$tmp/theirs.deb"
{ cat "$tmp/theirs.deb"; echo "$made_by_scripts"; echo "$test_links" | tr ' ' '\n'; } | sort -u > "$tmp/theirs"
: > "$tmp/there-before"
while read -r p; do exists "$p" && echo "$p" >> "$tmp/there-before"; done < "$tmp/theirs"
made_dirs=
for d in $rpcdirs; do [ -d "$d" ] || made_dirs="$made_dirs $d"; done
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
dpkg -L qrexec-proxy qrexec-proxy-dev 2>/dev/null | grep '^/' | grep -v '^/\.$' | sort -u > "$tmp/dpkg-L"
# what dpkg says it installed is what the .debs hold
extra=$(comm -23 "$tmp/dpkg-L" "$tmp/theirs")
[ -z "$extra" ] && ok "dpkg -L lists only what the .debs hold ($(wc -l < "$tmp/dpkg-L") paths)" ||
	fail "dpkg -L lists what the .debs do not hold: $(echo "$extra" | tr '\n' ' ')"
getent passwd qrexec-proxy >/dev/null && id -nG qrexec-proxy | tr ' ' '\n' | grep -qx qubes &&
	ok "user qrexec-proxy, in group qubes (sysusers.d)" || fail "no user qrexec-proxy in group qubes after install"
# only the socket starts the service: enabled socket, static service, and
# nothing that starts the service at boot (systemctl reads the unit files,
# with or without a running systemd)
if command -v systemctl >/dev/null 2>&1; then
	s=$(systemctl is-enabled qrexec-proxy.socket 2>&1)
	[ "$s" = enabled ] && ok "systemctl is-enabled qrexec-proxy.socket: enabled" ||
		fail "systemctl is-enabled qrexec-proxy.socket: '$s', not enabled"
	s=$(systemctl is-enabled qrexec-proxy.service 2>&1)
	case "$s" in
	static|disabled) ok "systemctl is-enabled qrexec-proxy.service: $s (started by the socket at the first call, never at boot)" ;;
	*) fail "systemctl is-enabled qrexec-proxy.service: '$s', not static or disabled: it would start at boot" ;;
	esac
fi
[ -L /etc/systemd/system/sockets.target.wants/qrexec-proxy.socket ] &&
	ok "qrexec-proxy.socket enabled (it starts only where /run/qubes-service/qrexec-proxy exists)" ||
	fail "qrexec-proxy.socket is not enabled"
left=$(ls /etc/systemd/system/*.wants/qrexec-proxy.service 2>/dev/null)
[ -z "$left" ] && ok "qrexec-proxy.service is wanted by no target" || fail "qrexec-proxy.service is enabled: $left"
grep -qx 'ConditionPathExists=/run/qubes-service/qrexec-proxy' /lib/systemd/system/qrexec-proxy.socket &&
	ok "the installed socket unit has the Qubes service condition" || fail "the installed socket unit has no Qubes service condition"
dpkg -L qrexec-proxy | grep -E '/systemd/(system|system-preset)/.' > "$tmp/units"
prefixes=$(sed 's|/systemd/.*||' "$tmp/units" | sort -u)
[ "$(echo "$prefixes" | wc -l)" = 1 ] && ok "units and preset under one prefix: $prefixes/systemd" ||
	fail "units and preset under different prefixes: $(tr '\n' ' ' < "$tmp/units")"
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

# the transparent services, as an administrator makes them
cat > "$tmp/transparent.yaml" <<'YAML'
chains:
  through:
    filters: [pass]
transparent:
  - service: qp-test.Copy
    target: vault
    chain: through
  - service: qp-test.Print
    target: printer
    chain: through
YAML
make_links() {
	qrexec-proxy links --config "$tmp/transparent.yaml" > "$tmp/links" 2>&1 &&
		qrexec-proxy links --config "$tmp/transparent.yaml" --dir /etc/qubes-rpc >> "$tmp/links" 2>&1 ||
		{ fail "qrexec-proxy links: $(cat "$tmp/links")"; return; }
	for l in $test_links; do
		[ "$(readlink "$l")" = "$socket" ] || { fail "qrexec-proxy links made no $l -> $socket: $(cat "$tmp/links")"; return; }
	done
	ok "qrexec-proxy links: $(echo "$test_links" | wc -w) links to $socket"
}
links_gone() { # WHAT installed|removed: the links gone, everything else kept (the package's own service while installed)
	n=0
	for l in $test_links; do exists "$l" && { fail "$1: $l is still there"; n=$((n + 1)); }; done
	[ "$(readlink /usr/local/etc/qubes-rpc/qp-test.Elsewhere)" = /run/other.sock ] &&
		[ -f /usr/local/etc/qubes-rpc/qp-test.File ] ||
		{ fail "$1: a file that is not a link of qrexec-proxy links went too"; n=$((n + 1)); }
	[ "$2" = removed ] || [ "$(readlink /etc/qubes-rpc/qrexec-proxy 2>/dev/null)" = "$socket" ] ||
		{ fail "$1: the package's own /etc/qubes-rpc/qrexec-proxy went too"; n=$((n + 1)); }
	[ $n = 0 ] && ok "$1: the links to $socket gone; a link elsewhere and a file kept$([ "$2" = removed ] || echo ", and the package's own service")"
}
mkdir -p /usr/local/etc/qubes-rpc
ln -sfn /run/other.sock /usr/local/etc/qubes-rpc/qp-test.Elsewhere
echo 'not the proxy' > /usr/local/etc/qubes-rpc/qp-test.File
make_links
# the rpm's %preun, run here as rpm would: upgrade (1) keeps the links, erase (0) removes them
if [ -n "${rpm:-}" ] && rpm -qp --qf '%{PREUN}' "$rpm" > "$tmp/preun" 2>/dev/null && [ -s "$tmp/preun" ]; then
	sh "$tmp/preun" 1 > "$tmp/preun.log" 2>&1
	kept=yes
	for l in $test_links; do exists "$l" || kept=no; done
	[ $kept = yes ] && ok "rpm %preun on upgrade: the links kept" || fail "rpm %preun on upgrade removed links: $(cat "$tmp/preun.log")"
	sh "$tmp/preun" 0 > "$tmp/preun.log" 2>&1
	links_gone "rpm %preun on erase" installed
	make_links
fi
echo "== apt-get remove qrexec-proxy"
$apt remove qrexec-proxy > "$tmp/remove.log" 2>&1 && ok "apt-get remove" ||
	{ tail -n 30 "$tmp/remove.log"; fail "apt-get remove (log above)"; }
links_gone "apt-get remove" removed
grep -q "removed the link to $socket /usr/local/etc/qubes-rpc/qp-test.Copy" "$tmp/remove.log" &&
	ok "apt-get remove says which links it removed" || fail "apt-get remove does not name the links it removed"
echo "== apt-get purge qrexec-proxy qrexec-proxy-dev"
$apt purge qrexec-proxy qrexec-proxy-dev > "$tmp/purge.log" 2>&1 && ok "apt-get purge" ||
	{ tail -n 30 "$tmp/purge.log"; fail "apt-get purge (log above)"; }
dpkg-query -W -f='${Status}' qrexec-proxy 2>/dev/null | grep -q 'installed\|config-files' &&
	fail "dpkg still knows qrexec-proxy: $(dpkg-query -W -f='${Status}' qrexec-proxy)"
warnings=$(cat "$tmp/install.log" "$tmp/remove.log" "$tmp/purge.log" | grep -i 'dpkg: warning\|dpkg-.*: warning')
[ -z "$warnings" ] && ok "no dpkg warning at install, remove or purge" || fail "dpkg warned: $warnings"
# Debian keeps the system users a package created: so does the package; the
# test removes what it made itself, to leave the machine as it found it
getent passwd qrexec-proxy >/dev/null && echo "    (purge kept user qrexec-proxy, as Debian does)"
[ $had_user = no ] && getent passwd qrexec-proxy >/dev/null && userdel qrexec-proxy
[ $had_group = no ] && getent group qrexec-proxy >/dev/null && groupdel qrexec-proxy
[ $had_qubes = no ] && getent group qubes >/dev/null && groupdel qubes
# left behind: a path of the packages (dpkg -L), of their maintainer
# scripts or of the links, there now and not before the install
sort -u "$tmp/theirs" "$tmp/dpkg-L" > "$tmp/all"
: > "$tmp/left"
while read -r p; do
	exists "$p" && ! grep -qxF "$p" "$tmp/there-before" && echo "$p" >> "$tmp/left"
done < "$tmp/all"
if [ -s "$tmp/left" ]; then
	sed 's/^/    /' "$tmp/left"
	fail "left behind after purge (above)"
else
	ok "nothing left behind after purge: $(wc -l < "$tmp/all") paths of the packages, their scripts and the links checked"
fi
# what this test made, whatever the packages did
rm -f $decoys
for l in $test_links; do [ "$(readlink "$l")" = "$socket" ] && rm -f "$l"; done
for d in $made_dirs; do rmdir "$d" 2>/dev/null; done
finish
