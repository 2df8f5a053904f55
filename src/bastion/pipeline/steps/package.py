"""package: the model with its model card metrics, references to the data (digests, never the data), the project's
code and requirements, an SBOM and the run's reports, as one ModelKit (OCI layout) with an ML-BOM."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.pipeline.interface import Step, StepContext, StepError, StepResult
from bastion.pipeline.spec import PipelineSpec
from bastion.pipeline.steps._project import input_files, read_features, write_json

if TYPE_CHECKING:
    from bastion.ml.schema import ModelSchema

_REPORTED_STEPS = ("evaluate", "model-tests")


class PackageStep(Step):
    """Outputs the ``package`` directory; details ``package`` (``path``, ``digest``)."""

    name = "package"
    needs = ("gate-post", "ingest", "split", "train", "scan", *_REPORTED_STEPS)

    def params(self, spec: PipelineSpec) -> Mapping[str, Any]:
        return {"name": spec.name, "offline": spec.steps.scan.offline}

    def inputs(self, context: StepContext) -> Mapping[str, Path]:
        return input_files(context.spec, context.project)

    def run(self, context: StepContext) -> StepResult:
        from bastion.signing import build_package

        spec, workdir = context.spec, context.workdir
        contents = workdir / spec.name
        contents.mkdir()
        model = context.output("train", "model")
        shutil.copyfile(model, contents / model.name)
        self._schema(context, model).write(contents)
        code = input_files(spec, context.project, ("code", "notebooks", "requirements"))
        for name, path in code.items():
            (contents / "code" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, contents / "code" / name)
        (contents / "data").mkdir()
        write_json(contents / "data" / "references.json", self._references(context))
        reports = contents / "reports"
        reports.mkdir()
        shutil.copyfile(context.output("scan", "report"), reports / "scan.json")
        for step in _REPORTED_STEPS:
            result = context.upstream[step]
            write_json(reports / f"{step}.json", {"metrics": dict(result.metrics), **result.details})
        metrics = {name: value for name, value in context.upstream["evaluate"].metrics.items() if value is not None}
        write_json(reports / "metrics.json", metrics)
        if spec.inputs.requirements:
            (reports / "sbom.cdx.json").write_text(self._sbom(context), encoding="utf-8")
        kitfile = self._kitfile(spec, model.name, has_code=bool(code), workdir=workdir)
        context.progress(0.5, "building the ModelKit")
        built = build_package(contents, workdir / "package", kitfile, reports / "metrics.json")
        return StepResult(
            status="passed",
            outputs={"package": built.path},
            details={"package": {"path": str(built.path), "digest": built.digest}},
            message=f"packed {len(built.layers)} layer(s) as {built.digest}",
        )

    def _schema(self, context: StepContext, model: Path) -> ModelSchema:
        """What the model takes (types, training ranges, categories, examples): serving validates requests with it."""
        import pyarrow.parquet as pq

        from bastion.ml._labels import label_text
        from bastion.ml.persist import load_model
        from bastion.ml.schema import ModelSchema, describe_inputs

        features = read_features(context.output("split", "features"))
        return ModelSchema(
            inputs=describe_inputs(pq.read_table(context.output("split", "train"), columns=features), features),
            target=context.spec.inputs.target,
            classes=tuple(label_text(value) for value in load_model(model).classes_),
            positive_label=label_text(context.spec.inputs.positive_label),
            model_file=model.name,
        )

    def _references(self, context: StepContext) -> dict[str, Any]:
        """SHA-256 of every input (their addresses in the store) and of both splits: what the model was built from,
        without the data itself."""
        from bastion.signing import hash_file

        splits = {name: context.output("split", name) for name in ("train", "test")}
        return {
            "inputs": dict(context.upstream["ingest"].details["inputs"]),
            "splits": {name: hash_file(path) for name, path in splits.items()},
            "target": context.spec.inputs.target,
        }

    def _sbom(self, context: StepContext) -> str:
        """CycloneDX SBOM of the project's requirements with the vulnerabilities known for them (as ``bastion sbom``)."""
        from bastion.scanners import ScanOptions
        from bastion.scanners.code.advisories import SourceError
        from bastion.scanners.code.dependencies.sbom import build_sbom, collect
        from bastion.scanners.code.dependencies.scanner import advisory_source

        paths = [str(context.project / given) for given in context.spec.inputs.requirements]
        try:
            return build_sbom(collect(paths), advisory_source(ScanOptions(offline=context.spec.steps.scan.offline)))
        except SourceError as exc:
            raise StepError(f"advisories not checked, SBOM not written: {exc}") from None

    def _kitfile(self, spec: PipelineSpec, model: str, *, has_code: bool, workdir: Path) -> Path:
        from bastion.ml.schema import FILE_NAME as SCHEMA_FILE
        from bastion.signing import Kitfile, kitfile_yaml
        from bastion.signing.kitfile import Code, DataSet, Docs, Model, ModelPart, Package

        kitfile = Kitfile(
            package=Package(name=spec.name, description=f"{spec.name}: built by the Bastion pipeline"),
            model=Model(
                name=spec.name,
                path=model,
                framework="scikit-learn",
                format="skops",
                parts=(ModelPart(name="input schema", path=SCHEMA_FILE, type="schema"),),
            ),
            code=(Code(path="code", description="training code, notebooks and requirements"),) if has_code else (),
            datasets=(DataSet(name="references", path="data", description="SHA-256 digests of the training data, not the data"),),
            docs=(Docs(path="reports", description="scan, evaluation and model-test reports, metrics, SBOM"),),
        )
        path = workdir / "Kitfile"
        path.write_text(kitfile_yaml(kitfile), encoding="utf-8")
        return path
