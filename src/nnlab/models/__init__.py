"""Models: the graph of layer calls, forward/backward over it, flat parameter buffers."""
