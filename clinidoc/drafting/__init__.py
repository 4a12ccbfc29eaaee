"""Note drafting: LLM backends, GGUF inspection and hardware fit, templates, grounded section drafting."""
