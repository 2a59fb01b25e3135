# mk/import.mk: tools/cnnc_import.py (TensorFlow Lite and ONNX to .net +
# .safetensors). The importer and its tests run on Debian's Python
# packages, installed by `make test` like the other tools: numpy and
# flatbuffers (the TFLite reader), Arm NN's reference backend (an
# independent TFLite runtime the tests compare float models with).
# tests/unit/test_tflite.c skips its tests when /usr/bin/python3 lacks them.
APT_NEED += file:/usr/lib/python3/dist-packages/numpy/__init__.py:python3-numpy \
            file:/usr/lib/python3/dist-packages/flatbuffers/__init__.py:python3-flatbuffers \
            file:/usr/lib/python3/dist-packages/pyarmnn/__init__.py:python3-pyarmnn

.PHONY: test-tflite
test-tflite: $(BUILD)/cnnc $(BUILD)/tests/test_tflite
	@bash tests/run.sh $(BUILD)/tests/test_tflite
