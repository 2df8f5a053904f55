"""``bastion serve``: serve approved, signed, scanned models over HTTP with authentication, rate limits and input
validation. Exit status: 2 when a model is refused at start (one line per refused model) or on a usage error."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.serve.config import ServeConfig

_DESCRIPTION = (
    "Serve MODEL[@STAGE|@ALIAS|:VERSION] (default NAME@prod) from the registry. A version is loaded only if it is "
    "APPROVED (and in the stage asked for), its package is the one registered and its signature verifies against a "
    "trusted key, and its model files pass the model scanner; otherwise the server refuses to start. The registry is "
    "polled for stage, alias and deployment changes, and a new version is admitted the same way before traffic "
    "switches to it. Every route but /healthz and /readyz needs 'Authorization: Bearer TOKEN' (a registry API token, "
    "or an OIDC JWT with --oidc-issuer); predictions need the permission model.predict."
)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve", help="serve approved, signed models over HTTP (FastAPI + uvicorn)", description=_DESCRIPTION
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def add_arguments(parser: Any) -> None:
    parser.add_argument("models", nargs="+", metavar="MODEL[@STAGE|@ALIAS|:VERSION]", help="models to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (each admits the models and limits apart)")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate (with --tls-key)")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the certificate's private key")
    parser.add_argument("--rate-limit", default="100/s", metavar="RATE", help="per principal and per model (default 100/s)")
    parser.add_argument("--max-body", default="1MB", metavar="SIZE", help="largest request body (default 1MB)")
    parser.add_argument("--max-batch", type=int, default=1000, metavar="ROWS", help="most rows per request (default 1000)")
    parser.add_argument("--timeout", default="5s", metavar="DURATION", help="per-request time limit (default 5s)")
    parser.add_argument(
        "--range-tolerance",
        type=float,
        default=0.1,
        metavar="FRACTION",
        help="how far outside the training range a number may be, as a fraction of that range (default 0.1)",
    )
    parser.add_argument("--oidc-issuer", metavar="URL", help="accept JWTs from this issuer (with --oidc-audience, --oidc-jwks)")
    parser.add_argument("--oidc-audience", metavar="AUDIENCE", help="the audience JWTs must name")
    parser.add_argument("--oidc-jwks", metavar="FILE|URL", help="the issuer's JSON Web Key Set")
    parser.add_argument("--oidc-roles-claim", default="groups", metavar="CLAIM", help="claim whose values name registry roles")
    parser.add_argument("--public-metrics", action="store_true", help="serve /metrics without credentials")
    parser.add_argument(
        "--capture-sample", type=float, default=0.0, metavar="FRACTION", help="capture this share of predictions (default 0)"
    )
    parser.add_argument("--capture-policy", type=Path, metavar="ANON.yaml", help="anonymization applied before capture files")
    parser.add_argument("--capture-dir", metavar="DIR|URL", help="where capture files go (default: the artifact store)")
    parser.add_argument("--poll-interval", default="5s", metavar="DURATION", help="registry poll for hot reload (default 5s)")


def run(args: argparse.Namespace) -> int:
    from bastion.serve._server import run as serve

    serve(_config(args))
    return 0


def _config(args: argparse.Namespace) -> ServeConfig:
    from bastion.core import BastionError
    from bastion.serve.config import ModelReference, OidcSettings, Rate, ServeConfig, parse_duration, parse_size

    oidc_options = (args.oidc_issuer, args.oidc_audience, args.oidc_jwks)
    if any(oidc_options) and not all(oidc_options):
        raise BastionError("OIDC needs all of --oidc-issuer, --oidc-audience and --oidc-jwks")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise BastionError("TLS needs both --tls-cert and --tls-key")
    if args.workers < 1 or args.max_batch < 1 or not 0 <= args.range_tolerance <= 10:
        raise BastionError("--workers and --max-batch must be at least 1, --range-tolerance between 0 and 10")
    oidc = (
        OidcSettings(args.oidc_issuer, args.oidc_audience, args.oidc_jwks, args.oidc_roles_claim) if all(oidc_options) else None
    )
    return ServeConfig(
        models=tuple(ModelReference.parse(text) for text in args.models),
        host=args.host,
        port=args.port,
        workers=args.workers,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        rate=Rate.parse(args.rate_limit),
        max_body=parse_size(args.max_body),
        max_batch=args.max_batch,
        timeout=parse_duration(args.timeout),
        range_tolerance=args.range_tolerance,
        oidc=oidc,
        public_metrics=args.public_metrics,
        poll_interval=parse_duration(args.poll_interval),
        capture_sample=args.capture_sample,
        capture_policy=args.capture_policy,
        capture_dir=args.capture_dir,
    )
