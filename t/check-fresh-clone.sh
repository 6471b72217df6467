#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's two commands, in that order, in a fresh clone of this tree
# (its committed state plus the changes to tracked files; untracked files
# are not in it) under mktemp -d: mode 0700, where an administrator's
# clone in /root is too, and which nobody, the sandboxes' user when root
# runs the tests, cannot enter.
#   1. sh t/quickstart.sh demo, with configure made blind to rpmbuild and
#      clang (ac_cv_path_RPMBUILD= ac_cv_path_CLANG=): the build directory of
#      a demo run before the test command installed them (issue 26). The
#      demo must succeed with every call served (no "unable to start").
#   2. sh t/quickstart.sh test, limited to its phases build, configured and
#      check, with a few suites that start the daemon and its sandboxes: the
#      test command configures again, so the tools configure records are
#      those installed (the configured phase checks each one), and the
#      sandboxes reach the tree; then make rpm, the command that failed.
#   3. the same test command again, after a run that failed (a failing
#      suite's automake logs left in build/t): the same result as step 2.
# The whole test command runs once, in the tree itself; this phase costs the
# demo and three of the suites, not a second run of everything.
#   usage: sh t/check-fresh-clone.sh
# Without git, or outside a git checkout, it says "fresh-clone: skipped: WHY".
# The last line is "N passed, M failed"; exit 1 if any failed.
set -u
S=$(cd "$(dirname "$0")/.." && pwd)
unset MAKEFLAGS MFLAGS
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit $?
}
command -v git >/dev/null 2>&1 || { echo "fresh-clone: skipped: no git (apt-get install git)"; exit 0; }
git -C "$S" rev-parse --git-dir >/dev/null 2>&1 || { echo "fresh-clone: skipped: $S is not a git checkout"; exit 0; }

# the suites of the limited test: a parser, and two that start the daemon
# and its sandboxes (on a socket; transparent calls)
suites="t/check_descriptor t/check_transparent t/check_serve"
tmp=$(mktemp -d) || exit 111
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
clone=$tmp/qrexec-proxy
indent() { sed 's/^/    | /'; }

if git clone -q "$S" "$clone" 2>"$tmp/clone.err"; then
	git -C "$S" diff HEAD --binary > "$tmp/changes"
	if [ -s "$tmp/changes" ] && ! git -C "$clone" apply --index "$tmp/changes" 2>"$tmp/apply.err"; then
		fail "the tree's changes do not apply to its clone: $(cat "$tmp/apply.err")"
		finish
	fi
	ok "git clone into $tmp (mode $(stat -c %a "$tmp"))$([ -s "$tmp/changes" ] && echo ", with the tree's uncommitted changes")"
else
	fail "git clone: $(cat "$tmp/clone.err")"
	finish
fi
cd "$clone" || finish

# 1. the demo, configured as before rpm and clang were installed
echo "== sh t/quickstart.sh demo (configure blind to rpmbuild and clang)"
ac_cv_path_RPMBUILD= ac_cv_path_CLANG= sh t/quickstart.sh demo > "$tmp/demo.log" 2>&1
rc=$?
indent < "$tmp/demo.log" | tail -n 25
[ "$rc" = 0 ] && ok "sh t/quickstart.sh demo" || fail "sh t/quickstart.sh demo: exit $rc"
served=$(grep -c ' result=ok ' "$tmp/demo.log")
broken=$(grep -c 'unable to start\|errno' "$tmp/demo.log")
[ "$served" -ge 5 ] && [ "$broken" = 0 ] && ok "the demo's calls served ($served ok), none failed to start a program" ||
	fail "the demo: $served calls ok, $broken lines 'unable to start' or 'errno' (log above)"
if [ -n "$(sed -n 's/^RPMBUILD = //p' build/Makefile)" ] || [ -n "$(sed -n 's/^CLANG = //p' build/Makefile)" ]; then
	fail "the demo's build directory recorded rpmbuild or clang: the case of issue 26 is not reproduced"
else
	ok "the demo's build directory has no rpmbuild and no clang, as before they were installed"
fi

# 2. the test command after it
limited() { # LOG
	QP_QUICKSTART_PHASES="build configured check" QP_QUICKSTART_TESTS="$suites" \
		sh t/quickstart.sh test > "$1" 2>&1
}
echo "== sh t/quickstart.sh test (phases build, configured, check; $suites)"
limited "$tmp/test1.log"
rc=$?
sed -n '/^== summary/,$p' "$tmp/test1.log" | indent
first=$(tail -n 1 "$tmp/test1.log")
case "$rc $first" in
"0 "*" passed, 0 failed") ok "the test command after the demo: $first" ;;
*) fail "the test command after the demo: exit $rc, '$first'" ;;
esac
grep -q '^ok: RPMBUILD: /' "$tmp/test1.log" && grep -q '^ok: CLANG: /' "$tmp/test1.log" &&
	ok "configured again: rpmbuild and clang recorded" ||
	fail "the test command did not configure again: $(grep 'RPMBUILD\|CLANG' "$tmp/test1.log" | tr '\n' ' ')"
if command -v rpmbuild >/dev/null 2>&1; then
	make -C build rpm > "$tmp/rpm.log" 2>&1 && ok "make rpm in the build directory the demo configured first" ||
		{ tail -n 20 "$tmp/rpm.log" | indent; fail "make rpm after the demo and the test command (log above)"; }
fi

# 3. again, after a run that failed: what it left must not count
cat > build/t/check_gone.trs <<'EOF'
:test-result: FAIL
:global-test-result: FAIL
:recheck: yes
:copy-in-global-log: yes
EOF
printf '%s\n' '50%: Checks: 2, Failures: 1, Errors: 0' \
	'../t/check_gone.c:10:F:gone:test_gone:0: a failure of an earlier run' > build/t/check_gone.log
echo "== sh t/quickstart.sh test again, over the logs of a failed run"
limited "$tmp/test2.log"
rc=$?
second=$(tail -n 1 "$tmp/test2.log")
[ "$rc" = 0 ] && [ "$second" = "$first" ] && ok "the test command again, after a failed run: $second, as the first time" ||
	{ sed -n '/^== summary/,$p' "$tmp/test2.log" | indent; fail "the test command again: exit $rc, '$second', not '$first'"; }
finish
