"""Engines that run a model (architecture + rule + neuron model) on a stimulus stream."""
