// Chooses and loads a tokenizer from a user-facing spec: "world" (the bundled RWKV World
// vocabulary), a path to a World vocabulary .txt, or a SentencePiece tokenizer.model.
#pragma once

#include <QString>

#include <memory>

#include "lectern/result.h"
#include "lectern/tokenizer.h"

namespace TokenizerLoader {

lectern::Result<std::unique_ptr<lectern::Tokenizer>> load(const QString& spec);

}  // namespace TokenizerLoader
