// Files compiled into the application (the World vocabulary), so no install path is needed.
#pragma once

#include <QByteArray>
#include <QString>

namespace BundledResources {

// Qt resource path of the RWKV World vocabulary.
inline constexpr auto worldVocabPath = ":/lectern/tokenizer/rwkv_vocab_v20230424.txt";

// The bytes of the World vocabulary file (empty only if the resource is missing from the build).
QByteArray worldVocab();

}  // namespace BundledResources
