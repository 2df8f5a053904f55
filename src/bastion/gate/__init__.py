"""The gate: a policy file judged against findings, metrics and scan completeness."""

from bastion.gate.evaluate import evaluate, path_glob
from bastion.gate.policy import NEVER, MetricThreshold, Policy, PolicyError, RuleLists, Waiver, load_policy, parse_policy

__all__ = [
    "NEVER",
    "MetricThreshold",
    "Policy",
    "PolicyError",
    "RuleLists",
    "Waiver",
    "evaluate",
    "load_policy",
    "parse_policy",
    "path_glob",
]
