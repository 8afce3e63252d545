"""Training: losses, optimizers, schedules, metrics, callbacks, gradient checking."""
