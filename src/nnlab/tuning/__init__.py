"""Hyperparameter search with Optuna: the search space, the study, the report."""
