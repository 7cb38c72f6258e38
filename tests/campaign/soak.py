"""The long fault campaign: ``python -m tests.campaign.soak --schedules 200 --seed 1``.

Runs ``--schedules`` seeded schedules (seeds ``--seed`` .. ``--seed + n - 1``) of the
campaign in campaign.py against the real controller, one line per schedule as it
goes, then the report: schedules, faults by kind, checks, violations by kind, RSS.
A failing seed replays alone with ``--schedules 1 --seed N``. Exit 1 on any
violation not already known (see KNOWN_DEFECT_TAGS), 0 otherwise.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.campaign.campaign import Report, run_campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.campaign.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=200, help="how many seeds to run (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="the first seed (default 1)")
    parser.add_argument("--steps", type=int, default=10, help="fault steps per schedule (default 10)")
    parser.add_argument("--step-seconds", type=float, default=1.5, help="seconds per step (default 1.5)")
    parser.add_argument("--report", type=Path, help="also write the report to this file")
    parser.add_argument("--keep", type=Path, help="keep the controllers' logs in this folder (made if absent)")
    args = parser.parse_args(argv)
    if not 1 <= args.schedules <= 100_000 or not 1 <= args.steps <= 1000 or not 0.5 <= args.step_seconds <= 60:
        parser.error("expected 1 <= --schedules <= 100000, 1 <= --steps <= 1000, 0.5 <= --step-seconds <= 60")

    def progress(seed: int, r: Report) -> None:
        faults = sum(r.faults.values())
        print(f"seed {seed}: {faults} faults, {sum(r.checks.values())} checks, "
              f"{len(r.violations)} violations ({len(r.new_violations)} new)", flush=True)
        for v in r.violations:
            print(f"  {v}", flush=True)

    with tempfile.TemporaryDirectory(prefix="campaign-") as tmp:
        folder = Path(tmp)
        if args.keep is not None:
            folder = args.keep
            folder.mkdir(parents=True, exist_ok=True)
        report = run_campaign(range(args.seed, args.seed + args.schedules), folder, steps=args.steps,
                              step_seconds=args.step_seconds, progress=progress)
    text = report.text()
    print(text)
    if args.report is not None:
        args.report.write_text(text + "\n")
    return 1 if report.new_violations else 0


if __name__ == "__main__":
    sys.exit(main())
