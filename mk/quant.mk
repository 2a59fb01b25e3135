# mk/quant.mk: int8 quantization (compiler/quant.c, compiler/interp.c,
# runtime/cnnc_q8.h, tests/quantref/).
# tests/unit/test_quant.c includes tests/quantref/quantref.c whole, so every
# build of the suites (plain, sanitized, coverage) links it without a rule of
# its own; these lines only make those builds follow edits to it.
QUANT_TEST_DEPS := tests/quantref/quantref.c tests/quantref/quantref.h runtime/cnnc_q8.h

$(BUILD)/tests/test_quant $(BUILD)/asan/tests/test_quant $(BUILD)/cov/tests/test_quant: $(QUANT_TEST_DEPS)
$(BUILD)/tests/test_q8 $(BUILD)/asan/tests/test_q8 $(BUILD)/cov/tests/test_q8: $(QUANT_TEST_DEPS)
$(BUILD)/tests/test_quantized $(BUILD)/asan/tests/test_quantized $(BUILD)/cov/tests/test_quantized: $(QUANT_TEST_DEPS)
