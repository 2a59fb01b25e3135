#!/usr/bin/env bash
# Runs every test binary given, from the repository root, and closes with
# one plain total line; the exit status is non-zero if any test failed.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 broken=0
for t in "$@"; do
    out=$("$t" 2>&1)
    status=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$t: exited with status $status" >&2
        broken=$((broken + 1))
    fi
done
failed=$((failed + broken))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
