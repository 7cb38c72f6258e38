"""The Grafana dashboards, read statically: datasource as a variable, the namespace/
scaler/node variables, and only metric names the exporter and controller export.
(tests/deploy/test_queries.py sends every query to a real Prometheus.)"""
from __future__ import annotations

import re

import pytest

from tests.deploy import contract
from tests.deploy.dashboards import dashboards, panels, queries, substitute, variable_query, variables

DASHBOARDS = dashboards()
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# dashboard -> the variables an on-call engineer filters by
EXPECTED_VARIABLES = {
    "gpu-fleet": ["datasource", "node", "namespace"],
    "gpu-autoscaler": ["datasource", "namespace", "scaler"],
}


def test_the_two_dashboards():
    assert set(DASHBOARDS) == set(EXPECTED_VARIABLES)
    assert {d["uid"] for d in DASHBOARDS.values()} == set(EXPECTED_VARIABLES)


@pytest.mark.parametrize("name", sorted(EXPECTED_VARIABLES))
def test_variables(name):
    vs = variables(DASHBOARDS[name])
    assert list(vs) == EXPECTED_VARIABLES[name]
    assert vs["datasource"]["type"] == "datasource" and vs["datasource"]["query"] == "prometheus"
    for v in list(vs.values())[1:]:
        assert v["datasource"] == DATASOURCE
        # "All" must also match series without the label, so filters never hide data
        assert (v["includeAll"], v["multi"], v["allValue"]) == (True, True, ".*")
        selector, label = variable_query(v)
        assert label == v["name"] and selector


@pytest.mark.parametrize("name", sorted(EXPECTED_VARIABLES))
def test_every_panel_reads_the_datasource_variable(name):
    dash = DASHBOARDS[name]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(dash):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
        assert panel.get("description"), f"{panel['title']!r} needs a description (the (i) an on-call engineer hovers)"


NAME = re.compile(r"\b((?:gpu|inference)_[a-z_]+)\b")


def test_queries_use_only_exported_metric_names():
    known = contract.series_names()
    for q in queries():
        unknown = set(NAME.findall(q.expr)) - known
        assert not unknown, f"{q.id}: {sorted(unknown)}"


def test_every_contract_metric_is_on_a_dashboard():
    used = {n for q in queries() for n in NAME.findall(q.expr)}
    used = {n.removesuffix("_bucket") for n in used}
    assert contract.ALL - used == set()


def test_substitution():
    assert substitute('x{a=~"$namespace", b=~"${scaler}"}[$__rate_interval]', {"namespace": "n", "scaler": "s"}) == (
        'x{a=~"n", b=~"s"}[1m]')
    with pytest.raises(KeyError):
        substitute("x{a=~\"$nope\"}", {})
