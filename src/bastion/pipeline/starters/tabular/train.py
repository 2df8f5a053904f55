"""The model the pipeline trains. `bastion run` calls build_model(**steps.train.params) in a sandboxed child
process (no network, scrubbed environment) and fits what it returns with stratified cross-validation."""

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def build_model(C: float = 1.0) -> object:
    """An unfitted scikit-learn estimator; regularized (C) so that it does not memorize its training rows."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
