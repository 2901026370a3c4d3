"""Local LLM runtimes (Ollama, llama.cpp, LM Studio, MLX, vLLM, Docker Model Runner): which are
installed or running, and which models they hold. One module per runtime; `probe` runs them
concurrently under one deadline, `match` maps what they hold to catalog rows."""
