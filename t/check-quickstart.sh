#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The counts of t/quickstart.sh test (t/phases.sh), on phases of every form
# with known counts: an automake run (Check programs, scripts that pass,
# fail with their own FAIL: lines, skip, or die before their summary, and
# the logs an earlier run left, which make_check removes), Check programs
# run directly, a script that ends "N passed, M failed", a phase that only
# fails, a skipped phase, and a count in a form the summary does not read
# ("check-packages: N passed, M failed", which lost a phase's failures in
# issue 26). Each phase's count in the summary must be the phase's own; the
# total, their sum; every failing check must be named with its message.
# Automake's test protocol: exit 0 passes; the last line is "N passed, M
# failed".
set -u
S=${QP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d /tmp/qp-quickstart.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
no() { echo "FAIL: $*"; failed=$((failed + 1)); }
logs=$tmp/logs
mkdir -p "$logs" "$tmp/b/t"
. "$S/t/phases.sh"

# an automake run: 3 Check programs, 4 scripts
check_run() {
	printf '%s\n' '100%: Checks: 12, Failures: 0, Errors: 0' > "$tmp/b/t/check_a.log"
	printf ':test-result: PASS\n' > "$tmp/b/t/check_a.trs"
	printf '%s\n' '80%: Checks: 5, Failures: 1, Errors: 0' \
		'../t/check_b.c:42:F:b:test_b:0: Assertion x failed: the B message' > "$tmp/b/t/check_b.log"
	printf ':test-result: FAIL\n' > "$tmp/b/t/check_b.trs"
	# a Check program that passed its cases, then failed (a leak at exit)
	printf '%s\n' '100%: Checks: 3, Failures: 0, Errors: 0' 'ERROR: LeakSanitizer' > "$tmp/b/t/check_c.log"
	printf ':test-result: ERROR\n' > "$tmp/b/t/check_c.trs"
	printf 'PASS: fine\n' > "$tmp/b/t/script-ok.log"
	printf ':test-result: PASS\n' > "$tmp/b/t/script-ok.trs"
	printf 'PASS: one\nFAIL: the script message\n' > "$tmp/b/t/script-bad.log"
	printf ':test-result: FAIL\n' > "$tmp/b/t/script-bad.trs"
	printf 'SKIP: not here\n' > "$tmp/b/t/script-skip.log"
	printf ':test-result: SKIP\n' > "$tmp/b/t/script-skip.trs"
	printf 'Segmentation fault\n' > "$tmp/b/t/script-died.log"
	printf ':test-result: ERROR\n' > "$tmp/b/t/script-died.trs"
	return 2
}
# 12 + 5 + 3 + 1 (check_c's end) + 1 + 1 + 1 = 24 checks, 4 failed
phase check "$tmp/b" check_run > /dev/null
direct() {
	echo '100%: Checks: 7, Failures: 0, Errors: 0'
	echo '66%: Checks: 3, Failures: 0, Errors: 1'
	echo '../t/check_d.c:7:E:d:test_d:0: (after this point) Received signal 11'
	return 1
}
phase direct - direct > /dev/null                      # 10 checks, 1 failed
script() {
	echo 'ok: first'
	echo 'FAIL: the second check, with its message'
	echo 'ok: third'
	echo '2 passed, 1 failed'
	return 1
}
phase script - script > /dev/null                      # 3 checks, 1 failed
script_ok() { echo '40 passed, 0 failed'; }
phase script-ok - script_ok > /dev/null                # 40 checks
only_fails() { echo 'compiler: error: something'; return 2; }
phase only-fails - only_fails > /dev/null              # 1 check, 1 failed
plain() { echo 'built'; }
phase plain - plain > /dev/null                        # 1 check
skipper() { echo 'skipper: skipped: no container here'; }
phase skipper - skipper > /dev/null                    # neither way
prefixed() { echo 'ok: a'; echo 'prefixed: 5 passed, 1 failed'; return 1; }
phase prefixed - prefixed > /dev/null                  # 1 check, failed: the form is named

summary > "$tmp/summary"
rc=$?
sed 's/^/    | /' "$tmp/summary"
want() { # PHASE LINE: the summary's line for it begins so
	grep -q "^$2" "$tmp/summary" && ok "$1: $2" || no "$1: no line '$2' in the summary"
}
want check "FAILED phase check: 24 checks, 4 failed, exit 2"
want direct "FAILED phase direct: 10 checks, 1 failed, exit 1"
want script "FAILED phase script: 3 checks, 1 failed, exit 1"
want script-ok "ok     phase script-ok: 40 checks"
want only-fails "FAILED phase only-fails: 1 checks, 1 failed, exit 2"
want plain "ok     phase plain: 1 checks"
want skipper "skipped phase skipper: no container here"
want prefixed "FAILED phase prefixed: 1 checks, 1 failed, exit 1"
for msg in "check_b.c:42:F:b:test_b:0: Assertion x failed: the B message" \
	"t/check_c: ERROR after its summary" "t/script-bad: the script message" "t/script-died: ERROR" \
	"check_d.c:7:E:d:test_d:0: (after this point) Received signal 11" "the second check, with its message" \
	"only-fails: exit 2, and no check of it names a failure" "| compiler: error: something" \
	"prefixed: its count \"prefixed: 5 passed, 1 failed\" is not in the form"; do
	grep -qF -- "$msg" "$tmp/summary" && ok "named: $msg" || no "the summary does not name: $msg"
done
grep -q 'not here' "$tmp/summary" && ! grep -q 'script-skip' "$tmp/summary" &&
	no "a skipped test is named as a failure" || ok "a skipped test is not a failure"
# the total is the sum of the phases' own counts, and the last line says it
sum=0
for n in $(sed -n 's/^\(ok    \|FAILED\) phase [^:]*: \([0-9]*\) checks.*/\2/p' "$tmp/summary"); do sum=$((sum + n)); done
[ "$sum" = 80 ] && ok "the phases' counts add up to 80" || no "the phases' counts add up to $sum, not 80"
grep -q "^total: $sum checks in 8 phases" "$tmp/summary" && ok "total: $sum" || no "the total is not $sum: $(grep '^total' "$tmp/summary")"
[ "$(tail -n 1 "$tmp/summary")" = "72 passed, 8 failed" ] && ok "last line: 72 passed, 8 failed" ||
	no "last line: '$(tail -n 1 "$tmp/summary")', not '72 passed, 8 failed'"
[ "$rc" != 0 ] && ok "summary fails when a check failed" || no "summary succeeds with failures"

# all green: exit 0
logs=$tmp/logs2
mkdir -p "$logs"
phases=
phase script-ok - script_ok > /dev/null
phase plain - plain > /dev/null
summary > "$tmp/summary2" && [ "$(tail -n 1 "$tmp/summary2")" = "41 passed, 0 failed" ] &&
	ok "all green: 41 passed, 0 failed, exit 0" || no "all green: $(tail -n 1 "$tmp/summary2"), exit $?"

# the real phases speak the form: their scripts end with "N passed, M failed"
for f in t/check-packages.sh t/check-fresh-clone.sh t/check-configured.sh t/systemd/check-nspawn.sh; do
	grep -q 'echo "\$pass[a-z]* passed, \$failed failed"$' "$S/$f" && ok "$f ends with the one form" ||
		no "$f does not print \"N passed, M failed\" alone on its line"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
