"""Training text and synthetic long documents for the demo model (tools/train_demo.py).

Everything is made here, deterministically from a seed: filler prose from the licence texts every
Debian system ships (/usr/share/common-licenses) and from a small grammar of our own, the pass-key
filler of spec §6.1, and documents with facts scattered through filler followed by chat turns that
ask about them (the format `lectern-cli ask` uses: "\\n\\nUser: Q\\n\\nAssistant:"). No data is
downloaded.
"""

import random
import re
from pathlib import Path

LICENCE_DIR = Path("/usr/share/common-licenses")
PASSKEY_INTRO = ("There is an important info hidden inside a lot of irrelevant text. Find it and "
                 "memorize them. I will quiz you about the important information there.")
PASSKEY_FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."

NAMES = ("Ada Alan Beatrice Boris Clara Cyril Dora Edgar Elena Felix Greta Hugo Ida Ivan Jonas Julia "
         "Karl Lena Marco Mira Nadia Oscar Olga Pavel Rosa Rufus Sara Simon Tara Tomas Uma Vera "
         "Walter Wanda Yusuf Zora").split()
COLOURS = "red blue green yellow white black grey brown orange purple silver golden".split()
THINGS = ("door box key lamp map coat chair clock book ship bell cart gate jar ring tent boat cup "
          "drum flag").split()
PLACES = ("harbour market library bridge garden station mill tower square forest valley river "
          "chapel inn farm").split()
ADJ = "old quiet busy narrow wide cold warm bright dark small large distant calm".split()
VERBS = ("walked past", "looked at", "talked about", "waited near", "painted", "repaired",
         "visited", "remembered", "described", "cleaned")
PEOPLE = ("the baker", "the teacher", "a traveller", "the old sailor", "the mayor", "a child",
          "the clerk", "the gardener", "a stranger", "the doctor")
TIMES = ("In the morning", "Later that day", "At noon", "In the evening", "Before the rain",
         "After supper", "On Sunday", "Every winter")


def licence_paragraphs():
    """Paragraphs of the licence texts, whitespace collapsed; files that are symlinks skipped."""
    paras = []
    for path in sorted(LICENCE_DIR.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for p in re.split(r"\n\s*\n", text):
            p = " ".join(p.split())
            if len(p) > 40:
                paras.append(p)
    return paras


def grammar_sentence(rng):
    """One plain sentence of everyday prose from a small grammar (ours, CC0)."""
    form = rng.randrange(4)
    if form == 0:
        return (f"{rng.choice(TIMES)} {rng.choice(PEOPLE)} {rng.choice(VERBS)} the "
                f"{rng.choice(ADJ)} {rng.choice(PLACES)}.")
    if form == 1:
        return (f"{rng.choice(NAMES)} {rng.choice(VERBS)} the {rng.choice(COLOURS)} "
                f"{rng.choice(THINGS)} near the {rng.choice(PLACES)}.")
    if form == 2:
        return (f"The {rng.choice(PLACES)} was {rng.choice(ADJ)}, and {rng.choice(PEOPLE)} "
                f"{rng.choice(VERBS)} it for a long time.")
    return (f"{rng.choice(NAMES)} and {rng.choice(NAMES)} {rng.choice(VERBS)} the "
            f"{rng.choice(ADJ)} {rng.choice(THINGS)}.")


# Share of keys and fact values drawn as "hard" numbers (repeated digits, trailing zeros) instead of
# uniformly from 1..99999; train_demo.py --hard-numbers sets it (0.5 for the bundled weights).
HARD_NUMBER_SHARE = 0.0


def number(rng):
    """A key or fact value: uniform in 1..99999, or (HARD_NUMBER_SHARE of the time) digits that
    repeat and end in zeros more often than chance — the bundled model's weak spot (it drops the
    last 0 of keys like 35990)."""
    if HARD_NUMBER_SHARE <= 0 or rng.random() >= HARD_NUMBER_SHARE:
        return str(rng.randint(1, 99999))
    digits = [str(rng.randint(1, 9))]
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        digits.append(digits[-1] if r < 0.3 else "0" if r < 0.5 else str(rng.randint(0, 9)))
    return "".join(digits)


def make_fact(rng, kind, used):
    """(statement, question, answer) for one fact whose subject is not in `used`."""
    for _ in range(100):
        n = number(rng)
        if kind == 0:
            subj = f"{rng.choice(NAMES)}"
            s, q, a = (f"{subj}'s favourite number is {n}.", f"What is {subj}'s favourite number?",
                       f"{subj}'s favourite number is {n}.")
        elif kind == 1:
            subj = f"the {rng.choice(COLOURS)} {rng.choice(THINGS)}"
            s, q, a = (f"The code for {subj} is {n}.", f"What is the code for {subj}?",
                       f"The code for {subj} is {n}.")
        else:
            subj = f"the {rng.choice(PLACES)} of {rng.choice(NAMES)}"
            s, q, a = (f"The room number of {subj} is {n}.", f"What is the room number of {subj}?",
                       f"The room number of {subj} is {n}.")
        if subj not in used:
            used.add(subj)
            return s, q, a
    raise RuntimeError("no unused fact subject left")


def tokenizer_training_text(seed=1):
    """Text for spm_train: licences, grammar prose, the pass-key texts and fact templates."""
    rng = random.Random(seed)
    lines = licence_paragraphs()
    lines += [grammar_sentence(rng) for _ in range(20000)]
    lines += [PASSKEY_INTRO, PASSKEY_FILLER]
    for i in range(3000):
        s, q, a = make_fact(rng, i % 3, set())
        lines += [s, f"User: {q}", f"Assistant: {a}"]
        k = number(rng)
        lines.append(f"The pass key is {k}. Remember it. {k} is the pass key.")
    lines += ["User: What is the pass key?", "Assistant: The pass key is 123."]
    return "\n".join(lines) + "\n"


class Corpus:
    """Token ids of the filler sources, cut at sentence ends so any run of them reads as text."""

    def __init__(self, sp, seed=2):
        self.sp = sp
        rng = random.Random(seed)
        enc = lambda s: sp.encode(" " + s)
        licence = [enc(s) for p in licence_paragraphs() for s in re.split(r"(?<=[.;:])\s+", p) if s]
        self.sources = [
            licence,
            [enc(grammar_sentence(rng)) for _ in range(40000)],
            [enc(s + ".") for s in PASSKEY_FILLER.rstrip(".").split(". ")],
        ]

    def filler(self, rng, n_tokens, source=None):
        """About n_tokens of consecutive sentences (ids) from one source, starting anywhere."""
        src = self.sources[rng.randrange(len(self.sources)) if source is None else source]
        out, i = [], rng.randrange(len(src))
        while len(out) < n_tokens:
            out.extend(src[i % len(src)])
            i += 1
        return out[:n_tokens]


def sample_document(corpus, rng, T, kind):
    """One training example of T tokens: (ids, weights, answers). weights: per target token, 1 for
    answer tokens and 0.1 for the rest (language modelling); answers: [(first answer position,
    token positions of the fact in the document)] for the retrieval loss and accuracy."""
    sp = corpus.sp
    if kind == "lm":
        ids = corpus.filler(rng, T + 1)
        return ids, [0.3] * T, []
    used = set()
    if kind == "passkey":
        k = number(rng)
        facts = [(f"The pass key is {k}. Remember it. {k} is the pass key.",
                  "What is the pass key?", f"The pass key is {k}.")]
        head = sp.encode(PASSKEY_INTRO + "\n") if rng.random() < 0.5 else []
        questions = [0]
    else:
        n_facts = rng.randint(2, max(3, T // 96))
        facts = [make_fact(rng, rng.randrange(3), used) for _ in range(n_facts)]
        head = []
        questions = rng.sample(range(n_facts), min(n_facts, rng.randint(1, 3)))
    turns = []
    for qi in questions:
        q, a = facts[qi][1], facts[qi][2]
        turns.append((sp.encode("\n\nUser: " + q + "\n\nAssistant:"), sp.encode(" " + a + "\n\n"), qi))
    tail = sum(len(u) + len(v) for u, v, _ in turns)
    statements = [sp.encode(" " + f[0]) for f in facts]
    body = T + 1 - tail - len(head) - sum(len(s) for s in statements)
    if body < 16:
        raise ValueError("document too short for its facts")
    # Cut points for the facts, anywhere in the filler (sorted, so facts keep their order).
    source = rng.randrange(len(corpus.sources))
    cuts = sorted(rng.randint(0, body) for _ in statements)
    filler = corpus.filler(rng, body, source)
    ids, spans, last = list(head), [], 0
    for cut, st in zip(cuts, statements):
        ids.extend(filler[last:cut])
        spans.append((len(ids), len(ids) + len(st)))
        ids.extend(st)
        last = cut
    ids.extend(filler[last:])
    weights = [0.1] * (len(ids) - 1)
    answers = []
    for user, reply, qi in turns:
        ids.extend(user)
        weights.extend([0.1] * len(user))
        answers.append((len(ids) - 1, len(reply), spans[qi]))
        ids.extend(reply)
        weights.extend([1.0] * len(reply))
    return ids[:T + 1], weights[:T], answers
