# mk/robust.mk: robustness (docs/robustness.md).
#   build/asan   the compiler and every suite again, with ASan and UBSan;
#                `make test` reruns the suites against it (tests/unit/test_asan.c)
#   build/fuzz   libFuzzer targets of fuzz/; `make fuzz [FUZZ_SECONDS=N]`, and a
#                short smoke run in `make test` (tests/unit/test_fuzz.c)
#   build/cov    a --coverage build; `make coverage` reports compiler/'s lines and branches
# Variables here are prefixed (ROB_, ASAN_, FUZZ_, COV_): other fragments share the namespace.

.PHONY: fuzz run-fuzz fuzz-build coverage run-coverage

ROB_SRCS      := $(wildcard compiler/*.c)
ROB_LIBSRCS   := $(filter-out compiler/main.c,$(ROB_SRCS))
ROB_RT        := $(wildcard runtime/*.c)
ROB_TEST_SRCS := $(wildcard tests/unit/test_*.c)
# Sources some suites link beyond the compiler (see the Makefile's test_oracle).
ROB_TEST_EXTRA := $(wildcard tests/reference/*.c)
ROB_TEST_INC  := $(INC) -Iruntime -Itests/unit -Itests/reference
# Suites the sanitized and coverage passes leave out: the pass itself, the fuzz
# smoke (its targets are sanitized already), valgrind's (cannot watch ASan).
ROB_NOT_RERUN := test_asan test_fuzz test_memcheck
# The sanitized pass also leaves out, for make test's time budget, the suites
# whose minutes go to cross compilers and PyTorch (see tests/unit/test_asan.c).
ROB_NOT_ASAN  := $(ROB_NOT_RERUN) test_target test_export test_tflite test_onnx
ROB_SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# For the generated C the suites build in the sanitized pass; all of UBSan
# but pointer-overflow (pointer arithmetic wrapping around the address
# space: the arena's offsets stay below 2^31, emit_fits), whose checks made
# gcc take a third longer over the large unrolled files.
ROB_GEN_SAN   := -fsanitize=undefined -fno-sanitize=pointer-overflow -fno-sanitize-recover=all
ROB_CLANG     := clang
ROB_FUZZER_RT := /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a

# Debian packages, only for the goals that need them: clang and its libFuzzer
# runtime for the fuzz targets (make test smoke-fuzzes), valgrind for the
# memcheck suite, gcovr for coverage.
ifneq ($(filter test fuzz fuzz-build,$(MAKECMDGOALS)),)
APT_NEED += cmd:clang:clang file:$(ROB_FUZZER_RT):libclang-rt-14-dev
endif
ifneq ($(filter test,$(MAKECMDGOALS)),)
APT_NEED += cmd:valgrind:valgrind
endif
ifneq ($(filter coverage,$(MAKECMDGOALS)),)
APT_NEED += cmd:gcovr:gcovr
endif

# ---- the sanitized tree -----------------------------------------------------
ASAN_DIR    := $(BUILD)/asan
# -O2 as the plain build, so the warnings are the same; and not -Werror:
# the plain build enforces them, and instrumentation brings false positives.
ASAN_CFLAGS := -O2 -g $(ROB_SAN)
ASAN_WARN   := $(filter-out -Werror,$(WARN))
ASAN_OBJS   := $(patsubst compiler/%.c,$(ASAN_DIR)/obj/%.o,$(ROB_SRCS)) $(ASAN_DIR)/obj/parser.o $(ASAN_DIR)/obj/lexer.o
ASAN_LIB    := $(filter-out $(ASAN_DIR)/obj/main.o,$(ASAN_OBJS))
ASAN_TESTS  := $(filter-out $(addprefix $(ASAN_DIR)/tests/,$(ROB_NOT_ASAN)), \
                 $(patsubst tests/unit/%.c,$(ASAN_DIR)/tests/%,$(ROB_TEST_SRCS)))

$(ASAN_DIR)/obj/%.o: compiler/%.c $(GEN)/parser.h
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_WARN) $(ASAN_CFLAGS) $(INC) -MMD -MP -c $< -o $@

$(ASAN_DIR)/obj/%.o: $(GEN)/%.c compiler/cnnc.h compiler/parse.h $(GEN)/parser.h
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_WARN) -Wno-unused-function $(ASAN_CFLAGS) $(INC) -c $< -o $@

-include $(wildcard $(ASAN_DIR)/obj/*.d)

$(ASAN_DIR)/cnnc: $(ASAN_OBJS)
	$(CC) $(ASAN_CFLAGS) $^ -lm -o $@

$(ASAN_DIR)/tests/%: tests/unit/%.c $(ASAN_LIB) $(wildcard tests/unit/*.h) tests/unit/testutil.c $(ROB_RT) $(ROB_TEST_EXTRA)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_WARN) $(ASAN_CFLAGS) $(ROB_TEST_INC) $< tests/unit/testutil.c $(ROB_TEST_EXTRA) $(ASAN_LIB) $(ROB_RT) \
	    -lcmocka -lm -o $@

# In the sanitized pass, generated C (tests/ref through test_e2e, the oracle's
# models) is built by these: the same compilers, with UBSan, and at -O1 at
# most: UBSan checks the C as written whatever the level, while gcc takes
# minutes over the large unrolled files at -O3 with UBSan's checks in them.
# The plain pass builds with the suites' own levels.
$(ASAN_DIR)/bin/cc $(ASAN_DIR)/bin/gcc: mk/robust.mk
	@mkdir -p $(dir $@)
	@printf '#!/bin/sh\n# build/asan pass (mk/robust.mk): UBSan, and -O1 at most\n%s\nexec /usr/bin/%s %s "$$@"\n' \
	    'for a; do shift; case $$a in -O2|-O3|-Ofast) a=-O1 ;; esac; set -- "$$@" "$$a"; done' \
	    $(notdir $@) '$(ROB_GEN_SAN)' > $@
	@chmod +x $@

# ---- fuzzing ----------------------------------------------------------------
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TARGETS := net safetensors weights
FUZZ_BINS    := $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_TARGETS))
FUZZ_CFLAGS  := -O1 -g $(ROB_SAN)
# Warnings shown, not fatal: the plain build (gcc) enforces them, and clang
# warns about things gcc does not, which should not stop make test here.
FUZZ_WARN    := $(filter-out -Werror,$(WARN))
FUZZ_OBJS    := $(patsubst compiler/%.c,$(FUZZ_DIR)/obj/%.o,$(ROB_LIBSRCS)) $(FUZZ_DIR)/obj/parser.o $(FUZZ_DIR)/obj/lexer.o
FUZZ_SECONDS ?= 60
# Small seeds only: libFuzzer's input size follows the largest seed.
FUZZ_SEED_MAX := 65536

$(FUZZ_DIR)/obj/%.o: compiler/%.c $(GEN)/parser.h
	@mkdir -p $(dir $@)
	$(ROB_CLANG) $(FUZZ_WARN) -fsanitize=fuzzer-no-link $(FUZZ_CFLAGS) $(INC) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/obj/%.o: $(GEN)/%.c compiler/cnnc.h compiler/parse.h $(GEN)/parser.h
	@mkdir -p $(dir $@)
	$(ROB_CLANG) $(FUZZ_WARN) -Wno-unused-function -Wno-unused-but-set-variable -fsanitize=fuzzer-no-link \
	    $(FUZZ_CFLAGS) $(INC) -c $< -o $@

-include $(wildcard $(FUZZ_DIR)/obj/*.d)
# Objects only pattern rules name would otherwise be deleted as intermediates.
.SECONDARY: $(FUZZ_OBJS) $(ASAN_OBJS) $(COV_OBJS)

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(FUZZ_OBJS)
	$(ROB_CLANG) $(FUZZ_WARN) -fsanitize=fuzzer $(FUZZ_CFLAGS) $(INC) $< $(FUZZ_OBJS) -lm -o $@

# Seeds: every model and weights file of the repository, and for the binding
# target each reference model joined to its weights by a NUL byte.
FUZZ_SEED_SRCS := $(wildcard models/* tests/ref/cases/*.net tests/ref/*/model.net tests/ref/*/weights.safetensors \
                    tests/weights/*.safetensors tests/bad/*)

# The directories too: a file removed from one changes its time, not the list's.
FUZZ_SEED_DIRS := $(wildcard models tests/ref tests/ref/cases tests/weights tests/bad)

$(FUZZ_DIR)/seeds.stamp: $(FUZZ_SEED_SRCS) $(FUZZ_SEED_DIRS) mk/robust.mk
	@rm -rf $(FUZZ_DIR)/seeds
	@mkdir -p $(FUZZ_DIR)/seeds/net $(FUZZ_DIR)/seeds/safetensors $(FUZZ_DIR)/seeds/weights
	@for f in models/*.net tests/ref/cases/*.net tests/bad/*.net; do [ -f "$$f" ] || continue; \
	    cp "$$f" "$(FUZZ_DIR)/seeds/net/$$(echo "$$f" | tr / _)"; done
	@for f in models/*.safetensors tests/weights/*.safetensors tests/ref/*/weights.safetensors tests/bad/*.safetensors; do \
	    [ -f "$$f" ] && [ "$$(stat -c %s "$$f")" -le $(FUZZ_SEED_MAX) ] && cp "$$f" "$(FUZZ_DIR)/seeds/safetensors/$$(echo "$$f" | tr / _)"; done; true
	@for d in tests/ref/*/; do \
	    w="$$d/weights.safetensors"; [ -f "$$w" ] && [ "$$(stat -c %s "$$w")" -le $(FUZZ_SEED_MAX) ] || continue; \
	    { cat "$$d/model.net"; printf '\0'; cat "$$w"; } > "$(FUZZ_DIR)/seeds/weights/$$(basename "$$d")"; done
	@{ cat models/digits.net; printf '\0'; cat models/digits.safetensors; } > $(FUZZ_DIR)/seeds/weights/digits
	@touch $@

fuzz-build: $(FUZZ_BINS) $(FUZZ_DIR)/seeds.stamp

# `make fuzz FUZZ_SECONDS=N`: each target for N seconds (default 60).
fuzz: deps
	@$(MAKE) --no-print-directory run-fuzz

run-fuzz: fuzz-build
	@bash fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ---- what make test needs besides the Makefile's own ------------------------
run-tests: $(ASAN_DIR)/cnnc $(ASAN_TESTS) $(ASAN_DIR)/bin/cc $(ASAN_DIR)/bin/gcc fuzz-build

# ---- coverage ---------------------------------------------------------------
COV_DIR    := $(BUILD)/cov
COV_CFLAGS := -O0 -g --coverage
COV_WARN   := $(filter-out -Werror,$(WARN))
COV_OBJS   := $(patsubst compiler/%.c,$(COV_DIR)/obj/%.o,$(ROB_SRCS)) $(COV_DIR)/obj/parser.o $(COV_DIR)/obj/lexer.o
COV_LIB    := $(filter-out $(COV_DIR)/obj/main.o,$(COV_OBJS))
COV_TESTS  := $(filter-out $(addprefix $(COV_DIR)/tests/,$(ROB_NOT_RERUN)), \
                $(patsubst tests/unit/%.c,$(COV_DIR)/tests/%,$(ROB_TEST_SRCS)))
COV_REPLAY := $(addprefix $(COV_DIR)/replay_,$(FUZZ_TARGETS))

$(COV_DIR)/obj/%.o: compiler/%.c $(GEN)/parser.h
	@mkdir -p $(dir $@)
	$(CC) $(COV_WARN) $(COV_CFLAGS) $(INC) -MMD -MP -c $< -o $@

$(COV_DIR)/obj/%.o: $(GEN)/%.c compiler/cnnc.h compiler/parse.h $(GEN)/parser.h
	@mkdir -p $(dir $@)
	$(CC) $(COV_WARN) -Wno-unused-function $(COV_CFLAGS) $(INC) -c $< -o $@

-include $(wildcard $(COV_DIR)/obj/*.d)

$(COV_DIR)/cnnc: $(COV_OBJS)
	$(CC) $(COV_CFLAGS) $^ -lm -o $@

$(COV_DIR)/tests/%: tests/unit/%.c $(COV_LIB) $(wildcard tests/unit/*.h) tests/unit/testutil.c $(ROB_RT) $(ROB_TEST_EXTRA)
	@mkdir -p $(dir $@)
	$(CC) $(COV_WARN) $(COV_CFLAGS) $(ROB_TEST_INC) $< tests/unit/testutil.c $(ROB_TEST_EXTRA) $(COV_LIB) $(ROB_RT) \
	    -lcmocka -lm -o $@

# The fuzz targets as plain programs that run each file given once, so the
# fuzz corpus and its regressions count towards coverage without clang.
$(COV_DIR)/replay_%: fuzz/fuzz_%.c fuzz/fuzz_common.h fuzz/replay.c $(COV_LIB)
	$(CC) $(COV_WARN) $(COV_CFLAGS) $(INC) $< fuzz/replay.c $(COV_LIB) -lm -o $@

coverage: deps
	@$(MAKE) --no-print-directory run-coverage

run-coverage: $(BUILD)/cnnc $(COV_DIR)/cnnc $(COV_TESTS) $(COV_REPLAY) $(FUZZ_DIR)/seeds.stamp
	@bash tests/coverage.sh $(COV_DIR) "$(FUZZ_TARGETS)" $(COV_TESTS)
