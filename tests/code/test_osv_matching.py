"""OSV records matched with PEP 440 semantics: ranges, version lists, pre-releases, epochs, local and post releases."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bastion.core import Severity
from bastion.scanners.code.advisories import Package, match, merge_aliases
from tests.code.osv_server import osv_records


def record(*ranges: list[dict[str, str]], versions: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    affected: dict[str, Any] = {
        "package": {"ecosystem": "PyPI", "name": "Sample_Package"},
        "ranges": [{"type": "ECOSYSTEM", "events": events} for events in ranges],
    }
    if versions is not None:
        affected["versions"] = versions
    return {"id": "GHSA-test-test-test", "modified": "2025-01-01T00:00:00Z", "affected": [affected], **fields}


def affects(osv: dict[str, Any], version: str) -> bool:
    return match(osv, Package("sample-package", version)) is not None


INTRODUCED_FIXED = record([{"introduced": "1.0"}, {"fixed": "2.0"}])


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.9", False),
        ("1.0", True),  # introduced is inclusive
        ("1.5", True),
        ("1.9.9", True),
        ("2.0", False),  # fixed is exclusive
        ("2.0.0", False),  # 2.0 == 2.0.0 under PEP 440, not as strings
        ("2.0rc1", True),  # a pre-release of the fix comes before it
        ("2.0.dev3", True),
        ("1.0rc1", False),  # a pre-release of the introducing version comes before it
        ("2.0.post1", False),  # a post release comes after the fix
        ("1.0.post1", True),
        ("1.5+cpu", True),  # a local version is the public release it was built from
        ("2.0+cpu", False),
        ("1!0.5", False),  # epoch 1 sorts after every epoch-0 version
        ("10.0", False),  # compared as versions, not text ("10.0" < "2.0" as strings)
        ("1.10", True),
    ],
)
def test_introduced_and_fixed(version: str, expected: bool) -> None:
    assert affects(INTRODUCED_FIXED, version) is expected


def test_epochs_in_the_advisory_bounds() -> None:
    epoch_range = record([{"introduced": "1!1.0"}, {"fixed": "1!1.5"}])
    assert affects(epoch_range, "1!1.2")
    assert not affects(epoch_range, "1.2"), "epoch 0 sorts before every epoch-1 version"
    assert not affects(epoch_range, "1!1.5")
    assert not affects(epoch_range, "2!0.1")
    from_zero = record([{"introduced": "0"}, {"fixed": "1!0.1"}])
    assert affects(from_zero, "99.0"), "every epoch-0 version is below 1!0.1"


def test_introduced_zero_covers_pre_releases_of_the_first_version() -> None:
    osv = record([{"introduced": "0"}, {"fixed": "1.0"}])
    assert affects(osv, "0.0.dev0")
    assert affects(osv, "0a1")
    assert affects(osv, "1.0b2")
    assert not affects(osv, "1.0")


def test_last_affected_is_inclusive() -> None:
    osv = record([{"introduced": "0"}, {"last_affected": "3.2"}])
    assert affects(osv, "3.2")
    assert affects(osv, "3.2+local")
    assert affects(osv, "3.2rc1")
    assert not affects(osv, "3.2.post1"), "a post release comes after the last affected one"
    assert not affects(osv, "3.2.1")


def test_several_ranges_and_reintroductions() -> None:
    two_ranges = record([{"introduced": "0"}, {"fixed": "1.26.17"}], [{"introduced": "2.0.0"}, {"fixed": "2.0.6"}])
    assert [affects(two_ranges, v) for v in ("1.26.16", "1.26.17", "1.26.18", "2.0.0a1", "2.0.5", "2.0.6")] == [
        True,
        False,
        False,
        False,
        True,
        False,
    ]
    one_range = record([{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"}, {"fixed": "2.5"}])
    assert [affects(one_range, v) for v in ("0.5", "1.5", "2.1", "2.5")] == [True, False, True, False]
    unordered = record([{"fixed": "2.5"}, {"introduced": "2.0"}, {"fixed": "1.0"}, {"introduced": "0"}])
    assert [affects(unordered, v) for v in ("0.5", "1.5", "2.1", "2.5")] == [True, False, True, False]


def test_versions_list_without_ranges() -> None:
    osv = record(versions=["1.0", "1.1.post2", "2!3.0"])
    assert affects(osv, "1.0.0")
    assert affects(osv, "1.1.post2")
    assert affects(osv, "2!3.0+build7")
    assert not affects(osv, "1.1")
    assert not affects(osv, "3.0")


def test_other_packages_ecosystems_withdrawn_and_unparseable_versions() -> None:
    osv = record([{"introduced": "0"}])
    assert not match(osv, Package("other-package", "1.0"))
    npm = {**osv, "affected": [{**osv["affected"][0], "package": {"ecosystem": "npm", "name": "sample-package"}}]}
    assert not affects(npm, "1.0")
    assert not affects({**osv, "withdrawn": "2024-01-01T00:00:00Z"}, "1.0")
    assert not affects(osv, "not a version")
    git_only = record()
    git_only["affected"][0]["ranges"] = [{"type": "GIT", "repo": "https://x", "events": [{"introduced": "0"}]}]
    assert not affects(git_only, "1.0"), "GIT ranges are commits, not versions"
    bad_bound = record([{"introduced": "0"}, {"fixed": "not-a-version"}, {"fixed": "2.0"}])
    assert affects(bad_bound, "1.0")
    assert not affects(bad_bound, "2.0")


def test_fixture_records_carry_ids_aliases_fixes_and_severity() -> None:
    records = osv_records()
    requests = match(records["GHSA-x84v-xcm2-53pg"], Package("requests", "2.19.0"))
    assert requests is not None
    assert (requests.aliases, requests.fixed, requests.severity, requests.score) == (
        ("CVE-2018-18074",),
        ("2.20.0",),
        Severity.HIGH,
        7.5,
    )
    assert requests.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
    assert requests.url == "https://nvd.nist.gov/vuln/detail/CVE-2018-18074"
    torch = match(records["GHSA-53q9-r3pm-6pq6"], Package("torch", "2.6.0rc1"))
    assert torch is not None and (torch.severity, torch.score) == (Severity.CRITICAL, 9.3), "CVSS v4 vector"
    assert match(records["GHSA-53q9-r3pm-6pq6"], Package("torch", "2.6.0+cpu")) is None
    urllib3 = match(records["GHSA-v845-jxx5-vc9f"], Package("urllib3", "2.0.5"))
    assert urllib3 is not None and (urllib3.severity, urllib3.score, urllib3.fixed) == (Severity.MEDIUM, None, ("2.0.6",))
    jinja = match(records["GHSA-h5c8-rqwp-cp95"], Package("jinja2", "3.1.2"))
    assert jinja is not None and (jinja.severity, jinja.score) == (Severity.MEDIUM, 5.4)
    assert match(records["GHSA-8q59-q68h-6hv4"], Package("pyyaml", "5.3")) is None, "withdrawn"


def test_unrated_advisories_count_as_high() -> None:
    found = match(record([{"introduced": "0"}]), Package("sample-package", "1.0"))
    assert found is not None and found.severity is Severity.HIGH


def test_aliases_merge_one_vulnerability_from_two_databases() -> None:
    records = osv_records()
    ghsa = match(records["GHSA-x84v-xcm2-53pg"], Package("requests", "2.19.0"))
    pysec_record = record(
        [{"introduced": "0"}, {"fixed": "2.20.0"}], id="PYSEC-2018-28", aliases=["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"]
    )
    pysec_record["affected"][0]["package"]["name"] = "requests"
    pysec = match(pysec_record, Package("requests", "2.19.0"))
    other = match(records["GHSA-h5c8-rqwp-cp95"], Package("jinja2", "3.1.2"))
    assert ghsa and pysec and other
    merged = merge_aliases([pysec, ghsa, other])
    assert [m.id for m in merged] == ["GHSA-h5c8-rqwp-cp95", "GHSA-x84v-xcm2-53pg"]
    assert merged[1].aliases == ("CVE-2018-18074", "PYSEC-2018-28")
    assert merged[1].score == 7.5


_VERSIONS = st.builds(
    lambda epoch, release, pre, post, dev, local: (
        f"{epoch}!" * (epoch > 0)
        + ".".join(map(str, release))
        + (f"{pre[0]}{pre[1]}" if pre else "")
        + (f".post{post}" if post is not None else "")
        + (f".dev{dev}" if dev is not None else "")
        + (f"+{local}" if local else "")
    ),
    st.integers(0, 2),
    st.lists(st.integers(0, 12), min_size=1, max_size=3),
    st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 3)),
    st.none() | st.integers(0, 2),
    st.none() | st.integers(0, 2),
    st.sampled_from(["", "", "cpu", "ubuntu.1"]),
)


@settings(max_examples=500, deadline=None)
@given(introduced=_VERSIONS, fixed=_VERSIONS, version=_VERSIONS)
@example(introduced="0", fixed="1", version="0.dev0")
def test_a_range_holds_exactly_the_versions_between_its_bounds(introduced: str, fixed: str, version: str) -> None:
    from packaging.version import Version

    def public(text: str) -> Version:
        return Version(Version(text).public)

    assume(public(introduced) < public(fixed))  # OSV reads an inverted pair as "reintroduced, never fixed"
    # OSV's introduced "0" means "from the very first version", pre-releases of 0 included.
    after_introduced = introduced == "0" or public(introduced) <= public(version)
    expected = after_introduced and public(version) < public(fixed)
    assert affects(record([{"introduced": introduced}, {"fixed": fixed}]), version) is expected
