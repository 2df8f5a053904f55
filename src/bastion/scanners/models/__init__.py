"""Model-file scanners (pickle family, containers, Keras, ONNX, GGUF, safetensors)."""
