# SPDX-License-Identifier: GPL-2.0-or-later
# The phases of t/quickstart.sh test, their counts and the summary: sourced
# by t/quickstart.sh, and by t/check-quickstart.sh, which runs it on phases
# of every form with known counts. doc/testing.md describes the forms.
#
# A phase's checks are read from one of these forms, and from nothing else:
#   - an automake test run (make check; DIR given): per test of DIR/t, the
#     Check summary "NN%: Checks: N, Failures: F, Errors: E" of its log and
#     its "FILE:LINE:F|E:..." lines, or else one check per test script
#     (PASS, SKIP, or anything else a failure, with the script's own
#     "FAIL: message" lines);
#   - Check programs run directly: the same Check lines in the phase's output;
#   - a script: its last line "N passed, M failed" (alone on its line), and
#     one "FAIL: message" line per failing check;
#   - anything else: one check, which passes when the phase exits 0.
#   A line "PHASE: skipped: WHY" with exit 0: the phase is skipped (counts
#   neither way). A count in another form ("prog: N passed, M failed", the
#   way issue 26 lost a phase's failures) is a failure of its own, named.
# Needs: $logs (a directory for NAME.log, NAME.rc, NAME.res). Sets $phases.

phases=

# phase NAME DIR COMMAND...: runs COMMAND, its output to the screen and to
# $logs/NAME.log; DIR is the build directory whose t/*.log it reads (or -)
phase() {
	_name=$1 _dir=$2
	shift 2
	phases="$phases $_name"
	echo "== $_name: $*"
	_t0=$(date +%s)
	{ "$@" 2>&1; echo $? > "$logs/$_name.rc"; } | tee "$logs/$_name.log"
	echo "$(( $(date +%s) - _t0 ))" > "$logs/$_name.secs"
	count_phase "$_name" "$_dir" "$(cat "$logs/$_name.rc")"
	return 0
}

# the Check lines of FILE..., as "checks N F E" and "fail MESSAGE"
_check_lines() {
	sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/checks \1 \2 \3/p' "$@"
	grep -h -E '^[^ :]+\.c:[0-9]+:[EF]:' "$@" | sed 's/^/fail /'
}

# count_phase NAME DIR RC: writes $logs/NAME.res, the phase's result:
#   checks N F E    N checks, F failed and E errors among them (any number of lines)
#   fail MESSAGE    a failing check, named with its message
#   phasefail WHY   the phase itself failed (exit code)
#   skipped WHY     the phase could not run here
count_phase() {
	_name=$1 _dir=$2 _rc=$3
	_res=$logs/$_name.res _log=$logs/$_name.log
	: > "$_res"
	if [ "$_dir" != - ]; then
		for _trs in "$_dir"/t/*.trs; do
			[ -f "$_trs" ] || continue
			_tlog=${_trs%.trs}.log
			_t=t/$(basename "${_trs%.trs}")
			_r=$(sed -n 's/^:test-result: //p' "$_trs" | head -n 1)
			if grep -q '^[0-9]*%: Checks: [0-9]*, Failures' "$_tlog" 2>/dev/null; then
				_check_lines "$_tlog" >> "$_res"
				# a Check program that failed after its summary (a leak, a crash at exit)
				case "$_r" in
				FAIL|ERROR) grep -q 'Failures: [1-9]\|Errors: [1-9]' "$_tlog" ||
					{ echo "checks 1 1 0"; echo "fail $_t: $_r after its summary; see $_tlog"; } >> "$_res" ;;
				esac
			else
				case "$_r" in
				PASS) echo "checks 1 0 0" >> "$_res" ;;
				SKIP) ;;
				*)
					echo "checks 1 1 0" >> "$_res"
					if grep -q '^FAIL: ' "$_tlog" 2>/dev/null; then
						sed -n "s|^FAIL: |fail $_t: |p" "$_tlog" >> "$_res"
					else
						echo "fail $_t: ${_r:-no result}; see $_tlog" >> "$_res"
					fi
					_check_lines "$_tlog" 2>/dev/null | grep '^fail' >> "$_res" ;;
				esac
			fi
		done
	else
		_check_lines "$_log" >> "$_res"
		_last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$_log" | tail -n 1)
		if [ -n "$_last" ]; then
			echo "$_last" | awk '{ print "checks", $1 + $3, $3, 0 }' >> "$_res"
			sed -n 's/^FAIL: /fail /p' "$_log" >> "$_res"
		fi
		_why=$(sed -n "s/^$_name: skipped: //p" "$_log" | tail -n 1)
		if [ "$_rc" = 0 ] && [ -n "$_why" ]; then
			echo "skipped $_why" > "$_res"
			return 0
		fi
	fi
	# a count the summary does not read is not silently one check
	grep -E '^[A-Za-z0-9_./-]+: [0-9]+ passed, [0-9]+ failed$' "$_log" | while read -r _l; do
		echo "checks 1 1 0"
		echo "fail $_name: its count \"$_l\" is not in the form the summary reads (\"N passed, M failed\" alone on its line)"
	done >> "$_res"
	if ! grep -q '^checks' "$_res"; then
		if [ "$_rc" = 0 ]; then echo "checks 1 0 0" >> "$_res"; else echo "checks 1 1 0" >> "$_res"; fi
	fi
	if [ "$_rc" != 0 ]; then
		echo "phasefail exit $_rc" >> "$_res"
		# a failure that no check names (a build error, a valgrind finding) still counts, and is named
		if ! grep -q '^checks [0-9]* \([1-9]\|[0-9]* [1-9]\)' "$_res"; then
			echo "checks 1 1 0" >> "$_res"
		fi
		grep -q '^fail ' "$_res" || echo "fail $_name: exit $_rc, and no check of it names a failure; the last lines of its log:" >> "$_res"
	fi
	return 0
}

# phase_counts NAME: "N F" (checks, failed) of a counted phase
phase_counts() {
	awk '$1 == "checks" { n += $2; f += $3 + $4 } END { print n + 0, f + 0 }' "$logs/$1.res"
}

# summary: one line per phase with its own count, every failing check with
# its message, the total of the phases' counts, and last "N passed, M
# failed". Returns 0 only when nothing failed.
summary() {
	_passed=0 _failed=0 _total=0 _bad=
	echo
	echo "== summary (logs in $logs)"
	for _p in $phases; do
		_res=$logs/$_p.res
		_secs=$(cat "$logs/$_p.secs" 2>/dev/null || echo "?")
		if grep -q '^skipped ' "$_res"; then
			echo "skipped phase $_p: $(sed -n 's/^skipped //p' "$_res") (${_secs}s)"
			continue
		fi
		set -- $(phase_counts "$_p")
		_total=$((_total + $1))
		_passed=$((_passed + $1 - $2))
		_failed=$((_failed + $2))
		if [ "$2" = 0 ] && ! grep -q '^phasefail' "$_res"; then
			echo "ok     phase $_p: $1 checks (${_secs}s)"
			continue
		fi
		_bad="$_bad $_p"
		echo "FAILED phase $_p: $1 checks, $2 failed$(sed -n 's/^phasefail \(.*\)/, \1/p' "$_res") (${_secs}s), log $logs/$_p.log"
		sed -n 's/^fail /    /p' "$_res"
		if grep -q '^fail .*the last lines of its log:$' "$_res"; then
			tail -n 15 "$logs/$_p.log" | sed 's/^/    | /'
		fi
	done
	[ -n "$_bad" ] && echo "failed phases:$_bad"
	echo "total: $_total checks in $(echo $phases | wc -w | tr -d ' ') phases, the sum of the counts above"
	echo "$_passed passed, $_failed failed"
	[ "$_failed" = 0 ] && [ -z "$_bad" ]
}
