"""The finding model: severity order, --fail-on thresholds, JSON shape."""
import pytest

from inferguard.core.problems import InternalError
from inferguard.engine.findings import FAIL_ON_CHOICES, Finding, at_or_above, fails_on, worst


def _f(sev, check="x/y"):
    return Finding(check=check, severity=sev, message=f"{sev} finding")


def test_fail_on_is_a_floor_over_the_severity_order():
    fs = [_f("info"), _f("warning")]
    assert fails_on(fs, "warning") and fails_on(fs, "info")
    assert not fails_on(fs, "error") and not fails_on(fs, "critical")
    assert not fails_on(fs + [_f("critical")], "never")
    assert [f.severity for f in at_or_above(fs + [_f("error")], "warning")] == ["warning", "error"]


def test_worst_and_dict_findings_are_judged_alike():
    assert worst([]) is None
    assert worst([{"severity": "error"}, _f("warning")]) == "error"
    assert fails_on([{"severity": "critical"}], "error")


def test_unknown_severity_is_our_defect():
    with pytest.raises(InternalError):
        _f("fatal")
    assert FAIL_ON_CHOICES[0] == "never"


def test_json_keeps_evidence_pointers_and_drops_unset_fields():
    f = Finding("lmcache/zero-hits-after-warmup", "error", "no hits", subject="lmcache/zero-hits-after-warmup",
                evidence=({"artifact": "lmcache.prom", "metric": "lmcache_mp.lookup_hit_tokens", "value": 0},),
                confidence=0.8)
    j = f.to_json()
    assert j["evidence"] == [{"artifact": "lmcache.prom", "metric": "lmcache_mp.lookup_hit_tokens", "value": 0}]
    assert j["confidence"] == 0.8 and "remediation" not in j and "next_command" not in j
