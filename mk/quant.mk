# mk/quant.mk: int8 quantization (compiler/quant.c, compiler/interp.c,
# compiler/qref.c, runtime/cnnc_q8.h).
# The int8 suites build generated code against runtime/cnnc_q8.h; these
# lines make every build of them (plain, sanitized, coverage) follow it.
QUANT_TEST_DEPS := runtime/cnnc_q8.h

$(BUILD)/tests/test_quant $(BUILD)/asan/tests/test_quant $(BUILD)/cov/tests/test_quant: $(QUANT_TEST_DEPS)
$(BUILD)/tests/test_q8 $(BUILD)/asan/tests/test_q8 $(BUILD)/cov/tests/test_q8: $(QUANT_TEST_DEPS)
$(BUILD)/tests/test_quantized $(BUILD)/asan/tests/test_quantized $(BUILD)/cov/tests/test_quantized: $(QUANT_TEST_DEPS)
