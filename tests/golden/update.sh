#!/usr/bin/env bash
# Regenerates the golden files from build/cnnc, so that a change in the
# reports or diagnostics shows up as a diff for a reviewer to read:
#   tests/golden/reports/NAME.txt, NAME.json  for every models/NAME.net
#   tests/golden/diag/NAME.err                for every tests/golden/diag/NAME.net
#   tests/golden/svg/NAME.svg                 --report=svg of digits and resnet8
# Run from anywhere after `make`; then review with `git diff tests/golden`.
# The expected figures themselves are checked elsewhere (model_totals.txt,
# the unit tests); these files pin down the exact text.
set -eu
cd "$(dirname "$0")/../.."
cnnc=build/cnnc
[ -x "$cnnc" ] || { echo "update.sh: $cnnc not built; run make first" >&2; exit 1; }

mkdir -p tests/golden/reports
for net in models/*.net; do
    name=$(basename "$net" .net)
    # warnings (stderr) are not part of a report
    "$cnnc" --report=text "$net" >"tests/golden/reports/$name.txt" 2>/dev/null
    "$cnnc" --report=json "$net" >"tests/golden/reports/$name.json" 2>/dev/null
done

mkdir -p tests/golden/svg
for name in digits resnet8; do
    "$cnnc" --report=svg "models/$name.net" >"tests/golden/svg/$name.svg" 2>/dev/null
done

for net in tests/golden/diag/*.net; do
    # the diagnostics are the point: a non-zero exit is expected
    "$cnnc" --check "$net" 2>"${net%.net}.err" >/dev/null || true
done

git status --short tests/golden 2>/dev/null || true
