#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# make demo: qrexec-proxy serve on a local socket, with conf/demo.yaml and a
# stand-in destination, and a few calls as qrexec-agent would make them.
set -eu
B=${QP_BUILDDIR:?}
S=${QP_SRCDIR:?}
dir=$(mktemp -d /tmp/qrexec-proxy-demo.XXXXXX)
mkdir -p "$dir/state"
# the one directory admission checks may write (systemd's StateDirectory=);
# a daemon run as root runs its sandboxes as nobody, who must reach it
export STATE_DIRECTORY="$dir/state"
if [ "$(id -u)" = 0 ]; then chmod 755 "$dir"; chown nobody "$dir/state"; fi
sed -e "s|@B@|$B|g" -e "s|@STATE@|$dir/state|g" "$S/conf/demo.yaml" > "$dir/chains.yaml"
sock="$dir/qrexec-proxy.sock"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

echo "== qrexec-proxy links: the transparent services, as links to the socket (here in a demo directory)"
"$B/qrexec-proxy" links --config "$dir/chains.yaml" --dir "$dir/qubes-rpc" --socket "$sock"
echo "== qrexec-proxy check"
QREXEC_PROXY_RPC_DIRS="$dir/qubes-rpc" "$B/qrexec-proxy" check --config "$dir/chains.yaml" --socket "$sock"
allow=
[ "$(id -u)" = 0 ] && allow=--allow-root
"$B/qrexec-proxy" serve --config "$dir/chains.yaml" --socket "$sock" --log stderr $allow 2>"$dir/daemon.log" &
pid=$!
for i in $(seq 100); do grep -q serving "$dir/daemon.log" 2>/dev/null && break; sleep 0.05; done

call() { # call CHAIN SERVICE INPUT
	printf '%s' "$3" | "$B/t/qrexec-call" "$sock" "qrexec-proxy+$1+work+$2 personal"
}
show() { printf '%s\n' "== $1"; }

show "echo through the 'pass' chain (caller: personal, target: work, service test.Echo)"
echo "   answer: [$(call pass test.Echo 'hello, work')]"
show "one-way chain: the data reaches work, nothing comes back"
echo "   answer: [$(call one-way-to-dst test.Echo 'secret for work')]"
show "byte-limit 16 both ways"
echo "   answer: [$(call limited test.Echo 'this is far longer than sixteen bytes')]"
show "sniff: traffic in the log, unchanged on the wire"
echo "   answer: [$(call sniffed test.Echo 'watched')]"
show "count --limit 2: the third call within a minute is refused before work is contacted"
for i in 1 2 3; do echo "   call $i answer: [$(call rate-limited test.Echo "call $i")]"; done
show "an unknown chain is refused (immediate EOF)"
echo "   answer: [$(call no-such-chain test.Echo 'x')]"
show "transparent: a plain test.Echo call from personal (no chain, no target named) goes to work through 'limited'"
echo "   answer: [$(printf '%s' 'redirected by dom0, cut at sixteen bytes' | "$B/t/qrexec-call" "$sock" "test.Echo+ personal")]"
show "transparent: the same service from a source no entry takes is refused"
echo "   answer: [$(printf '%s' 'x' | "$B/t/qrexec-call" "$sock" "test.Echo+ stranger")]"
show "half-close: test.Hash answers only after the caller's EOF"
echo "   answer: [$(head -c 1048576 /dev/zero | "$B/t/qrexec-call" "$sock" "qrexec-proxy+pass+work+test.Hash personal")]"

kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo
echo "== the daemon's log (the journal, under systemd)"
sed 's/^<[0-9]>//' "$dir/daemon.log"
