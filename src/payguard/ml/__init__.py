"""Training, evaluation, the model registry and drift: the machine-learning capability."""
