#!/usr/bin/env python3
"""Record the official RWKV World tokenizer's output (pip `rwkv` 0.8.32, TRIE_TOKENIZER) on varied
text, so tests/tokenizer/tst_world_reference.cpp can check Lectern's tokenizer against it.

Run: tools/.venv/bin/python tools/make_tokenizer_golden.py   (venv from tools/requirements.txt)
Output: tests/data/tokenizer/world_reference.bin — little-endian records, after the 8-byte magic
`LCTNTOK1` and a uint32 record count: uint32 byte length, the bytes, uint32 id count, uint32 ids.
"""
import random
import struct
from pathlib import Path

from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ROOT / "resources" / "tokenizer" / "rwkv_vocab_v20230424.txt"
OUT = ROOT / "tests" / "data" / "tokenizer" / "world_reference.bin"

PROSE = [
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "The pass key is 4217. Remember it. 4217 is the pass key.",
    "User: What does chapter 3 say about the river?\n\nAssistant: It floods every spring.",
    "Der schnelle braune Fuchs springt über den faulen Hund. Straße, Größe, Äpfel.",
    "Le cœur a ses raisons que la raison ne connaît point. Ça va? Très bien!",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "我们在图书馆里读了一整天的书。東京は日本の首都です。한국어 문장도 있습니다.",
    "مرحبا بالعالم. שלום עולם. नमस्ते दुनिया. สวัสดีชาวโลก",
    "def f(x):\n    return x ** 2  # square\n\tif x != 0:\r\n        pass\n",
    "Emoji 😀🙂👍🏽 and flags 🇫🇷 and ZWJ 👩‍👩‍👧 sequences; math ∑∫√∞ ≠ ≤ ≥.",
    "   leading spaces, trailing spaces   \n\n\n\nmany newlines\n \n \nwhitespace lines",
    "<html><body><p class=\"x\">Tags &amp; entities &lt;b&gt;</p></body></html>",
    "1234567890 3.14159 -42 1e-5 0x1F 1,000,000 $9.99 50% #1 @user",
]


def samples(rng: random.Random):
    for text in PROSE:
        yield text.encode("utf-8")
    # Prose recombined: long documents with varied words.
    words = " ".join(PROSE).split()
    for n in (50, 500, 5000):
        yield " ".join(rng.choice(words) for _ in range(n)).encode("utf-8")
    # Random code points from many scripts (valid UTF-8).
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
              (0x1F300, 0x1FAFF), (0x10000, 0x1007F)]
    for n in (10, 100, 2000):
        chars = []
        for _ in range(n):
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
        yield "".join(chars).encode("utf-8")
    # Arbitrary bytes, including invalid UTF-8 and NULs.
    for n in (1, 7, 300, 4000):
        yield bytes(rng.randrange(256) for _ in range(n))
    # Every single byte value on its own.
    yield bytes(range(256))


def main():
    tok = TRIE_TOKENIZER(str(VOCAB))
    rng = random.Random(20261126)
    records = []
    for data in samples(rng):
        ids = tok.encodeBytes(data)
        assert tok.decodeBytes(ids) == data
        records.append((data, ids))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "wb") as f:
        f.write(b"LCTNTOK1")
        f.write(struct.pack("<I", len(records)))
        for data, ids in records:
            f.write(struct.pack("<I", len(data)))
            f.write(data)
            f.write(struct.pack("<I", len(ids)))
            f.write(struct.pack(f"<{len(ids)}I", *ids))
    total = sum(len(d) for d, _ in records)
    print(f"{OUT.relative_to(ROOT)}: {len(records)} records, {total} bytes of text")


if __name__ == "__main__":
    main()
