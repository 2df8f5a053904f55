"""Anonymization: per-column transforms (drop, mask, keyed pseudonyms, generalize, encrypt, redact), k-anonymity, and
decryption of the encrypted columns."""

from bastion.privacy.anonymize import AnonymizeReport, ColumnReport, anonymize
from bastion.privacy.datakey import data_key_path, read_data_key
from bastion.privacy.decrypt import DecryptReport, decrypt
from bastion.privacy.errors import AnonymizeError
from bastion.privacy.kanonymity import KAnonymity, measure
from bastion.privacy.policy import AnonPolicy, load_anon_policy, parse_anon_policy
from bastion.privacy.transforms import PSEUDONYM_PURPOSE, decrypt_values

__all__ = [
    "PSEUDONYM_PURPOSE",
    "AnonPolicy",
    "AnonymizeError",
    "AnonymizeReport",
    "ColumnReport",
    "DecryptReport",
    "KAnonymity",
    "anonymize",
    "data_key_path",
    "decrypt",
    "decrypt_values",
    "load_anon_policy",
    "measure",
    "parse_anon_policy",
    "read_data_key",
]
