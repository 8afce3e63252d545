"""Saving: verified safetensors model files, Keras .h5 weights."""
