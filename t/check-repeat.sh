#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs make targets of the build tree N times in a row and reports every
# failure with the name and message of the failing test: the proof that the
# suite passes every time, not most of the time.
#   make check-repeat N=20                      (make check, 20 times)
#   make check-repeat N=5 REPEAT_TARGETS=check-valgrind
#   sh t/check-repeat.sh -n 20 -C build check
# The last line is "N passed, M failed", counting runs; the exit code is 0
# only when every run passed. Logs of failed runs are kept in
# BUILDDIR/t/repeat/.
set -u
n=20 dir=.
while getopts n:C: o; do
	case $o in
	n) n=$OPTARG ;;
	C) dir=$OPTARG ;;
	*) echo "usage: check-repeat.sh [-n N] [-C BUILDDIR] [TARGET...]" >&2; exit 100 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- check
case $n in ''|*[!0-9]*) echo "check-repeat: -n takes a number, not '$n'" >&2; exit 100 ;; esac
out=$dir/t/repeat
rm -rf "$out" && mkdir -p "$out" || exit 111
jobs=$(nproc 2>/dev/null || echo 2)
ok=0 bad=0
: > "$out/failures"
i=1
while [ "$i" -le "$n" ]; do
	t0=$(date +%s)
	log=$out/run-$i.log
	rm -f "$dir"/t/*.log "$dir"/t/*.trs
	make -C "$dir" -j"$jobs" "$@" > "$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - t0 ))
	# failing Check cases, from the run's output and the automake logs
	fails=$(cat "$log" "$dir"/t/*.log 2>/dev/null | grep -E '^[^ :]+\.c:[0-9]+:[EF]:|^(FAIL|ERROR): ' | sort -u)
	if [ "$rc" = 0 ] && [ -z "$fails" ]; then
		ok=$((ok + 1))
		echo "run $i/$n: ok ($* in ${secs}s)"
		rm -f "$log"
	else
		bad=$((bad + 1))
		echo "run $i/$n: FAILED ($* exit $rc in ${secs}s; log $log)"
		if [ -n "$fails" ]; then
			echo "$fails" | sed 's/^/    /'
			echo "$fails" >> "$out/failures"
		else
			tail -n 15 "$log" | sed 's/^/    | /'
			echo "(no test named: exit $rc, see $log)" >> "$out/failures"
		fi
		for f in "$dir"/t/*.log; do
			[ -f "$f" ] && cp "$f" "$out/run-$i-$(basename "$f")"
		done
	fi
	i=$((i + 1))
done
if [ "$bad" -gt 0 ]; then
	echo "failures over $n runs (count, test):"
	sort "$out/failures" | uniq -c | sort -rn | sed 's/^/  /'
fi
echo "$ok passed, $bad failed"
[ "$bad" = 0 ]
