#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The units and the Qubes integration as built: the socket and the service
# start only where the Qubes service is enabled, unless configured with
# --disable-qubes-service-condition (QP_QUBES_SERVICE_CONDITION=no); systemd
# accepts both units (systemd-analyze verify, when there is one); the
# bind-dirs snippet is what bind-dirs.sh can read (bash -n, then sourced).
# Automake's test protocol: exit 0 passes, 1 fails.
set -u
B=${QP_BUILDDIR:?}
fail() { echo "FAIL: $*"; exit 1; }
cond='ConditionPathExists=/run/qubes-service/qrexec-proxy'
for u in socket service; do
	f=$B/systemd/qrexec-proxy.$u
	[ -f "$f" ] || fail "no $f"
	if [ "${QP_QUBES_SERVICE_CONDITION:-yes}" = no ]; then
		grep -q '^ConditionPathExists=' "$f" && fail "$f has a condition, though configured without"
		echo "ok: qrexec-proxy.$u starts wherever it is enabled (--disable-qubes-service-condition)"
	else
		[ "$(grep -c "^$cond\$" "$f")" = 1 ] || fail "$f lacks $cond"
		sed -n '/^\[Unit\]/,/^\[/p' "$f" | grep -q "^$cond\$" || fail "$cond is not in the [Unit] section of $f"
		echo "ok: qrexec-proxy.$u has $cond"
	fi
done

# issue 14: a bad file cannot fail the start, nor a crash loop remove the
# socket; reload has a verdict; nothing under /run, /dev/shm, /dev/mqueue
# is writable by the service
svc=$B/systemd/qrexec-proxy.service
key() { sed -n "/^\[$1\]/,/^\[/p" "$svc" | grep -c "^$2\$"; }
grep -q '^ExecStartPre=.*qrexec-proxy check' "$svc" && fail "$svc still runs check before the start"
[ "$(key Unit 'StartLimitIntervalSec=0')" = 1 ] || fail "$svc: no StartLimitIntervalSec=0 in [Unit]"
[ "$(key Service 'Restart=on-failure')" = 1 ] || fail "$svc: no Restart=on-failure"
[ "$(key Service 'RestartSec=1s')" = 1 ] || fail "$svc: no RestartSec=1s (paces a crash loop below the socket's trigger limit)"
grep -q '^ExecReload=.*/qrexec-proxy reload --pid \$MAINPID$' "$svc" || fail "$svc: ExecReload= is not qrexec-proxy reload"
grep -q '/bin/kill' "$svc" && fail "$svc still uses kill"
[ "$(key Service 'ReadOnlyPaths=/run')" = 1 ] || fail "$svc: /run is not read-only"
grep -q '^TemporaryFileSystem=/dev/shm:ro /dev/mqueue:ro$' "$svc" || fail "$svc: /dev/shm, /dev/mqueue not covered"
[ "$(key Service 'PrivateIPC=yes')" = 1 ] || fail "$svc: no PrivateIPC=yes"
grep -q '^TriggerLimit' "$B/systemd/qrexec-proxy.socket" && fail "the socket's trigger limit is changed: see the comment on StartLimitIntervalSec="
echo "ok: no check before the start, no start limit, paced restarts, reload with a verdict, /run, /dev/shm, /dev/mqueue read-only"

# the service reaches the agent through group qubes: systemd gives User= its
# groups from /etc/group, where the sysusers.d entry puts it (the unit names
# no SupplementaryGroups=, which systemd-analyze security counts)
users=$B/systemd/qrexec-proxy.conf
user=$(sed -n 's/^User=//p' "$svc")
[ -n "$user" ] || fail "$svc: no User="
grep -q "^m $user qubes\$" "$users" || fail "$users does not put $user in group qubes"
grep -q '^SupplementaryGroups=' "$svc" && fail "$svc: SupplementaryGroups= is redundant with $users"
echo "ok: $user is in group qubes by $users"

tmp=$(mktemp -d /tmp/qp-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# issue 24: an OOM kill inside a sandbox stops nothing but its connection,
# the OOM killer takes filters before the daemon, and the defaults' worst
# case of tasks fits TasksMax= (qrexec-proxy check computes it)
[ "$(key Service 'OOMPolicy=continue')" = 1 ] || fail "$svc: no OOMPolicy=continue (an OOM kill in a sandbox would stop the service)"
sed -n '/^\[Service\]/,/^\[/p' "$svc" | grep -q '^OOMScoreAdjust=-[1-9][0-9]*$' || fail "$svc: no negative OOMScoreAdjust="
grep -q '^Delegate=' "$svc" && fail "$svc: Delegate= costs systemd-analyze security its 1.0: it is the drop-in's (qrexec-proxy-cgroups.conf)"
tasks=$(sed -n 's/^TasksMax=//p' "$svc")
printf 'chains: {a: {filters: []}}\n' > "$tmp/chains.yaml"
need=$("$B/qrexec-proxy" check --config "$tmp/chains.yaml" 2>/dev/null | sed -n 's/^tasks at worst: \([0-9]*\), under the unit.s TasksMax=\([0-9]*\)$/\1 \2/p')
[ -n "$need" ] || fail "qrexec-proxy check does not say that the defaults' tasks fit under TasksMax="
[ "${need#* }" = "$tasks" ] || fail "qrexec-proxy check compares with TasksMax=${need#* }, the unit has $tasks"
[ "${need% *}" -le "$tasks" ] || fail "the defaults may need ${need% *} tasks, more than TasksMax=$tasks"
echo "ok: OOMPolicy=continue, OOMScoreAdjust= negative, no Delegate=, the defaults' ${need% *} tasks at worst under TasksMax=$tasks"
if command -v systemd-analyze >/dev/null 2>&1; then
	# the programs as built, not as they will be installed
	for u in socket service; do
		sed -e "s|^\(Exec[A-Za-z]*=\)[^ ]*/qrexec-proxy |\1$B/qrexec-proxy |" "$B/systemd/qrexec-proxy.$u" > "$tmp/qrexec-proxy.$u"
	done
	(cd "$tmp" && systemd-analyze verify --man=no ./qrexec-proxy.socket ./qrexec-proxy.service) > "$tmp/verify" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$tmp/verify")"
	# warnings are not failures for systemd-analyze; here they are
	[ -s "$tmp/verify" ] && fail "systemd-analyze verify says: $(cat "$tmp/verify")"
	echo "ok: systemd-analyze verify accepts both units"
else
	echo "(no systemd-analyze: the units are not verified)"
fi

snippet=$B/qubes/50_qrexec-proxy.conf
[ -f "$snippet" ] || fail "no $snippet"
command -v bash >/dev/null 2>&1 || { echo "ok (no bash: bind-dirs snippet not read)"; exit 0; }
bash -n "$snippet" || fail "bash -n $snippet"
got=$(bash -c 'binds=(); source "$1"; printf "%s\n" "${binds[@]}"' sh "$snippet") || fail "sourcing $snippet"
want=$(sed -n "s/^binds+=( '\(.*\)' )\$/\1/p" "$snippet")
[ "$got" = "$want" ] && [ "$(echo "$got" | wc -l)" = 2 ] || fail "bind-dirs reads '$got' from $snippet"
echo "$got" | grep -q '/qrexec-proxy$' || fail "$snippet binds '$got'"
echo "ok: bind-dirs binds $(echo "$got" | tr '\n' ' ')"
exit 0
