"""Training runs: the run config, the run folder, the runner and the training monitor."""
