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
    p.add_argument("--write", action="store_true",
                   help="write the card into the model directory: MODEL.md, pictures/<class>.png and the `card` key "
                        "of model.json")
    p.set_defaults(func=run)


CARD = "MODEL.md"


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..classify.card import card_facts, render_markdown
    from ..classify.modeldir import ModelInfo
    from ..replacing import write_text_replacing

    info = ModelInfo.read(args.model)
    try:
        facts = card_facts(info)
        card = render_markdown(facts)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a model.json edited by hand
        what = f"lacks the entry {exc.args[0]!r}" if isinstance(exc, KeyError) else "holds an entry of another kind"
        raise ValueError(f"{info.path / 'model.json'}: {what}, unlike those gisaxs-live writes; train or calibrate "
                         "the model again") from None
    if args.write:
        from ..classify.modeldir import META
        from ..pictures.shapes import write_shape_pictures

        write_text_replacing(info.path / CARD, card)
        write_shape_pictures(list(info.class_names), info.path / "pictures")
        meta = dict(info.meta, card=facts)
        write_text_replacing(info.path / META, json.dumps(meta, indent=1, default=str))
        print(f"{info.path}: wrote {CARD}, pictures/ and the card in {META}")
        return 0
    sys.stdout.write(json.dumps(facts, indent=1, default=str) + "\n" if args.json else card)
    return 0
