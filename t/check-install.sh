#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# make install, twice, into a temporary root: an edited chains.yaml is kept
# (the example goes to chains.yaml.new), the directories the daemon and
# count need are made; make uninstall leaves only what the administrator
# changed. Automake's test protocol: exit 0 passes.
set -u
B=${QP_BUILDDIR:?}
root=$(mktemp -d /tmp/qp-install.XXXXXX)
trap 'rm -rf "$root"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
unset MAKEFLAGS MFLAGS
make -s -C "$B" install-conf DESTDIR="$root" >"$root/log1" 2>&1 || fail "first install: $(cat "$root/log1")"
cfg=$(find "$root" -path '*/qrexec-proxy/chains.yaml')
[ -f "$cfg" ] || fail "no chains.yaml installed"
d=$(dirname "$cfg")
[ -d "$d/chains.d" ] || fail "no chains.d made"
[ -n "$(find "$root" -type d -path '*/lib/qrexec-proxy')" ] || fail "no state directory made"
echo "# edited by the administrator" >> "$cfg"
cp "$cfg" "$root/edited"
make -s -C "$B" install-conf DESTDIR="$root" >"$root/log2" 2>&1 || fail "second install: $(cat "$root/log2")"
cmp -s "$cfg" "$root/edited" || fail "the edited chains.yaml was overwritten"
[ -f "$cfg.new" ] || fail "no chains.yaml.new"
grep -q "was edited: kept" "$root/log2" || fail "make install did not say so: $(cat "$root/log2")"
make -s -C "$B" uninstall-local DESTDIR="$root" >"$root/log3" 2>&1 || fail "uninstall: $(cat "$root/log3")"
cmp -s "$cfg" "$root/edited" || fail "uninstall removed the edited chains.yaml"
[ ! -e "$cfg.new" ] || fail "uninstall left chains.yaml.new"
echo "ok: install keeps an edited chains.yaml"
exit 0
