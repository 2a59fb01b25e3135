#!/usr/bin/env bash
# Runs every test binary given, from the repository root, TEST_JOBS at a
# time (default 2, the cores CI has; suites keep their scratch files
# apart), prints each suite's output whole and in the order given, then
# its time, and closes with one plain total line; the exit status is
# non-zero if any test failed.
set -u
cd "$(dirname "$0")/.."
jobs_max=${TEST_JOBS:-2}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Starts suite number $1 ($2) in the background, into $logs/$1.*.
start_suite() {
    (
        begin=$(date +%s)
        "$2" >"$logs/$1.out" 2>&1
        echo $? >"$logs/$1.status"
        echo $(($(date +%s) - begin)) >"$logs/$1.time"
    ) &
}

n=0
for t in "$@"; do
    start_suite "$n" "$t"
    n=$((n + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
        wait -n
    done
done
wait

passed=0 failed=0 broken=0 i=0
for t in "$@"; do
    out=$(cat "$logs/$i.out")
    status=$(cat "$logs/$i.status")
    printf '%s\n' "$out"
    echo "($(basename "$t"): $(cat "$logs/$i.time") s)"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$t: exited with status $status" >&2
        broken=$((broken + 1))
    fi
    i=$((i + 1))
done
failed=$((failed + broken))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
