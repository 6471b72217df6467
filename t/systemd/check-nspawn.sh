#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The units under a real systemd 252 (issue 14): a Debian 12 root built
# once with debootstrap (cached in $QP_NSPAWN_CACHE), a copy booted with
# systemd-nspawn -b, the build installed into it (make install DESTDIR=),
# then, under the hardened unit as installed:
#   - systemd-analyze security rates it 1.0 or less;
#   - socket activation: the service starts at the first call, not before;
#   - the service's user: qrexec-proxy, in group qubes, no capabilities,
#     no-new-privs, seccomp; every process of the unit runs as that user;
#   - chains of built-ins with their own lock-down (count as admission
#     check, sniff, streamline, byte-limit, timeout, pass), a third-party
#     filter, a connector reaching an agent's AF_UNIX socket under /run
#     through group qubes, a call from the default user: the data checked;
#   - a broken file at start keeps the socket and refuses calls, the fixed
#     file is taken on reload; reload fails on a rejected file and the
#     status text follows every reload; every summary is in journalctl -u,
#     with its QP_* fields;
#   - /run, /dev/shm, /dev/mqueue are not writable by the service;
#   - systemctl stop lets a running call finish its data, then nothing of
#     the unit is left; kill -9 of the listener with calls queued: the
#     next calls are served; a crash loop does not remove the socket;
#   - resources (issue 24): OOMPolicy=continue and a negative
#     OOMScoreAdjust= for the listener, every process of a sandbox at
#     oom_score_adj 1000; a filter killed by a SIGKILL its supervisor did
#     not send (the test plays the kernel) ends its connection,
#     result=failed, and the service runs on, not restarted; a memory hog
#     stops at its chain's memory_max; under a MemoryMax= where the
#     container's cgroup has the memory controller, a hog of many small
#     processes does not stop the service (where it has none, as on
#     cgroup v1 and hybrid hosts, the check says so); the drop-in of
#     qrexec-proxy(1) (Delegate=yes) gives the daemon its cgroup subtree.
# Every wait is a poll with a deadline, never a fixed sleep.
# Needs root, debootstrap, systemd-nspawn, nsenter and the Debian mirror;
# exits 77 after "check-systemd: skipped: WHY" when one is missing or the
# container does not boot here. Ends with "N passed, M failed".
set -u
B=${QP_BUILDDIR:?}
skip() { echo "check-systemd: skipped: $*"; exit 77; }
# a failure before the checks: as much a failure as a check's
setup_failed() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
[ "$(id -u)" = 0 ] || skip "not root"
for c in debootstrap systemd-nspawn nsenter flock; do
	command -v $c >/dev/null 2>&1 || skip "no $c"
done
mirror=${QP_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\/*\)$/\1/p; s/^deb \(http[^ ]*debian\/*\) .*/\1/p' \
	/etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
cache=${QP_NSPAWN_CACHE:-/var/tmp/qp-nspawn-bookworm}
# one debootstrap at a time, however many runs (other checkouts') start together
exec 9> "$cache.lock"
flock -w 900 9 || skip "another run has held $cache.lock for 15 minutes"
if [ ! -x "$cache/bin/systemctl" ]; then
	rm -rf "$cache.new"
	echo "debootstrap of Debian 12 from $mirror into $cache (once per machine)"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libyaml-0-2,libseccomp2,util-linux \
		bookworm "$cache.new" "$mirror" > "$cache.log" 2>&1 ||
		skip "debootstrap from $mirror failed: $(tail -n 1 "$cache.log") (see $cache.log)"
	mv "$cache.new" "$cache"
fi
exec 9>&-

tmp=$(mktemp -d /var/tmp/qp-nspawn.XXXXXX)
root=$tmp/root
nspawn=
bg_pids=
cgdirs=
cleanup() {
	for p in $bg_pids; do kill "$p" 2>/dev/null; done
	if [ -n "$nspawn" ] && kill "$nspawn" 2>/dev/null; then
		# a clean power-off first, then no more waiting
		for _ in $(seq 300); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$nspawn" 2>/dev/null
		wait "$nspawn" 2>/dev/null
	fi
	for d in $cgdirs; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cp -a "$cache" "$root" || skip "unable to copy $cache"
make -C "$B" install DESTDIR="$root" > "$tmp/install.log" 2>&1 ||
	{ tail -n 20 "$tmp/install.log"; setup_failed "make install DESTDIR=$root"; }
mkdir -p "$root/usr/local/libexec/qp-test" "$root/usr/local/lib/qp-test-filters"
cp "$B/t/fake-connector" "$B/t/qrexec-call" "$B/t/hostile-filter" "$root/usr/local/libexec/qp-test/"
# a third-party filter: a script, run by dynamically linked programs
printf '#!/bin/sh\nexec tr a-z A-Z\n' > "$root/usr/local/lib/qp-test-filters/upper"
chmod 755 "$root/usr/local/lib/qp-test-filters/upper"
# a stand-in for the qrexec agent's socket: root:qubes 0660 under /run, an echo
cat > "$root/etc/systemd/system/qp-test-agent.socket" <<'EOF'
[Socket]
ListenStream=/run/qubes/qp-test-agent
SocketUser=root
SocketGroup=qubes
SocketMode=0660
Accept=yes
EOF
cat > "$root/etc/systemd/system/qp-test-agent@.service" <<'EOF'
[Service]
ExecStart=/bin/cat
StandardInput=socket
StandardOutput=socket
StandardError=journal
EOF

# A cgroup of its own for the container: with --keep-unit, nspawn puts it
# in "payload" beneath its own cgroup, so two containers started from one
# cgroup (a root shell's, "/") would share every unit's cgroup, and the
# systemd of one would count, and at a stop kill, the other's processes.
# Under a host systemd that is a scope; otherwise a directory of our own
# in each hierarchy nspawn uses (name=systemd and unified, or the v2 one).
name=qp-check-${tmp##*.}
in_cgroup=
if [ -d /run/systemd/system ] && systemd-run --quiet --scope --unit="$name-probe" true > /dev/null 2>&1; then
	in_cgroup="systemd-run --quiet --scope --unit=$name"
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	mkdir "/sys/fs/cgroup/$name" 2>/dev/null && cgdirs=/sys/fs/cgroup/$name
else
	for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
		[ -d "$h" ] && mkdir "$h/$name" 2>/dev/null && cgdirs="$cgdirs $h/$name"
	done
fi
[ -n "$in_cgroup$cgdirs" ] || echo "(no cgroup of its own for the container: another container started from here may disturb it)"

boot_start=$(date +%s)
# a machine name of its own too: nspawn keys its state under /run by it,
# and another container named after its directory ("root") would share it
# shellcheck disable=SC2016
$in_cgroup sh -c 'for d in $1; do echo $$ > "$d/cgroup.procs" || exit 111; done; shift; exec "$@"' \
	sh "$cgdirs" systemd-nspawn -q -D "$root" -M "$name" -b --register=no --keep-unit > "$tmp/boot.log" 2>&1 &
nspawn=$!
# booted: the container's init (nspawn's child) says running (or degraded)
leader='' state=''
end=$((boot_start + 120))
while [ "$(date +%s)" -lt "$end" ] && kill -0 "$nspawn" 2>/dev/null; do
	# nspawn's child (its first child may be a helper that exits)
	leader=$(pgrep -P "$nspawn" | head -n 1)
	if [ -n "$leader" ]; then
		state=$(nsenter -t "$leader" -a -- systemctl is-system-running 2>/dev/null)
		case "$state" in running|degraded) break ;; esac
	fi
	sleep 0.1
done
case "$state" in
running|degraded) ;;
*) skip "systemd-nspawn did not boot a container here (state '$state'): $(tail -n 3 "$tmp/boot.log" | tr '\n' ' ')" ;;
esac
echo "container booted in $(($(date +%s) - boot_start)) s ($state)"
inside() { nsenter -t "$leader" -a -- "$@"; }
inside sh -c 'getent group qubes >/dev/null || groupadd -r qubes' && inside systemd-sysusers &&
	inside useradd -m -G qubes user && inside systemctl start qp-test-agent.socket ||
	setup_failed "the users and the agent's stand-in in the container"

pass=0 failed=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
no() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { what=$1; shift; if "$@" > /dev/null 2>&1; then ok "$what"; else no "$what"; fi; }
# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds; false after SECONDS
wait_until() {
	end=$(($(date +%s) + $1)); shift
	until "$@" > /dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
# bg NAME COMMAND: runs the shell command in the background; its status in $tmp/NAME.rc at the end
bg() { sh -c "$2; echo \$? > $tmp/$1.rc" & bg_pids="$bg_pids $!"; }
# bg_call NAME CHAIN SERVICE INPUT: a call in the background, its answer in $tmp/NAME.out
bg_call() {
	bg "$1" "printf '$4' | nsenter -t $leader -a -- /usr/local/libexec/qp-test/qrexec-call /run/qrexec-proxy.sock \
		'qrexec-proxy+$2+target-vm+$3 src' > $tmp/$1.out"
}
# ended SECONDS NAME...: whether all these background commands end within SECONDS
ended() {
	t=$1; shift
	for j in "$@"; do wait_until "$t" test -f "$tmp/$j.rc" || return 1; done
}

conf=/usr/local/etc/qrexec-proxy/chains.yaml
status_cmd=/usr/local/bin/qrexec-proxy
good='connector: ["/usr/local/libexec/qp-test/fake-connector", "{target}", "{service}"]
filter_path: ["/usr/local/libexec/qrexec-proxy/filters"]
chains:
  pass1: {filters: [pass]}
  full:
    admit:
      - name: count
        args: ["--limit", "2", "--interval", "3600", "--per-source"]
    filters:
      - name: sniff
        args: ["--format", "hex"]
      - name: streamline
        args: ["--buffer-size", "64K", "--max-read-delay", "0.01", "--max-write-delay", "0.01"]
      - name: byte-limit
        args: ["1M"]
      - name: timeout
        args: ["--seconds", "60", "--idle", "30"]
      - pass
  cut:
    filters:
      - name: byte-limit
        args: ["1000"]
        direction: src2dst
      - pass
  short:
    filters:
      - name: timeout
        args: ["--seconds", "1"]
  upper:
    filters: [pass, /usr/local/lib/qp-test-filters/upper]
  agent:
    connector: ["/usr/local/libexec/qp-test/qrexec-call", "/run/qubes/qp-test-agent", "{service} {source}"]
    filters: [pass]
  one: {filters: [pass], max_connections: 1, queue_timeout: 60}
'
nchains=7
put() { printf '%s' "$1" | inside sh -c "cat > $conf"; }
# call CHAIN SERVICE: a call as qrexec-agent makes it (root), stdin to stdout
call() { inside /usr/local/libexec/qp-test/qrexec-call /run/qrexec-proxy.sock "qrexec-proxy+$1+target-vm+$2 src"; }
hello() { printf hello | call "$1" test.Echo; }
status() { inside systemctl show -p StatusText --value qrexec-proxy; }
main_pid() { inside systemctl show -p MainPID --value qrexec-proxy; }
# the unit's cgroup, where the container mounts it (unified, or hybrid as systemd 252 does on some hosts)
cgroup=
find_cgroup() {
	cg=$(inside systemctl show -p ControlGroup --value qrexec-proxy)
	for d in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
		[ -n "$cg" ] && inside test -f "$d$cg/cgroup.procs" && cgroup=$d$cg && return 0
	done
	return 1
}
# the unit's processes (none when its cgroup is gone)
unit_pids() { inside cat "$cgroup/cgroup.procs" 2>/dev/null; }
# none of these processes is alive
all_gone() { for p in "$@"; do ! inside test -d "/proc/$p" || return 1; done; }
# the listener's book: "N running, M queued, ..."
book() { inside "$status_cmd" status 2>/dev/null | grep -E "^[0-9]+ running, " | tail -n 1; }
book_says() { book | grep -q "^$1"; }
journal() { inside journalctl -u qrexec-proxy -o cat; }
journal_has() { journal | grep -q -- "$1"; }
field() { sed -n "s/^$1:[[:space:]]*//p" "$2"; }

# 1. the score
put "$good"
inside systemd-analyze security --no-pager qrexec-proxy.service > "$tmp/security" 2>&1
score=$(sed -n 's/.*Overall exposure level for qrexec-proxy.service: \([0-9.]*\).*/\1/p' "$tmp/security")
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 1.0) }'; then
	ok "systemd-analyze security: exposure $score (1.0 or less)"
else
	no "systemd-analyze security: exposure '$score', more than 1.0; it counts against the unit:"
	grep '✗' "$tmp/security" | sed 's/^/    /'
fi

# 2. socket activation
inside systemctl start qrexec-proxy.socket
check "socket active" inside systemctl is-active qrexec-proxy.socket
check "service not started before the first call" sh -c "[ \"\$(nsenter -t $leader -a -- systemctl is-active qrexec-proxy)\" = inactive ]"
check "the first call served" test "$(hello pass1)" = hello
check "service active after it" inside systemctl is-active qrexec-proxy

# 3. the service's user
main=$(main_pid)
inside cat "/proc/$main/status" > "$tmp/main.status" 2>/dev/null
svc_uid=$(inside id -u qrexec-proxy) qubes_gid=$(inside getent group qubes | cut -d: -f3)
check "listener runs as qrexec-proxy ($svc_uid)" test "$(field Uid "$tmp/main.status")" = "$svc_uid	$svc_uid	$svc_uid	$svc_uid"
check "its groups include qubes ($qubes_gid)" awk -v g="$qubes_gid" \
	'$1 == "Groups:" { for (i = 2; i <= NF; i++) if ($i == g) f = 1 } END { exit !f }' "$tmp/main.status"
check "the unit's cgroup found" find_cgroup
check "no capabilities (CapEff, CapPrm 0)" sh -c "grep -q '^CapEff:[[:space:]]*0*\$' $tmp/main.status && grep -q '^CapPrm:[[:space:]]*0*\$' $tmp/main.status"
check "NoNewPrivs 1" test "$(field NoNewPrivs "$tmp/main.status")" = 1
check "Seccomp 2 (filter)" test "$(field Seccomp "$tmp/main.status")" = 2

# 4. chains under the hardened unit, the data checked
head -c 300000 /dev/urandom > "$tmp/in"
want=$(sha256sum < "$tmp/in")
for i in 1 2; do
	check "count+sniff+streamline+byte-limit+timeout+pass: 300000 bytes back unchanged ($i of 2)" \
		test "$(call full test.Echo < "$tmp/in" | sha256sum)" = "$want"
done
check "count refuses the third call (EOF)" test -z "$(call full test.Echo < "$tmp/in")"
check "journalctl -u qrexec-proxy QP_RESULT=refused QP_CHAIN=full: by count" \
	wait_until 60 sh -c "nsenter -t $leader -a -- journalctl -u qrexec-proxy QP_RESULT=refused QP_CHAIN=full -o cat | grep -q 'refused by admit count'"
call cut test.Echo < "$tmp/in" > "$tmp/cut.out"
check "byte-limit 1000: the first 1000 bytes, no more" sh -c "head -c 1000 $tmp/in | cmp -s - $tmp/cut.out"
t0=$(date +%s)
check "timeout 1 s ends a call whose destination answers after 5 s (EOF)" test -z "$(printf hi | call short test.Sleep+5)"
check "... before the destination's answer" test $(($(date +%s) - t0)) -lt 5
check "... its summary says aborted by timeout" \
	wait_until 60 sh -c "nsenter -t $leader -a -- journalctl -u qrexec-proxy QP_CHAIN=short -o cat | grep -q 'result=aborted reason=\"filter timeout#1'"
check "a third-party filter (a script)" test "$(hello upper)" = HELLO
printf 'test.Echo src\0hello' > "$tmp/agent.want"
hello agent > "$tmp/agent.out"
check "the connector reaches an agent's socket under /run (root:qubes 0660)" cmp -s "$tmp/agent.want" "$tmp/agent.out"
check "a call from the default user (fork server, group qubes)" test "$(printf hello | inside setpriv --reuid=user \
	--regid=user --init-groups /usr/local/libexec/qp-test/qrexec-call /run/qrexec-proxy.sock \
	'qrexec-proxy+pass1+target-vm+test.Echo src')" = hello

# 5. a broken file at start
inside systemctl stop qrexec-proxy > /dev/null 2>&1
put "$good  broken: {filters: [no-such-filter]}
"
check "refused while broken (EOF)" test -z "$(hello pass1)"
check "service active with a broken file" inside systemctl is-active qrexec-proxy
check "socket active" inside systemctl is-active qrexec-proxy.socket
check "FILE:LINE:COL in the journal" wait_until 60 journal_has "$conf:$(($(printf '%s' "$good" | wc -l) + 1)):"
check "status says refusing" test "$(status)" = "refusing every call: $conf is invalid; fix it, then reload"
put "$good"
check "reload takes the fixed file" inside systemctl reload qrexec-proxy
check "served after the reload" test "$(hello pass1)" = hello

# 6. reload tells the truth
put "chains: {x: {filters: [no-such-filter]}}
"
if inside systemctl reload qrexec-proxy > /dev/null 2>&1; then no "reload of a rejected file fails"; else ok "reload of a rejected file fails"; fi
check "old configuration kept" test "$(hello pass1)" = hello
put "$good  pass2: {filters: [pass, pass]}
"
check "reload of a good file" inside systemctl reload qrexec-proxy
check "status after reload" test "$(status)" = "serving $((nchains + 1)) chains and 0 transparent entries from $conf"

# 7. every summary in journalctl -u
n=1000
inside journalctl --sync
before=$(journal | grep -c ' result=ok ')
for _ in $(seq $n); do call pass2 test.Echo < /dev/null > /dev/null; done
inside journalctl --sync
got=$(($(journal | grep -c ' result=ok ') - before))
check "journalctl -u has $n summaries ($got)" test "$got" = "$n"

# 8. nothing writable under /run, /dev/shm, /dev/mqueue
main=$(main_pid)
for p in /run/lock /run /dev/shm /dev/mqueue; do
	if inside nsenter -t "$main" -m -- setpriv --reuid=qrexec-proxy --regid=qrexec-proxy --clear-groups \
		touch "$p/qp-write-test" > /dev/null 2>&1; then no "$p writable by the service"; else ok "$p not writable"; fi
done

# 9. systemctl stop while a call runs: it finishes its data, then nothing is left
bg_call grace pass1 test.Sleep+3 grace
if wait_until 60 book_says "1 running"; then
	pids=$(unit_pids)
	others=
	for p in $pids; do
		u=$(inside sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$p/status" 2>/dev/null)
		[ -z "$u" ] || [ "$u" = "$svc_uid" ] || others="$others $p:$u"
	done
	check "every process of the unit runs as qrexec-proxy ($(echo $pids | wc -w) during a call)" \
		test -n "$pids" -a -z "$others"
	t0=$(date +%s)
	bg stop "nsenter -t $leader -a -- systemctl stop qrexec-proxy > $tmp/stop.out 2>&1"
	check "stop waits for the running call" wait_until 60 journal_has "stopping: no new connections; waiting for 1 running ones"
	check "the call in progress ends" ended 60 grace
	check "... with all its data" test "$(cat "$tmp/grace.out")" = grace
	check "systemctl stop completes" ended 60 stop
	check "... with success, after the call ($(($(date +%s) - t0)) s; grace 30 s)" test "$(cat "$tmp/stop.rc")" = 0
	check "service inactive" sh -c "[ \"\$(nsenter -t $leader -a -- systemctl is-active qrexec-proxy)\" = inactive ]"
	check "no process of the unit left" test -z "$(unit_pids)"
	check "none of its $(echo $pids | wc -w) processes alive" all_gone $pids
	check "no cgroup left" sh -c "! nsenter -t $leader -a -- test -d $cgroup"
	check "the call's summary: result=ok" wait_until 60 sh -c "nsenter -t $leader -a -- journalctl -u qrexec-proxy \
		QP_SERVICE=test.Sleep+3 -o cat | grep -q 'result=ok'"
else
	no "the call before the stop did not start ($(book))"
fi

# 10. kill -9 of the listener while calls are queued
check "a call starts the service again" test "$(hello pass1)" = hello
bg_call ka one test.Sleep+60 a
wait_until 60 book_says "1 running" && bg_call kb one test.Echo b && bg_call kc one test.Echo c
if wait_until 60 book_says "1 running, 2 queued"; then
	old=$(unit_pids) oldmain=$(main_pid)
	inside systemctl kill --signal=SIGKILL --kill-who=main qrexec-proxy
	# calls made while no listener runs wait in the socket's backlog
	bg_call kd pass1 test.Echo d
	bg_call ke pass1 test.Echo e
	check "the running and the queued calls end (no caller hangs)" ended 60 ka kb kc
	ended 60 kd ke
	check "calls made after the kill are served (d, e)" test "$(cat "$tmp/kd.out" "$tmp/ke.out" 2>/dev/null)" = de
	check "the next call is served" test "$(hello one)" = hello
	check "a new listener" sh -c "[ \"\$(nsenter -t $leader -a -- systemctl show -p MainPID --value qrexec-proxy)\" != $oldmain ]"
	nold=$(echo $old | wc -w)
	check "the killed listener's unit had the running and the queued calls' processes ($nold)" test "$nold" -ge 5
	check "... none of them left" wait_until 60 all_gone $old
	check "the journal says: killed, restarted" wait_until 60 sh -c "nsenter -t $leader -a -- journalctl -u qrexec-proxy \
		-o cat | grep -q \"Failed with result 'signal'\""
else
	no "calls did not queue ($(book))"
fi

# 11. a crash loop of the listener leaves the socket
for _ in $(seq 8); do
	main=$(main_pid)
	[ "$main" -gt 0 ] 2>/dev/null && inside systemctl kill --signal=SIGKILL --kill-who=main qrexec-proxy
	hello pass1 > /dev/null 2>&1
done
check "socket still active after 8 kills" inside systemctl is-active qrexec-proxy.socket
check "served after the crash loop" test "$(hello pass1)" = hello

# 12. resources (issue 24): the OOM killer takes filters, never the service
hf=/usr/local/libexec/qp-test/hostile-filter
put "$good  hog:
    memory_max: 64M
    filters: [{name: $hf, args: [mem-hog-one, \"256\"], direction: src2dst}]
  hold: {filters: [{name: $hf, args: [mem-hog-many, \"2\", \"1\"], direction: src2dst}]}
  many:
    memory_max: 64M
    filters: [{name: $hf, args: [mem-hog-many, \"40\", \"16\"], direction: src2dst}]
"
check "reload with the hostile chains" inside systemctl reload qrexec-proxy
check "OOMPolicy=continue" test "$(inside systemctl show -p OOMPolicy --value qrexec-proxy)" = continue
adj=$(inside systemctl show -p OOMScoreAdjust --value qrexec-proxy)
check "OOMScoreAdjust= negative ($adj)" test "$adj" -lt 0
ladj=$(inside cat "/proc/$(main_pid)/oom_score_adj")
# lowering a score takes CAP_SYS_RESOURCE, which a container's systemd may lack (nspawn's bounding set has none)
if inside sh -c 'echo -1 > /proc/self/oom_score_adj' 2>/dev/null; then
	check "the listener at oom_score_adj $adj" test "$ladj" = "$adj"
else
	echo "(no CAP_SYS_RESOURCE in the container: systemd cannot lower the listener's OOM score here, it stays $ladj, below the sandboxes' 1000 all the same)"
fi
restarts=$(inside systemctl show -p NRestarts --value qrexec-proxy)
oldmain=$(main_pid)
# unit_named COMM: the unit's processes of that name
unit_named() { for p in $(unit_pids); do [ "$(inside cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && echo "$p"; done; }
has_hog() { [ -n "$(unit_named hostile-hog)" ]; }
# a caller that keeps its input open: the filter stays, copying
bg ohold "(printf x; sleep 20) | nsenter -t $leader -a -- /usr/local/libexec/qp-test/qrexec-call /run/qrexec-proxy.sock \
	'qrexec-proxy+hold+target-vm+test.Echo src' > $tmp/ohold.out"
if wait_until 60 has_hog; then
	filt=$(unit_named hostile-filter | head -n 1) hog=$(unit_named hostile-hog | head -n 1)
	check "a filter at oom_score_adj 1000" test "$(inside cat "/proc/$filt/oom_score_adj")" = 1000
	check "what it forked at oom_score_adj 1000" test "$(inside cat "/proc/$hog/oom_score_adj")" = 1000
	# the kernel's part, played here: a SIGKILL no supervisor sent
	inside sh -c "kill -9 $filt"
	check "its connection ends" ended 60 ohold
	hold_says() { journal | grep 'chain=hold result=' | tail -n 1; }
	hold_failed() { hold_says | grep -q "result=failed reason=\"filter $hf#1 (src2dst) killed by signal 9 (SIGKILL), which its supervisor did not send"; }
	wait_until 60 hold_failed
	check "... result=failed, the SIGKILL named ($(hold_says | sed 's/.* result=/result=/' | cut -c1-160))" hold_failed
	check "the service runs on" inside systemctl is-active qrexec-proxy
	check "... not restarted (same listener, NRestarts $restarts)" test "$(main_pid).$(inside systemctl show -p NRestarts --value qrexec-proxy)" = "$oldmain.$restarts"
else
	no "the hostile chain's processes did not start: $(journal | grep -i 'hold\|hostile' | tail -n 5)"
fi
head -c 1000 /dev/urandom > "$tmp/small"
check "a memory hog's call is served" sh -c "nsenter -t $leader -a -- /usr/local/libexec/qp-test/qrexec-call /run/qrexec-proxy.sock \
	'qrexec-proxy+hog+target-vm+test.Echo src' < $tmp/small | cmp -s - $tmp/small"
held=$(journal | sed -n 's/.*mem-hog-one: allowed holds \([0-9]*\) MiB.*/\1/p' | tail -n 1)
check "... the hog stopped at its chain's memory_max, 64M (held ${held:-?} MiB)" test "${held:-999}" -le 64
check "... its summary says what bound it" wait_until 60 sh -c "nsenter -t $leader -a -- journalctl -u qrexec-proxy \
	QP_CHAIN=hog -o cat | grep -q ' bound=\(rlimit\|cgroup\)'"
if inside test -f "$cgroup/memory.max" && inside test -f "$cgroup/memory.events"; then
	# MemoryMax= in force: a hog of many small processes (40 of 16 MiB) past it
	inside sh -c 'mkdir -p /run/systemd/system/qrexec-proxy.service.d && printf "[Service]\nMemoryMax=256M\n" > /run/systemd/system/qrexec-proxy.service.d/50-test-memory.conf' &&
		inside systemctl daemon-reload && inside systemctl restart qrexec-proxy
	restarts=$(inside systemctl show -p NRestarts --value qrexec-proxy) oldmain=$(main_pid)
	printf x | call many test.Echo > /dev/null
	check "a hog of many processes: the service runs on" inside systemctl is-active qrexec-proxy
	check "... not restarted" test "$(main_pid).$(inside systemctl show -p NRestarts --value qrexec-proxy)" = "$oldmain.$restarts"
	check "... and serves" test "$(hello pass1)" = hello
	inside rm -f /run/systemd/system/qrexec-proxy.service.d/50-test-memory.conf
	inside systemctl daemon-reload
else
	echo "(the container's cgroup has no memory controller here (cgroup v1 or hybrid host): MemoryMax= and OOMPolicy= are not in force, and a hog of many processes is not run; the OOM score, a kill the supervisor did not send and the per-process bound are checked above)"
fi
# the drop-in of qrexec-proxy(1), "Resources": the daemon gets its cgroup subtree
inside sh -c 'mkdir -p /etc/systemd/system/qrexec-proxy.service.d && cp /usr/local/share/doc/qrexec-proxy/qrexec-proxy-cgroups.conf /etc/systemd/system/qrexec-proxy.service.d/' &&
	inside systemctl daemon-reload && inside systemctl restart qrexec-proxy
check "with Delegate=yes: served" test "$(hello pass1)" = hello
resources_line() { journal | grep 'resources: ' | tail -n 1; }
delegated() { resources_line | grep -q 'a cgroup per connection\|has no memory controller\|has no pids controller'; }
wait_until 60 delegated
check "... the daemon has its cgroup subtree ($(resources_line | sed 's/.*; //'))" delegated
inside rm -f /etc/systemd/system/qrexec-proxy.service.d/qrexec-proxy-cgroups.conf
inside systemctl daemon-reload

echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
