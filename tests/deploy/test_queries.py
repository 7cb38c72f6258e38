"""Every dashboard query and every alert expression, sent to a real Prometheus that
scrapes the fleet of tests/deploy/conftest.py (``fleet_jobs``: the real exporter and
the controller's telemetry): each parses, and each returns data where it should.

One Prometheus for the whole module; its first samples take ~6 s (the discovery
throttle, toolchain-facts §2), every query after that a few milliseconds.
"""
from __future__ import annotations

import re

import pytest
import yaml

from simulations.cluster.prometheus import PrometheusServer
from tests.deploy import contract, manifests
from tests.deploy.dashboards import dashboards, queries, substitute, variable_query, variables

# Two ways an engineer uses the variables: everything ("All" sends the allValue),
# and one concrete choice, which proves the filters name labels the series have.
CHOICES = {
    "all": {"namespace": ".*", "scaler": ".*", "node": ".*"},
    "one": {"namespace": "serving", "scaler": "llm-vllm", "node": "gpu-node-1"},
}

RULES = [r for g in yaml.safe_load(manifests.RULES_FILE.read_text())["groups"] for r in g["rules"]]

# The fleet is unhealthy on purpose (tests/deploy/fleet.py): every alert's
# condition holds except this one, which excludes GPUAutoscalerNoLeader.
QUIET = {"GPUAutoscalerMultipleLeaders"}

# Labels that, in a cluster, scrape-target relabeling adds (deploy/monitoring/
# podmonitor.yaml adds `node` to `up`); a static test scrape job cannot.
ADDED_BY_RELABELING = {"up": {"node"}}


@pytest.fixture(scope="module")
def prom(fleet_prometheus: PrometheusServer) -> PrometheusServer:
    """Prometheus once every target was scraped twice (so rate() has two samples)."""
    p = fleet_prometheus
    p.wait_for("count(up == 0) == 2 and count(up == 1) == 4", timeout=40)
    p.wait_for("gpu_sm_active_ratio", timeout=20)  # GPM needs the exporter's second tick
    p.wait_for("rate(gpu_autoscaler_reconcile_duration_seconds_count[1m]) > 0", timeout=20)
    p.wait_for("rate(gpu_exporter_errors_total[1m]) > 0", timeout=20)
    return p


def test_source_exposes_every_metric_name(prom):
    got = {r["metric"]["__name__"] for r in prom.query('count by (__name__) ({__name__=~"(gpu|inference)_.+"})')}
    assert contract.series_names() <= got


QUERIES = queries()


@pytest.mark.parametrize("choice", sorted(CHOICES))
@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_panel_query_returns_data(prom, query, choice):
    expr = substitute(query.expr, CHOICES[choice])
    # A counter's rate() needs two scrapes of that very series after it first appears
    # (an exporter's first error, say): allow a few scrape intervals before failing.
    prom.wait_for(expr, timeout=15)


VARIABLES = [(name, v) for name, dash in dashboards().items() for v in list(variables(dash).values())[1:]]


@pytest.mark.parametrize("variable", [v for _, v in VARIABLES], ids=[f"{d}:{v['name']}" for d, v in VARIABLES])
def test_variable_offers_the_values_tested(prom, variable):
    selector, label = variable_query(variable)
    result = prom.query(substitute(selector, CHOICES["all"]))
    values = {r["metric"].get(label) for r in result} - {None}
    assert CHOICES["one"][variable["name"]] in values, values


def test_prometheus_rejects_a_broken_query(prom):
    # The checks above would pass vacuously if errors came back as empty results:
    # a parse error is HTTP 400, which urllib raises (HTTPError is an OSError).
    with pytest.raises(OSError, match="400"):
        prom.query("sum(rate(gpu_exporter_errors_total[1m])")


@pytest.mark.parametrize("rule", RULES, ids=[r["alert"] for r in RULES])
def test_alert_expression(prom, rule):
    if rule["alert"] in QUIET:
        result = prom.query(rule["expr"])
        assert result == [], result
        return
    result = prom.wait_for(rule["expr"], timeout=15)  # a few scrapes for rate() windows, as above
    # every label the annotations print is on every series the expression returns
    wanted = set(re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())))
    metric = re.match(r"\s*(\w+)", rule["expr"]).group(1)
    wanted -= ADDED_BY_RELABELING.get(metric, set())
    for series in result:
        assert wanted <= set(series["metric"]), (rule["alert"], series["metric"])
