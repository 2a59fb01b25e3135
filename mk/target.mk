# Microcontroller targets: cross builds and the emulated board
# (tests/unit/test_target.c), the firmware template (examples/firmware),
# and `make size`. The toolchains and qemu are Debian packages that
# `make deps` installs when missing.

APT_NEED += cmd:arm-none-eabi-gcc:gcc-arm-none-eabi \
            cmd:arm-none-eabi-size:binutils-arm-none-eabi \
            file:/usr/lib/arm-none-eabi/newlib/rdimon.specs:libnewlib-arm-none-eabi \
            cmd:riscv64-unknown-elf-gcc:gcc-riscv64-unknown-elf \
            cmd:qemu-system-arm:qemu-system-arm

.PHONY: size run-size

# Flash and RAM of each microcontroller-sized model on a Cortex-M4F,
# measured, beside cnnc's own estimate (mk/target-size.sh).
size: deps
	@$(MAKE) --no-print-directory run-size

run-size: $(BUILD)/cnnc
	@sh mk/target-size.sh $(BUILD)
