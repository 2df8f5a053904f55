"""evaluate: the trained model on the test split: classification metrics, post-training bias per facet, and
feature attributions (SHAP where it fits the model, permutation importance otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bastion.pipeline.interface import Step, StepContext, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._facets import bias_metrics, facet
from bastion.pipeline.steps._model import Fitted, load_fitted
from bastion.pipeline.steps._project import column

if TYPE_CHECKING:
    from bastion.ml.bias import BiasReport


class EvaluateStep(Step):
    """Metrics for the gate (``accuracy`` … ``roc_auc``, ``DPPL[facet]`` …); details ``metrics``,
    ``confusion_matrix``, ``roc_curve``, ``bias`` and ``attributions``."""

    name = "evaluate"
    needs = ("train", "split")

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        facets = [{"column": f.column, "sensitive": list(f.sensitive), "threshold": f.threshold} for f in spec.inputs.facets]
        return {
            "target": spec.inputs.target,
            "positive_label": spec.inputs.positive_label,
            "facets": facets,
            "seed": spec.steps.split.seed,
        }

    def run(self, context: StepContext) -> StepResult:
        from bastion.ml.explain import explain
        from bastion.ml.metrics import classification_metrics

        inputs = context.spec.inputs
        fitted = load_fitted(context)
        X, y = fitted.test.X, fitted.test.y
        predicted = fitted.model.predict(X)
        scores = fitted.scores(X)
        context.progress(0.2, "metrics")
        measured = classification_metrics(
            y,
            predicted,
            scores,
            positive_label=inputs.positive_label,
            score_labels=list(fitted.model.classes_) if scores is not None else None,
        )
        context.progress(0.4, "bias")
        bias = self._bias(context, fitted, predicted)
        context.progress(0.6, "attributions")
        attributions = explain(
            fitted.model, X, y, fitted.features, seed=context.spec.steps.split.seed, positive_label=inputs.positive_label
        )
        values = {**measured.to_dict()["values"], **bias_metrics(bias, post=True)}
        details: dict[str, Any] = {
            "metrics": {"values": values},
            "confusion_matrix": measured.confusion.to_dict(),
            "bias": [report.to_dict() for report in bias],
            "attributions": attributions.to_dict(),
        }
        if measured.roc is not None:
            details["roc_curve"] = measured.roc.to_dict()
        shown = ", ".join(
            f"{name} {value:.3f}" for name in ("accuracy", "roc_auc") if (value := measured.values.get(name)) is not None
        )
        return StepResult(
            status="passed",
            metrics=values,
            details=details,
            message=f"evaluated on {len(X)} test row(s): {shown or 'no scores'}",
        )

    def _bias(self, context: StepContext, fitted: Fitted, predicted: Any) -> list[BiasReport]:
        """Post-training bias per facet; the flip test runs when the facet is not itself a model input."""
        from bastion.ml.bias import posttraining_bias

        inputs, test = context.spec.inputs, fitted.test
        reports = []
        for spec in inputs.facets:
            flip = spec.column not in fitted.features
            reports.append(
                posttraining_bias(
                    test.y,
                    predicted,
                    column(test.table, spec.column),
                    facet(spec, test.table.column_names, "the test split"),
                    positive_label=inputs.positive_label,
                    features=test.X if flip else None,
                    predict=fitted.model.predict if flip else None,
                    label_name=inputs.target,
                )
            )
        return reports
