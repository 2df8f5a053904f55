"""``bastion deploy``: roll a model's new versions out (canary, shadow, A/B, bandit), show or clear the rollout.

A thin shell over ``bastion.serve.deployments``. Exit status: 0 done, 1 refused by a rule, 2 usage error, 3 not
authenticated or permission denied.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from bastion.cli._principal import add_common_options, open_as_caller

if TYPE_CHECKING:
    from bastion.registry import Principal, Registry
    from bastion.serve.deployments import Deployment


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "deploy",
        help="roll out versions of a served model: canary, shadow, A/B, bandit, with automatic rollback",
        description=(
            "Set how a running 'bastion serve' splits NAME's traffic between versions (it picks the change up on its "
            "next reload). Every version must be approved. Needs model.deploy (roles mlops, admin); --show needs "
            "model.read. Exit status: 0 done, 1 refused by a rule, 2 usage error, 3 not authenticated or permission denied."
        ),
    )
    parser.add_argument("name", metavar="NAME")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--canary", type=int, metavar="VERSION", help="send --weight percent of requests to VERSION")
    mode.add_argument("--shadow", type=int, metavar="VERSION", help="mirror --fraction of requests to VERSION, never answering")
    mode.add_argument("--ab", type=int, metavar="VERSION", help="send --split percent of users (by --key) to VERSION")
    mode.add_argument("--bandit", type=_versions, metavar="V1,V2,...", help="route by rewards from /v1/feedback")
    mode.add_argument("--show", action="store_true", help="show the rollout, its bandit rewards and rollbacks")
    mode.add_argument("--clear", action="store_true", help="remove the rollout: the server's started version answers")
    parser.add_argument("--stable", type=int, metavar="VERSION", help="the version answering otherwise (default: newest in prod)")
    parser.add_argument("--weight", type=float, default=10.0, metavar="PERCENT", help="canary share (default 10)")
    parser.add_argument("--fraction", type=float, default=0.1, metavar="F", help="shadow share in [0, 1] (default 0.1)")
    parser.add_argument("--split", type=float, default=50.0, metavar="PERCENT", help="A/B share of VERSION (default 50)")
    parser.add_argument("--key", default="header:X-User", metavar="header:NAME", help="A/B sticky key (default header:X-User)")
    parser.add_argument("--policy", choices=("thompson", "epsilon-greedy"), default="thompson", help="bandit policy")
    parser.add_argument("--rollback-error-rate", type=float, metavar="RATE", help="roll back above this error rate (e.g. 0.05)")
    parser.add_argument("--rollback-p99", type=_milliseconds, metavar="DURATION", help="roll back above this p99 (250ms, 1s)")
    add_common_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.serve import deployments

    registry, caller = open_as_caller(args)
    if args.show:
        shown = deployments.show(registry, caller, args.name)
        _print(args, shown, "" if shown else f"{args.name} has no rollout")
        return 0
    if args.clear:
        deployments.clear(registry, caller, args.name)
        _print(args, None, f"{args.name}: rollout cleared")
        return 0
    made = deployments.deploy(registry, caller, _requested(args, registry, caller))
    _print(args, made, "")
    return 0


def _requested(args: argparse.Namespace, registry: Registry, caller: Principal) -> Deployment:
    from bastion.serve.deployments import Deployment

    rollback = {"rollback_error_rate": args.rollback_error_rate, "rollback_p99_ms": args.rollback_p99}
    if args.bandit:
        first, *rest = args.bandit
        return Deployment(args.name, "bandit", first, tuple(rest), policy=args.policy, **rollback)
    stable = args.stable if args.stable is not None else _newest_in_prod(registry, caller, args.name)
    if args.canary is not None:
        return Deployment(args.name, "canary", stable, (args.canary,), share=args.weight, **rollback)
    if args.shadow is not None:
        return Deployment(args.name, "shadow", stable, (args.shadow,), share=args.fraction, **rollback)
    return Deployment(args.name, "ab", stable, (args.ab,), share=args.split, sticky_key=args.key, **rollback)


def _newest_in_prod(registry: Registry, caller: Principal, name: str) -> int:
    from bastion.registry import RegistryError, Stage

    in_prod = [v.version for v in registry.show_model(caller, name).versions if v.stage == Stage.PROD.value]
    if not in_prod:
        raise RegistryError(f"model {name} has no version in prod; name the stable one with --stable VERSION")
    return max(in_prod)


def _print(args: argparse.Namespace, deployment: Deployment | None, message: str) -> None:
    if args.output_format == "json":
        print(json.dumps({"name": args.name, "deployment": deployment.to_dict() if deployment else None}, indent=2))
        return
    if deployment is None:
        print(message)
        return
    d = deployment
    if d.mode == "bandit":
        split = f"{d.policy}"
    elif d.mode == "shadow":
        split = f"{d.share:g} mirrored"
    else:
        split = f"{d.share:g}%" + (f" by {d.sticky_key}" if d.mode == "ab" else "")
    print(f"{d.model}: {d.mode} {split}, stable {d.stable}, candidates {', '.join(map(str, d.candidates))}")
    thresholds = [f"error rate > {d.rollback_error_rate:g}"] if d.rollback_error_rate is not None else []
    thresholds += [f"p99 > {d.rollback_p99_ms:g} ms"] if d.rollback_p99_ms is not None else []
    if thresholds:
        print(f"  rollback when {' or '.join(thresholds)}" + ("  (ROLLED BACK)" if d.rolled_back else ""))
    for arm in d.arms:
        mean = f"{arm.mean:.3f}" if arm.mean is not None else "-"
        print(f"  v{arm.version}: {arm.rewards} rewards, mean {mean}")
    for event in d.rollbacks:
        print(f"  {event.at}  rolled back {event.version} -> {event.stable}: {event.reason} ({event.samples} requests)")
    print(f"  deployed by {d.created_by} at {d.created_at}")


def _versions(text: str) -> tuple[int, ...]:
    try:
        versions = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of versions: {text!r}") from None
    if len(versions) < 2:
        raise argparse.ArgumentTypeError("a bandit needs at least two versions")
    return versions


def _milliseconds(text: str) -> float:
    units = {"ms": 1.0, "s": 1000.0}
    for unit in ("ms", "s"):
        if text.endswith(unit):
            number = text.removesuffix(unit)
            break
    else:
        unit, number = "ms", text
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}; e.g. 250ms or 1s") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value
