"""The seed article's 2-2-2 worked example, computed by the real engine and printed number by number.

Run: ``python -m bprop.examples.worked_example`` (add ``--json`` for the machine-readable form).
"""

from __future__ import annotations

import json
import sys

from bprop.insight.explain import ARTICLE_SPEC, explain_step, format_text, network_from_spec


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    net, X, Y, learning_rate, loss = network_from_spec(ARTICLE_SPEC)
    report = explain_step(net, X, Y, loss=loss, learning_rate=learning_rate)
    print(json.dumps(report, indent=2) if "--json" in argv else format_text(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
