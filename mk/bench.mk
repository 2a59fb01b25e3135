# make bench: speed, memory and code size of the generated C for the
# reference models (bench/bench.py; columns explained in
# docs/performance.md). Results go to build/bench/results.json. Not part of
# `make test`: it measures, it asserts nothing about time. BENCH_LAYERS=1
# adds the modelled Cortex-M4 cycles of each layer (each function of the
# generated model.c).

# What only the bench needs, installed by `make deps` when bench is a goal.
# PyTorch is not installed for it: without it the torch column is skipped.
ifneq ($(filter bench,$(MAKECMDGOALS)),)
APT_NEED += cmd:qemu-system-arm:qemu-system-arm \
            cmd:arm-none-eabi-gcc:gcc-arm-none-eabi \
            cmd:arm-none-eabi-size:binutils-arm-none-eabi \
            cmd:arm-none-eabi-objdump:binutils-arm-none-eabi \
            file:/usr/lib/arm-none-eabi/newlib/nosys.specs:libnewlib-arm-none-eabi \
            file:/usr/bin/python3:python3
endif

BENCH_MODELS ?= lenet5 dscnn resnet8 vww_mobilenetv1 digits
BENCH_LAYERS ?=

.PHONY: run-bench

bench: deps
	@$(MAKE) --no-print-directory run-bench

run-bench: $(BUILD)/cnnc $(LIBOBJS)
	@/usr/bin/python3 bench/bench.py $(if $(filter 1 yes,$(BENCH_LAYERS)),--layers) $(BUILD) $(BENCH_MODELS)

# Issue 15: Cortex-M4 float cycles per MAC of MobileNetV3-small against
# MobileNetV2 at 3x96x96 (bench/mbv3.py; needs PyTorch and torchvision).
.PHONY: bench-mbv3
bench-mbv3: $(BUILD)/cnnc
	@/usr/bin/python3 bench/mbv3.py $(BUILD)
