# mk/export.mk: tools/cnnc_export.py (PyTorch model -> .net + .safetensors).
# PyTorch is optional, so python3-torch is not in APT_NEED: without it at
# /usr/bin/python3, tests/unit/test_export.c skips its tests (and without
# python3-torchvision, the torchvision ones). The suite runs in `make test`
# with the others; `make test-export` runs it alone.

.PHONY: test-export
test-export: $(BUILD)/cnnc $(BUILD)/tests/test_export
	@bash tests/run.sh $(BUILD)/tests/test_export
