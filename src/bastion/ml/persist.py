"""Models on disk in skops' format only: written atomically, read back without unpickling and with a type check.

skops stores an object tree as JSON plus numpy arrays and rebuilds it type by type; a type it does not
trust by default has to be named to load. We name only classes of scikit-learn, numpy and scipy (plus
what the caller explicitly trusts): a function or a class from anywhere else could run arbitrary code
once the model is used, so a file that needs one is refused before anything in it is constructed.
"""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.core.atomic import atomic_write
from bastion.core.errors import BastionError

FORMAT = "skops"
"""The one format ``save_model`` writes."""

_TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")
# skops distrusts these two although they are scikit-learn's: their node indices are used without bounds checks,
# so a crafted file loads fine and then reads out of bounds in predict(). We trust them after checking every node.
_TREE = "sklearn.tree._tree.Tree"
_TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
# Modules of those packages that read files or run code: nothing a fitted model needs.
_EXCLUDED_MODULES = ("numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.npyio", "scipy.io")


class UnsafeModelError(BastionError):
    """A model that cannot be persisted or loaded in a safe format."""


@dataclass(frozen=True)
class SavedModel:
    """A fitted model written by ``save_model``."""

    path: Path
    """The model file."""
    format: str
    """Its format: always ``"skops"``."""

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format}


def save_model(model: object, directory: Path, *, name: str = "model", extra_trusted: Sequence[str] = ()) -> SavedModel:
    """Write ``model`` to ``directory/NAME.skops`` atomically.

    Refused with ``UnsafeModelError``: a model skops cannot represent, and one whose file could not be
    loaded back by ``load_model`` (it holds a function or class outside scikit-learn, numpy, scipy and
    ``extra_trusted``), so that no model is ever written that only an unsafe load could read.
    """
    import skops.io as sio

    if not name or Path(name).name != name or name.startswith("."):
        raise BastionError(f"model name {name!r} must be a plain file name (no directories, not hidden)")
    what = _type_name(model)
    try:
        data = sio.dumps(model)
    except Exception as exc:  # skops raises TypeError, AttributeError, … from deep in the object tree
        raise UnsafeModelError(
            f"{what} cannot be saved in the skops format ({type(exc).__name__}: {exc}); "
            "build the model from scikit-learn, numpy and scipy parts"
        ) from None
    refused = _refused(sio.get_untrusted_types(data=data), extra_trusted)
    if refused:
        raise UnsafeModelError(
            f"{what} holds {_listing(refused)}, which a safe load would have to trust; "
            "build the model from scikit-learn, numpy and scipy parts (module-level functions and classes only)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.{FORMAT}"
    atomic_write(path, data)
    return SavedModel(path=path, format=FORMAT)


def load_model(path: Path, *, extra_trusted: Sequence[str] = ()) -> Any:
    """The model in the skops file ``path``, rebuilt only if every type it needs is trusted.

    skops' own trusted set, plus classes of scikit-learn, numpy and scipy, plus ``extra_trusted``; any other
    type is refused by name with ``UnsafeModelError`` before anything is constructed. A file that is not a
    readable skops file is a ``BastionError``.
    """
    import skops.io as sio

    try:
        data = path.read_bytes()  # read once: the file checked is the file loaded
    except OSError as exc:
        raise BastionError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a damaged zip or schema fails anywhere in skops' reader
        raise BastionError(f"{path}: not a readable skops model ({_reason(exc)}); save the model again") from None
    refused = _refused(untrusted, extra_trusted)
    if refused:
        raise UnsafeModelError(
            f"{path}: refusing to load {_listing(refused)}: outside scikit-learn, numpy and scipy; "
            "add a type to extra_trusted only if you trust the code it runs"
        )
    try:
        model = sio.loads(data, trusted=untrusted)
    except Exception as exc:  # arrays or states damaged inside an otherwise well-formed file
        raise BastionError(f"{path}: not a readable skops model ({_reason(exc)}); save the model again") from None
    if _TREE in untrusted or _TREE_PREDICTOR in untrusted:
        problem = _tree_problem(model)
        if problem:
            raise UnsafeModelError(f"{path}: {problem}; the file was damaged or crafted, do not use it")
    return model


def _tree_problem(model: object) -> str | None:
    """What is wrong with the first decision tree in ``model`` whose nodes point outside it, if one does.

    Every split must lead to later nodes (so that a walk from the root ends) within the tree, and test a
    feature that the input is checked to have: the tree's estimator checks it against its ``n_features_in_``,
    but ensembles hand their own checked input to their trees unchecked, so there the smaller width counts.
    """
    import numpy as np
    from sklearn.ensemble import BaseEnsemble
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._classes import BaseDecisionTree
    from sklearn.tree._tree import Tree

    unchecked = (BaseEnsemble, BaseHistGradientBoosting, BaseDecisionTree)

    pending: list[tuple[object, int | None]] = [(model, None)]
    seen: set[int] = set()
    while pending:
        item, width = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Tree):
            n_features = item.n_features if width is None else min(width, item.n_features)
            internal = item.children_left != -1
            problem = _split_problem(item.children_left, item.children_right, item.feature, internal, n_features)
        elif isinstance(item, TreePredictor):
            nodes = item.nodes
            internal = nodes["is_leaf"] == 0
            problem = _split_problem(nodes["left"], nodes["right"], nodes["feature_idx"], internal, width)
            categorical = internal & (nodes["is_categorical"] != 0)
            bitsets = min(len(item.raw_left_cat_bitsets), len(item.binned_left_cat_bitsets))
            if problem is None and np.any(nodes["bitset_idx"][categorical] >= bitsets):
                problem = f"a categorical split names a bitset beyond the {bitsets} it has"
        elif isinstance(item, list | tuple):
            pending.extend((child, width) for child in item)
            continue
        elif isinstance(item, dict):
            pending.extend((child, width) for child in item.values())
            continue
        elif isinstance(item, np.ndarray) and item.dtype == object:
            pending.extend((child, width) for child in item.ravel())
            continue
        elif type(item).__module__.startswith("sklearn.") and hasattr(item, "__dict__"):
            declared = getattr(item, "n_features_in_", None)
            if isinstance(declared, int | np.integer):
                width = int(declared) if width is None else min(width, int(declared))
            passed = width if isinstance(item, unchecked) else None  # a pipeline's steps check their own input
            pending.extend((child, passed) for child in vars(item).values())
            continue
        else:
            continue
        if problem:
            return f"a decision tree in the model {problem}"
    return None


def _split_problem(left: Any, right: Any, feature: Any, internal: Any, n_features: int | None) -> str | None:
    import numpy as np

    count = len(internal)
    node = np.flatnonzero(internal)
    for name, children in (("left", left), ("right", right)):
        child = np.asarray(children, dtype=np.int64)[node]
        bad = (child <= node) | (child >= count)
        if bad.any():
            where = int(node[bad][0])
            return f"sends node {where} to {name} child {int(child[bad][0])}, outside nodes {where + 1}..{count - 1}"
    tested = np.asarray(feature, dtype=np.int64)[node]
    bad = (tested < 0) | (tested >= (n_features if n_features is not None else np.iinfo(np.int64).max))
    if bad.any():
        return f"tests feature {int(tested[bad][0])} at node {int(node[bad][0])}, but the input has {n_features} features"
    return None


def _is_trusted(name: str) -> bool:
    """Whether the fully qualified ``name`` is a class of scikit-learn, numpy or scipy that may be rebuilt.

    Functions are not: a model that calls one (``FunctionTransformer(func=...)``) would run it on every
    prediction, and skops already trusts the harmless ones (numpy's ufuncs).
    """
    module, _, attribute = name.rpartition(".")
    if not (
        _within(module, _TRUSTED_PACKAGES)
        and not _within(module, _EXCLUDED_MODULES)
        and attribute.lstrip("_")[:1].isupper()
        and "<" not in name
    ):
        return False
    # A file may name a class through any module that holds it (``numpy.lib._npyio_impl.DataSource`` is
    # ``numpy.lib.npyio.DataSource``): the module that defines it is the one the exclusions must see.
    try:
        defined = getattr(getattr(importlib.import_module(module), attribute), "__module__", None)
    except Exception:  # no such module or attribute (skops could not load it either), or a module that fails to import
        return False
    return isinstance(defined, str) and _within(defined, _TRUSTED_PACKAGES) and not _within(defined, _EXCLUDED_MODULES)


def _refused(untrusted: Sequence[str], extra_trusted: Sequence[str]) -> list[str]:
    allowed = set(extra_trusted)
    return sorted(name for name in untrusted if name not in allowed and not _is_trusted(name))


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"type{'s' if len(names) > 1 else ''} {shown}"


def _type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _reason(exc: Exception) -> str:
    if isinstance(exc, zipfile.BadZipFile):
        return "not a zip archive, or a truncated one"
    return f"{type(exc).__name__}: {exc}"[:200]
