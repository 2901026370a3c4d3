"""llmfit: which open LLMs run on this machine, at which quantization, and how fast."""

__version__ = "0.1.0"
