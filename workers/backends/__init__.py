"""Generation backends: the interface in ``base``; engines import torch/vllm lazily."""
