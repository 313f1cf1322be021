#!/usr/bin/env python3
"""Writes resources/samples/harbour-ledger.txt, the sample document bundled with Lectern.

A plain-text story of a harbour town with facts (door codes, favourite numbers, room numbers and a
pass key) scattered through everyday prose: the kinds of facts the bundled demo model
(resources/demo-model, tools/train_demo.py) was trained to find again in a long document. The facts
and prose are generated from a fixed seed by the grammar in tools/demo_model/data.py (CC0).
"""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_model import data  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "resources" / "samples" / "harbour-ledger.txt"

# Facts the self-test and README ask about; keep them in sync with ui/ and tests/.
FIXED = [
    "The code for the red door is 4821.",
    "Ada's favourite number is 31794.",
    "The pass key is 52094. Remember it. 52094 is the pass key.",
    "The room number of the library of Hugo is 86205.",
]


def main():
    rng = random.Random(2026)
    used = {"the red door", "Ada", "the library of Hugo"}
    facts = list(FIXED) + [data.make_fact(rng, i % 3, used)[0] for i in range(20)]
    rng.shuffle(facts)
    paragraphs = ["The Harbour Ledger",
                  "A sample document for Lectern. It is a long, plain story of a harbour town, and "
                  "somewhere in it are door codes, favourite numbers, room numbers and a pass key. "
                  "Read it once with the bundled demo model, then ask, for example: What is the "
                  "code for the red door? What is the pass key?"]
    for fact in facts:
        for _ in range(rng.randint(6, 12)):
            paragraphs.append(" ".join(data.grammar_sentence(rng) for _ in range(rng.randint(4, 8))))
        body = [data.grammar_sentence(rng) for _ in range(rng.randint(2, 5))]
        body.insert(rng.randrange(len(body) + 1), fact)
        paragraphs.append(" ".join(body))
    for _ in range(8):
        paragraphs.append(" ".join(data.grammar_sentence(rng) for _ in range(rng.randint(4, 8))))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # One newline between paragraphs: the demo model never saw a blank line inside a document
    # (in its chat format a blank line ends a turn), and blank lines there cost it half the facts.
    OUT.write_text("\n".join(paragraphs) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(facts)} facts)")


if __name__ == "__main__":
    main()
