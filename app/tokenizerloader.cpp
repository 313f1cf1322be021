// Tokenizer selection: bundled World vocabulary, a vocabulary file, or a SentencePiece model.
#include "tokenizerloader.h"

#include <QFile>
#include <QFileInfo>

#include "bundledresources.h"
#include "enginepath.h"

namespace TokenizerLoader {

lectern::Result<std::unique_ptr<lectern::Tokenizer>> load(const QString& spec)
{
    if (spec.isEmpty() || spec == QLatin1String("world")) {
        const QByteArray vocab = BundledResources::worldVocab();
        if (vocab.isEmpty())
            return lectern::make_error("the bundled World vocabulary is missing from this build");
        return lectern::parse_world_vocab(std::string_view(vocab.constData(), vocab.size()));
    }

    const QFileInfo info(spec);
    const std::string path = enginePath(spec);
    if (!info.exists())
        return lectern::make_error(path + ": no such file");
    if (info.isDir())
        return lectern::make_error(path + ": is a directory, expected a tokenizer file");

    // SentencePiece models are protobufs; World vocabularies are text lines "<id> <literal> <n>".
    if (info.suffix().compare(QLatin1String("txt"), Qt::CaseInsensitive) == 0)
        return lectern::load_world_tokenizer(path);
    return lectern::load_sentencepiece_tokenizer(path);
}

}  // namespace TokenizerLoader
