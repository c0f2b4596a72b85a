"""Generation backends (STYLE.md §9): the interface in ``base``; engines import torch/vllm lazily."""
