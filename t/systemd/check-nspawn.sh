#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The units under a real systemd 252 (issue 14): a Debian 12 root built
# once with debootstrap (cached in $QP_NSPAWN_CACHE), a copy booted with
# systemd-nspawn -b, the build installed into it (make install DESTDIR=),
# then: a broken file at start keeps the socket and refuses calls, the
# fixed file is taken on reload; reload fails on a rejected file and the
# status text follows every reload; every summary is in journalctl -u;
# /run, /dev/shm, /dev/mqueue are not writable by the service; a crash
# loop of the listener does not remove the socket.
# Needs root, debootstrap, systemd-nspawn, nsenter and the Debian mirror;
# exit 77 (skipped) when one is missing. Ends with "N passed, M failed".
set -u
B=${QP_BUILDDIR:?}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root"
for c in debootstrap systemd-nspawn nsenter; do
	command -v $c >/dev/null 2>&1 || skip "no $c"
done
mirror=${QP_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\/*\)$/\1/p; s/^deb \(http[^ ]*debian\/*\) .*/\1/p' \
	/etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
cache=${QP_NSPAWN_CACHE:-/var/tmp/qp-nspawn-bookworm}
if [ ! -x "$cache/bin/systemctl" ]; then
	rm -rf "$cache.new"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libyaml-0-2,libseccomp2,util-linux \
		bookworm "$cache.new" "$mirror" > "$cache.log" 2>&1 || skip "debootstrap from $mirror failed (see $cache.log)"
	mv "$cache.new" "$cache"
fi

tmp=$(mktemp -d /var/tmp/qp-nspawn.XXXXXX)
root=$tmp/root
nspawn=
cleanup() {
	[ -n "$nspawn" ] && kill "$nspawn" 2>/dev/null && wait "$nspawn" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
cp -a "$cache" "$root" || skip "unable to copy $cache"
make -C "$B" install DESTDIR="$root" > "$tmp/install.log" 2>&1 || { echo "FAIL: make install (see $tmp/install.log)"; exit 1; }
mkdir -p "$root/usr/local/libexec/qp-test"
cp "$B/t/fake-connector" "$B/t/qrexec-call" "$root/usr/local/libexec/qp-test/"

systemd-nspawn -q -D "$root" -b --register=no --keep-unit > "$tmp/boot.log" 2>&1 &
nspawn=$!
# the container's init: nspawn's child
leader=
for _ in $(seq 100); do
	leader=$(pgrep -P "$nspawn" | head -n 1)
	[ -n "$leader" ] && break
	sleep 0.1
done
[ -n "$leader" ] || skip "systemd-nspawn did not boot here (see $tmp/boot.log)"
inside() { nsenter -t "$leader" -a -- "$@"; }
inside systemctl is-system-running --wait > /dev/null 2>&1
inside sh -c 'getent group qubes >/dev/null || groupadd -r qubes' && inside systemd-sysusers ||
	{ echo "FAIL: users"; exit 1; }

pass=0 failed=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
no() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { what=$1; shift; if "$@" > /dev/null 2>&1; then ok "$what"; else no "$what"; fi; }

conf=/usr/local/etc/qrexec-proxy/chains.yaml
good='connector: ["/usr/local/libexec/qp-test/fake-connector", "{target}", "{service}"]
filter_path: ["/usr/local/libexec/qrexec-proxy/filters"]
chains:
  pass1: {filters: [pass]}
'
put() { printf '%s' "$1" | inside sh -c "cat > $conf"; }
call() { printf hello | inside /usr/local/libexec/qp-test/qrexec-call /run/qrexec-proxy.sock "qrexec-proxy+$1+target-vm+test.Echo src"; }
status() { inside systemctl show -p StatusText --value qrexec-proxy; }

# 1. a broken file at start
put "$good  broken: {filters: [no-such-filter]}
"
inside systemctl start qrexec-proxy.socket
check "refused while broken (EOF)" test -z "$(call pass1)"
check "service active with a broken file" inside systemctl is-active qrexec-proxy
check "socket active" inside systemctl is-active qrexec-proxy.socket
check "FILE:LINE:COL in the journal" sh -c "nsenter -t $leader -a -- journalctl -u qrexec-proxy -o cat | grep -q '$conf:5:'"
check "status says refusing" sh -c "[ \"\$(nsenter -t $leader -a -- systemctl show -p StatusText --value qrexec-proxy)\" = 'refusing every call: $conf is invalid; fix it, then reload' ]"
put "$good"
check "reload takes the fixed file" inside systemctl reload qrexec-proxy
check "served after the reload" test "$(call pass1)" = hello

# 2. reload tells the truth
put "chains: {x: {filters: [no-such-filter]}}
"
if inside systemctl reload qrexec-proxy > /dev/null 2>&1; then no "reload of a rejected file fails"; else ok "reload of a rejected file fails"; fi
check "old configuration kept" test "$(call pass1)" = hello
put "$good  pass2: {filters: [pass, pass]}
"
check "reload of a good file" inside systemctl reload qrexec-proxy
check "status after reload" test "$(status)" = "serving 2 chains and 0 transparent entries from $conf"

# 3. every summary in journalctl -u
n=1000
inside journalctl --sync
before=$(inside journalctl -u qrexec-proxy -o cat | grep -c ' result=ok ')
for _ in $(seq $n); do call pass2 > /dev/null; done
inside journalctl --sync
got=$(( $(inside journalctl -u qrexec-proxy -o cat | grep -c ' result=ok ') - before ))
check "journalctl -u has $n summaries ($got)" test "$got" = "$n"

# 4. nothing writable under /run, /dev/shm, /dev/mqueue
main=$(inside systemctl show -p MainPID --value qrexec-proxy)
for p in /run/lock /run /dev/shm /dev/mqueue; do
	if inside nsenter -t "$main" -m -- setpriv --reuid=qrexec-proxy --regid=qrexec-proxy --clear-groups \
		touch "$p/qp-write-test" > /dev/null 2>&1; then no "$p writable by the service"; else ok "$p not writable"; fi
done

# a crash loop of the listener leaves the socket
for _ in $(seq 8); do
	main=$(inside systemctl show -p MainPID --value qrexec-proxy)
	[ "$main" -gt 0 ] 2>/dev/null && inside systemctl kill --signal=SIGKILL --kill-who=main qrexec-proxy
	call pass1 > /dev/null 2>&1
done
check "socket still active after 8 kills" inside systemctl is-active qrexec-proxy.socket
check "served after the crash loop" test "$(call pass1)" = hello

echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
