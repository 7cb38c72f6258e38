"""``python -m benchmarks.simulator``: how long one simulated day takes.

The issue's yardstick: one day at 1 s steps with a fleet of up to 64 replicas in at most
10 s on one core. The default run is the report's ServeGen day (m-large's first day at
0.3 of its published rate: 7.2 million requests, each simulated on its own; the oracle's
peak is 63 replicas) under "ours" with the default scenario (at most 64 replicas), trace
generation included. ``--trace servegen_m_large:day=1,scale=0.5`` is 12 million.
"""

from __future__ import annotations

import argparse
import time

from simulations.engine import simulate
from simulations.policies import Plan, build_policy
from simulations.scenario import load_scenario
from simulations.traces import load_trace

DEFAULT_TRACE = "servegen_m_large:day=1,scale=0.3"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.simulator", description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default=DEFAULT_TRACE)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--policy", default="ours")
    args = ap.parse_args(argv)
    scenario = load_scenario(args.scenario)
    trace = load_trace(args.trace)
    plan = Plan(trace, scenario)
    wall, cpu = time.perf_counter(), time.process_time()
    r = simulate(trace, scenario, build_policy(args.policy, scenario, plan), plan)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    span = trace.end_s - trace.start_s
    steps = span / scenario.simulation.step_s
    print(f"trace     {args.trace}: {r.requests:,} requests over {span / 3600:.1f} h")
    print(
        f"scenario  {scenario.name}: {scenario.simulation.step_s:g} s steps, at most {scenario.max_replicas} "
        f"replicas (policy {args.policy}: up to {r.max_replicas}, {r.gpu_hours:,.0f} GPU-hours)"
    )
    print(
        f"time      {wall:.2f} s wall, {cpu:.2f} s CPU ({steps / wall:,.0f} steps/s, "
        f"{r.requests / wall / 1e6:.2f} M requests/s); the oracle's plan took a further pass"
    )


if __name__ == "__main__":
    main()
