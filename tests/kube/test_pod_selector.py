"""Label selectors as the pod cache reads them: the grammar of a scale's ``status.selector``
(``labels.Parse`` in apimachinery), one row per fact."""
from __future__ import annotations

import re

import pytest

from autoscaler.kube.errors import Invalid
from autoscaler.kube.selector import parse_selector

WEB_GPU = {"app": "web", "tier": "gpu"}


@pytest.mark.parametrize("selector,labels,matches", [
    # equality-based (what matchLabels renders)
    pytest.param("app=web", WEB_GPU, True, id="equals"),
    pytest.param("app==web", WEB_GPU, True, id="double-equals"),
    pytest.param("app=db", WEB_GPU, False, id="equals-other-value"),
    pytest.param("app=web,tier=gpu", WEB_GPU, True, id="all-must-hold"),
    pytest.param("app=web,tier=cpu", WEB_GPU, False, id="one-fails"),
    pytest.param("app!=db", WEB_GPU, True, id="not-equals"),
    pytest.param("app!=web", WEB_GPU, False, id="not-equals-same"),
    pytest.param("track!=canary", WEB_GPU, True, id="not-equals-matches-absent-label"),
    pytest.param("app=", {"app": ""}, True, id="empty-value"),
    pytest.param("app=", WEB_GPU, False, id="empty-value-vs-set"),
    pytest.param(" app = web , tier = gpu ", WEB_GPU, True, id="whitespace"),
    pytest.param("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True, id="prefixed-key"),
    # set-based (what matchExpressions render: In, NotIn, Exists, DoesNotExist)
    pytest.param("tier in (cpu,gpu)", WEB_GPU, True, id="in"),
    pytest.param("tier in (cpu)", WEB_GPU, False, id="in-other"),
    pytest.param("track in (stable)", WEB_GPU, False, id="in-needs-the-label"),
    pytest.param("tier notin (cpu)", WEB_GPU, True, id="notin"),
    pytest.param("tier notin (cpu,gpu)", WEB_GPU, False, id="notin-listed"),
    pytest.param("track notin (canary)", WEB_GPU, True, id="notin-matches-absent-label"),
    pytest.param("tier", WEB_GPU, True, id="exists"),
    pytest.param("track", WEB_GPU, False, id="exists-absent"),
    pytest.param("!track", WEB_GPU, True, id="does-not-exist"),
    pytest.param("!tier", WEB_GPU, False, id="does-not-exist-present"),
    pytest.param("app in (web),tier in (gpu,spot),!canary,track notin (old)", WEB_GPU, True,
                 id="match-expressions-rendered"),
    pytest.param("tier in (gpu, spot )", WEB_GPU, True, id="spaces-in-set"),
    pytest.param("tier in (,gpu)", {"tier": ""}, True, id="empty-value-in-set"),
    # gt / lt (labels.Parse accepts them; an integer label is compared as one)
    pytest.param("gen>3", {"gen": "4"}, True, id="gt"),
    pytest.param("gen>3", {"gen": "3"}, False, id="gt-equal"),
    pytest.param("gen<3", {"gen": "-1"}, True, id="lt-negative"),
    pytest.param("gen>3", {"gen": "x"}, False, id="gt-not-an-integer"),
    pytest.param("gen>3", {}, False, id="gt-absent"),
])
def test_matches(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(selector).matches(labels) is matches


@pytest.mark.parametrize("selector,why", [
    pytest.param("app=web,", "trailing ','", id="trailing-comma"),
    pytest.param(",app=web", "is not a label key", id="leading-comma"),
    pytest.param("app=web tier=gpu", "expected ','", id="missing-comma"),
    pytest.param("tier in gpu", "expected '('", id="in-without-parens"),
    pytest.param("tier in (gpu", "missing ')'", id="unclosed"),
    pytest.param("tier in ()", "needs at least one value", id="empty-set"),
    pytest.param("tier in (a b)", "expected ',' or ')'", id="set-missing-comma"),
    pytest.param("gen>x", "needs an integer", id="gt-not-an-integer"),
    pytest.param("app=-web", "is not a label value", id="bad-value"),
    pytest.param("-app=web", "is not a label key", id="bad-key"),
    pytest.param("!", "is not a label key", id="bang-alone"),
    pytest.param("app=(web)", "is not a label value", id="parens-as-value"),
])
def test_invalid_selectors_are_refused_as_the_api_server_would(selector: str, why: str) -> None:
    with pytest.raises(Invalid, match=re.escape(why)) as raised:
        parse_selector(selector)
    assert raised.value.status == 400


def test_empty_selector_matches_everything() -> None:
    assert parse_selector("").empty and parse_selector("  ").matches(WEB_GPU)
