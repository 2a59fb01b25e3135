# mk/onnx.mk: tools/import_onnx.py (ONNX -> .net + .safetensors) and its
# suite, tests/unit/test_onnx.c. python3-onnx is the importer's protobuf
# reader; libonnx-testdata holds ONNX's backend conformance tests, which
# the suite runs through the importer and cnnc. Without them the suite
# skips, saying so. `make test-onnx` runs it alone.
APT_NEED += file:/usr/lib/python3/dist-packages/onnx/__init__.py:python3-onnx
APT_NEED += file:/usr/share/libonnx-testdata/data/node:libonnx-testdata

.PHONY: test-onnx
test-onnx: $(BUILD)/cnnc $(BUILD)/tests/test_onnx
	@bash tests/run.sh $(BUILD)/tests/test_onnx
