"""The vectorized PyTorch engine: rule equations compiled to batched tensor code."""

from .codegen import CompiledNetwork, compile_network
from .train import Trainer, train

__all__ = ["CompiledNetwork", "compile_network", "Trainer", "train"]
