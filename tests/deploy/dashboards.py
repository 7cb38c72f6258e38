"""Reading the Grafana dashboards in deploy/grafana: panels, their queries, the
template variables, and Grafana's variable substitution (enough of it to send a
panel's query to a real Prometheus)."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.manifests import GRAFANA

# Grafana's built-in interval variables, as Prometheus durations that suit a test
# Prometheus scraping every second (two samples are enough for rate()).
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}

VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    expr: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.panel}:{self.ref}"


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(GRAFANA).glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows; rows themselves excluded."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries() -> list[Query]:
    return [
        Query(name, panel["title"], target["refId"], target["expr"])
        for name, dash in dashboards().items()
        for panel in panels(dash)
        for target in panel.get("targets", [])
    ]


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace $var, ${var}, ${var:format} and [[var]] as Grafana would; an unknown
    variable is an error (Grafana would send it to Prometheus verbatim)."""
    known = BUILTINS | values

    def one(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in known:
            raise KeyError(f"unknown dashboard variable ${name} in {text!r}")
        return known[name]

    return VARIABLE.sub(one, text)


def variable_query(variable: dict[str, Any]) -> tuple[str, str]:
    """A query variable's ``label_values(selector, label)`` as (PromQL selector, label)."""
    query = variable["query"]
    text = query["query"] if isinstance(query, dict) else query
    match = LABEL_VALUES.match(text.strip())
    if not match:
        raise ValueError(f"variable {variable['name']}: only label_values(...) is supported, got {text!r}")
    return match["selector"] or "", match["label"]
