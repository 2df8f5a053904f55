"""The trained model and the splits it is judged on, loaded once per step that examines them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.pipeline.interface import StepContext
from bastion.pipeline.steps._project import column, feature_matrix, read_features

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa


@dataclass(frozen=True)
class Split:
    """One split as the model sees it."""

    X: npt.NDArray[np.float64]
    """The features as the float matrix the model was fitted on."""
    y: npt.NDArray[Any]
    """The target."""
    table: pa.Table
    """All columns of the split (features, target, facets)."""


@dataclass(frozen=True)
class Fitted:
    """A model from the train step, read back safely, with its features and both splits."""

    model: Any
    """The estimator, loaded by ``bastion.ml.persist.load_model`` (skops, trusted types only)."""
    features: list[str]
    """Its input columns, in order."""
    train: Split
    test: Split

    def scores(self, X: npt.NDArray[np.float64]) -> Any:
        """Class probabilities (one column per ``model.classes_``), or None for a model without ``predict_proba``."""
        return self.model.predict_proba(X) if hasattr(self.model, "predict_proba") else None


def load_fitted(context: StepContext) -> Fitted:
    import pyarrow.parquet as pq

    from bastion.ml.persist import load_model

    features = read_features(context.output("split", "features"))
    target = context.spec.inputs.target

    def split(name: str) -> Split:
        table = pq.read_table(context.output("split", name))
        return Split(X=feature_matrix(table, features), y=column(table, target), table=table)

    return Fitted(model=load_model(context.output("train", "model")), features=features, train=split("train"), test=split("test"))
