"""The ``onnx`` and ``onnx-int8`` backends: export an Encoder's network, run it with onnxruntime."""
