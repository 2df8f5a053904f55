"""A Bastion instance: the state under ``BASTION_HOME`` that ``bastion init`` creates and ``bastion demo`` makes
for its own project — the local keyring, the audit key and log, the package-signing key pair the registry trusts,
and the registry with its first admin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instance:
    """What ``init_instance`` made or found."""

    home: Path
    keyring: Path
    audit_log: str
    """Where the audit log is: ``BASTION_HOME/audit``, or ``BASTION_AUDIT_URL``'s shared log."""
    audit_public_key: Path
    audit_key_id: str
    signing_key: Path
    """The private key packages are signed with; the registry trusts its public half."""
    database: str
    """The registry database's URL, password hidden."""
    admin: str | None
    """The first admin's name; None when the registry already had users."""
    admin_token: str | None
    """The first admin's API token (shown once); None when the registry already had users."""


def init_instance(admin: str = "admin") -> Instance:
    """Create what is missing of the instance in ``BASTION_HOME``; running it again keeps what exists."""
    from bastion.audit import AuditSigner, audit_url, open_log, record
    from bastion.audit.signer import PUBLIC_KEY_NAME
    from bastion.core import bastion_home
    from bastion.registry import Registry
    from bastion.signing import generate_key_pair
    from bastion.signing.keys import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE
    from bastion.store.keys import default_keyring_path, init_keyring

    home = bastion_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    keyring = default_keyring_path()
    init_keyring(keyring)
    signer = AuditSigner.open(home / "keys")
    log = open_log()  # BASTION_AUDIT_URL's shared log, else BASTION_HOME/audit (created here)
    if audit_url() is None:
        (home / "audit").mkdir(mode=0o700, exist_ok=True)
    record("init", target=str(home))
    signing = home / "keys" / "signing"
    if not (signing / PRIVATE_KEY_FILE).exists():
        generate_key_pair(signing)
    registry = Registry.open(create=True)
    try:
        first = registry.create_first_admin(admin)
        if first is not None:
            registry.trust_key(registry.authenticate(first.token), signing / PUBLIC_KEY_FILE)
        database = registry.engine.url.render_as_string(hide_password=True)
    finally:
        registry.close()
    return Instance(
        home=home,
        keyring=keyring,
        audit_log=log.location,
        audit_public_key=home / "keys" / PUBLIC_KEY_NAME,
        audit_key_id=signer.key_id,
        signing_key=signing / PRIVATE_KEY_FILE,
        database=database,
        admin=admin if first is not None else None,
        admin_token=first.token if first is not None else None,
    )
