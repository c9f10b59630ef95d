"""``gisaxs-live model-info``: print a model's card: what each class means (geometry, parameters and trained
ranges, orientation, BornAgain's equivalent), the degenerate families, the experiment and q-grid it is for,
its training and its measured accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("model-info", help="print the model card (class conventions, families, accuracy)",
                              description=__doc__)
    p.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    p.add_argument("--json", action="store_true", help="print the card's facts as JSON instead of Markdown")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..classify.card import card_facts, render_markdown
    from ..classify.modeldir import ModelInfo

    facts = card_facts(ModelInfo.read(args.model))
    sys.stdout.write(json.dumps(facts, indent=1, default=str) + "\n" if args.json else render_markdown(facts))
    return 0
