#!/usr/bin/env python3
"""Write grafana/dashboards/*.json from scripts/dashboards/ (the budgets come from alerts.yaml; the chargeback
terms are read from the store when a panel runs: reports/stored_terms.py).

    python scripts/build_dashboards.py [--alerts alerts.yaml]

tests/test_grafana.py checks that the committed files are what this writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otel_llmcost.alerts.rules import load_alert_rules  # noqa: E402
from scripts.dashboards import chargeback, drilldown, models, overview, tenants  # noqa: E402

FILES = {"llm-cost-overview.json": overview.build, "llm-cost-drilldown.json": drilldown.build,
         "llm-cost-models.json": models.build}


def render(alerts_file: Path) -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    boards = {name: build() for name, build in FILES.items()}
    boards["llm-cost-tenants.json"] = tenants.build(load_alert_rules(str(alerts_file)))
    boards["llm-cost-chargeback.json"] = chargeback.build()
    return {name: json.dumps(board, indent=2, ensure_ascii=False) + "\n" for name, board in boards.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=Path, default=ROOT / "alerts.yaml")
    args = parser.parse_args()
    for name, text in render(args.alerts).items():
        (ROOT / "grafana" / "dashboards" / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
