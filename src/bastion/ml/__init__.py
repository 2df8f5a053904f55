"""Training, evaluation, bias, explanations and model security tests."""
