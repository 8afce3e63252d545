"""Stateless kernels with no Layer: activation functions, initializers, regularizers, batch-parallel helpers."""
