#!/usr/bin/env bash
# fuzz/run.sh SECONDS TARGET...   long random runs (make fuzz): each libFuzzer
#     target of build/fuzz for SECONDS over its corpus (build/fuzz/corpus/T,
#     grown by each run), the seeds (build/fuzz/seeds/T, made from files of
#     the repository) and the regressions (fuzz/regressions/T).
# fuzz/run.sh --smoke TARGET...   the smoke run of make test (test_fuzz):
#     reproducible, so that CI on a clean clone fails only where a run here
#     fails too. Fixed seed, a fixed number of executions per target, from
#     the seeds and regressions alone into a fresh corpus removed afterwards,
#     address randomization off where the kernel allows it (otherwise the
#     runs drift apart after a few thousand executions); a time cap bounds a
#     slow machine, which then runs a prefix of the same sequence.
# Prints one line per target and appends it to build/fuzz/stats.log; on a
# finding, prints the reproducer and exits 1. See docs/robustness.md.
set -u
cd "$(dirname "$0")/.."
smoke=0
if [ "${1:-}" = --smoke ]; then
    smoke=1
    seconds=60 # the cap; about 20 s each here, three at once on 2 cores
else
    seconds=$1
fi
shift

# Executions of one target's smoke run.
smoke_runs() {
    case $1 in
    safetensors) echo 800000 ;;
    *) echo 25000 ;;
    esac
}

# setarch -R turns address randomization off; containers may refuse it.
norandom=()
if [ "$smoke" = 1 ] && setarch "$(uname -m)" -R true 2>/dev/null; then
    norandom=(setarch "$(uname -m)" -R)
fi

status=0
for t in "$@"; do
    bin=build/fuzz/fuzz_$t
    findings=build/fuzz/findings
    log=build/fuzz/logs/$t.$$.log # two runs at once keep their logs apart
    mkdir -p "$findings" build/fuzz/logs
    dict=()
    [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
    if [ "$smoke" = 1 ]; then
        corpus=build/fuzz/smoke/$t.$$
        rm -rf "$corpus"
        # -reload=0: rereading the corpus every second depends on timing.
        mode=(-seed=1 -reload=0 -runs="$(smoke_runs "$t")")
        kind=smoke
    else
        corpus=build/fuzz/corpus/$t
        mode=()
        kind=run
    fi
    mkdir -p "$corpus"
    # -timeout: an input taking seconds is a hang for a compiler;
    # -rss_limit_mb: so is one that needs gigabytes.
    start=$SECONDS
    "${norandom[@]}" "$bin" "${mode[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$findings/$t-" "${dict[@]}" \
        "$corpus" "build/fuzz/seeds/$t" "fuzz/regressions/$t" >"$log" 2>&1
    rc=$?
    took=$((SECONDS - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1)
    line="fuzz_$t $kind: ${runs:-0} executions in ${took} s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
    if [ "$smoke" = 1 ]; then
        [ "${runs:-0}" -lt "$(smoke_runs "$t")" ] && line="$line (time cap of $seconds s reached)"
        [ ${#norandom[@]} = 0 ] && line="$line (address randomization on)"
        rm -rf "$corpus"
    fi
    if [ "$rc" -ne 0 ]; then
        status=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        echo "$line: FINDING (exit $rc)"
        grep -aE 'ERROR|SUMMARY|invariant failed|runtime error|deadly signal|timeout|out-of-memory' "$log" | head -5
        echo "reproduce: $bin ${artifact:-(see build/fuzz/logs/$kind-$t.log)}"
        echo "after fixing, keep it: cp ${artifact:-ARTIFACT} fuzz/regressions/$t/DESCRIPTIVE-NAME"
    else
        echo "$line: no finding"
    fi
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line rc=$rc" >>build/fuzz/stats.log
    mv -f "$log" "build/fuzz/logs/$kind-$t.log"
done
exit $status
