#!/bin/sh
# make size: for each model of tests/ref that fits a microcontroller, the
# flash and RAM its generated code takes on a Cortex-M4F, measured with
# arm-none-eabi-size (and gcc's -fstack-usage call graph for the stack),
# beside cnnc's own figures from --report=json.
#
#   weights   .rodata of the model's object (the weight arrays)
#   code      .text of the model's object, at -O2 and at -Os
#   flash     weights + code (-O2) + the runtime (-O2)
#   arena     .bss of the model's object (the static arena of NAME_run)
#   stack     the deepest call chain from NAME_run (-O2), runtime included
#   RAM       arena + stack (+ .data, which generated code has none of)
# The caller's input and output buffers are not counted.
set -eu

BUILD=${1:-build}
MODELS=${MODELS:-"digits lenet5 dscnn resnet8 vww_mobilenetv1 ad_autoencoder"}
CC="arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
STRICT="-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"
OUT=$BUILD/size
mkdir -p "$OUT"

# Compiles $1 to $2.o with the stack-usage call graph ($2.ci) at level $3.
compile() {
    $CC $STRICT "-$3" -fstack-usage -fcallgraph-info=su -Iruntime -I"$OUT" -c "$1" -o "$2.o"
}

# The size of section $2 of object $1 with its .$2.* parts (small constants
# go to .rodata.cst8 and the like), 0 when absent.
section() {
    arm-none-eabi-size -A "$1" | awk -v s="$2" '$1 == s || index($1, s ".") == 1 { n += $2 } END { print n + 0 }'
}

# The deepest stack from function $1 through the call graphs given after it:
# each function's own frame plus the deepest of its callees.
stack() {
    fn=$1
    shift
    awk -v root="$fn" '
        /^node:/ {
            name = $0; sub(/.*title: "/, "", name); sub(/".*/, "", name)
            if (match($0, /\\n[0-9]+ bytes/)) {
                b = substr($0, RSTART + 2, RLENGTH - 2); sub(/ bytes/, "", b); frame[name] = b + 0
            }
            if ($0 ~ /bytes \(dynamic/) dynamic[name] = 1
        }
        /^edge:/ {
            from = $0; sub(/.*sourcename: "/, "", from); sub(/".*/, "", from)
            to = $0; sub(/.*targetname: "/, "", to); sub(/".*/, "", to)
            edges[from] = edges[from] " " to
        }
        function deepest(f,    n, i, list, d, best) {
            if (f in memo) return memo[f]
            memo[f] = 0 # no recursion in generated code; this only stops a cycle
            best = 0
            n = split(edges[f], list, " ")
            for (i = 1; i <= n; i++) { d = deepest(list[i]); if (d > best) best = d }
            if (dynamic[f]) unbounded = 1
            memo[f] = frame[f] + best
            return memo[f]
        }
        END { printf "%d%s\n", deepest(root), unbounded ? "+" : "" }
    ' "$@"
}

# n with thousands separators.
thousands() {
    echo "$1" | awk '{ s = $1; out = ""; while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) } print s out }'
}

compile runtime/cnnc_rt.c "$OUT/cnnc_rt.O2" O2
compile runtime/cnnc_rt.c "$OUT/cnnc_rt.Os" Os
rt_o2=$(section "$OUT/cnnc_rt.O2.o" .text)
rt_os=$(section "$OUT/cnnc_rt.Os.o" .text)

echo "Cortex-M4F ($($CC -dumpfullversion), -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16), bytes"
printf '%-16s %9s %9s %9s %9s | %9s %7s %9s | %9s %9s\n' "" "" "code" "code" "flash" "" "stack" "RAM" \
    "cnnc" "cnnc"
printf '%-16s %9s %9s %9s %9s | %9s %7s %9s | %9s %9s\n' model weights -O2 -Os -O2 arena -O2 -O2 weights arena
for m in $MODELS; do
    if ! "$BUILD"/cnnc "tests/ref/$m/model.net" -w "tests/ref/$m/weights.safetensors" -o "$OUT/$m.c" \
        --report=json >"$OUT/$m.json" 2>"$OUT/$m.log"; then
        cat "$OUT/$m.log" >&2
        exit 1
    fi
    net=$(sed -n 's/.*"network": *"\([A-Za-z0-9_]*\)".*/\1/p' "$OUT/$m.json")
    est_weights=$(sed -n 's/.*"weight_bytes": *\([0-9]*\).*/\1/p' "$OUT/$m.json")
    est_arena=$(sed -n 's/.*"arena_bytes": *\([0-9]*\).*/\1/p' "$OUT/$m.json")
    compile "$OUT/$m.c" "$OUT/$m.O2" O2
    compile "$OUT/$m.c" "$OUT/$m.Os" Os
    weights=$(section "$OUT/$m.O2.o" .rodata)
    code_o2=$(section "$OUT/$m.O2.o" .text)
    code_os=$(section "$OUT/$m.Os.o" .text)
    data=$(section "$OUT/$m.O2.o" .data)
    arena=$(section "$OUT/$m.O2.o" .bss)
    stack=$(stack "${net}_run" "$OUT/$m.O2.ci" "$OUT/cnnc_rt.O2.ci")
    flash=$((weights + code_o2 + data + rt_o2))
    ram=$((arena + data + ${stack%+}))
    printf '%-16s %9s %9s %9s %9s | %9s %7s %9s | %9s %9s\n' "$m" "$(thousands "$weights")" \
        "$(thousands "$code_o2")" "$(thousands "$code_os")" "$(thousands "$flash")" "$(thousands "$arena")" \
        "$stack" "$(thousands "$ram")" "$(thousands "$est_weights")" "$(thousands "$est_arena")"
done
echo "flash includes the runtime (cnnc_rt.c): $rt_o2 B of code at -O2, $rt_os B at -Os, no data."
echo "weights: .rodata of the object; gcc turns small arrays read at constant indices (biases in unrolled"
echo "kernels) into immediates in the code, so this can be a little below cnnc's weight_bytes."
echo "RAM is arena + stack; the caller's input and output buffers come on top (+: a frame of dynamic size)."
