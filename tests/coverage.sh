#!/usr/bin/env bash
# tests/coverage.sh COV_DIR "TARGETS" TEST_BIN...: `make coverage` (mk/robust.mk).
# Runs every suite built with --coverage from a shadow of the repository
# whose build/cnnc is the --coverage compiler (so the command line counts
# too), replays the fuzz seeds, corpus and regressions through the
# --coverage build of each fuzz target, then reports line and branch
# coverage of compiler/ with gcovr into COV_DIR/coverage.txt and
# COV_DIR/branches.txt, and the summary on stdout.
set -u
cd "$(dirname "$0")/.."
cov=$1
targets=$2
shift 2
repo=$PWD
root=$cov/root
find "$cov" -name '*.gcda' -delete
mkdir -p "$root/build/tests"
for e in $(ls -A); do
    case $e in build | .git) ;; *) ln -sfn "../../../$e" "$root/$e" ;; esac
done
ln -sfn ../../cnnc "$root/build/cnnc"
failed=0
for t in "$@"; do
    name=$(basename "$t")
    if ! (cd "$root" && "$repo/$t" >"build/$name.log" 2>&1); then
        echo "coverage: $name failed (its log: $root/build/$name.log)"
        failed=1
    fi
done
for t in $targets; do
    "$cov/replay_$t" "build/fuzz/seeds/$t" "fuzz/regressions/$t" $( [ -d "build/fuzz/corpus/$t" ] && echo "build/fuzz/corpus/$t")
done
gcovr -r . --filter 'compiler/' --object-directory "$cov/obj" --txt "$cov/coverage.txt" >/dev/null
gcovr -r . --filter 'compiler/' --object-directory "$cov/obj" --branches --txt "$cov/branches.txt" >/dev/null
gcovr -r . --filter 'compiler/' --object-directory "$cov/obj" --print-summary -o /dev/null
echo "per file: $cov/coverage.txt (lines), $cov/branches.txt (branches)"
exit $failed
