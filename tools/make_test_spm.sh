#!/bin/sh
# Trains the tiny SentencePiece model used by tests/tokenizer/tst_sentencepiece_tokenizer.cpp.
# Needs Debian's `sentencepiece` package (spm_train 0.1.97). Deterministic: one thread, no input
# sampling or shuffling, fixed seed. Writes tests/data/spm/tiny.model and tiny.vocab.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/tests/data/spm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Training text: the Apache License 2.0 as Debian ships it (free to use as data), plus a few
# sentences of our own about the project so that everyday words get pieces too.
license=/usr/share/common-licenses/Apache-2.0
[ -r "$license" ] || { echo "missing $license (Debian base-files)" >&2; exit 1; }
cat "$license" > "$work/train.txt"
cat >> "$work/train.txt" <<'TEXT'
Lectern reads a long document once and answers questions about it for as long as you like.
The assistant keeps the state of the model after reading, so a new question costs only a few words.
Hello world. The quick brown fox jumps over the lazy dog while the cat sleeps in the sun.
What is the pass key? The pass key is hidden somewhere in the middle of a very long text.
We tokenize text into pieces, feed the pieces to the model, and decode the answer piece by piece.
TEXT

mkdir -p "$out"
# Relative paths: the trainer records them in the model, and a temp dir name would make the
# output differ from run to run.
cd "$work"
spm_train \
  --input=train.txt \
  --model_prefix=tiny \
  --model_type=bpe \
  --vocab_size=800 \
  --byte_fallback=true \
  --character_coverage=1.0 \
  --normalization_rule_name=identity \
  --remove_extra_whitespaces=false \
  --add_dummy_prefix=true \
  --num_threads=1 \
  --input_sentence_size=0 \
  --shuffle_input_sentence=false \
  --random_seed=20240101 \
  --minloglevel=1

cp "$work/tiny.model" "$work/tiny.vocab" "$out/"
echo "wrote $out/tiny.model ($(wc -c < "$out/tiny.model") bytes) and tiny.vocab"
