"""Runs: the run configuration, the runner behind `nnlab train`, its monitor."""
