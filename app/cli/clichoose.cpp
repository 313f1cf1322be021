// The lectern-cli plumbing that picks a tokenizer or a model (declared in clicommon.h): the bundled
// World vocabulary and demo model come from the application layer (lectern_app).
#include <QDir>
#include <QFileInfo>

#include "bundledresources.h"
#include "clicommon.h"
#include "tokenizerloader.h"

namespace Cli {

std::optional<LoadedTokenizer> loadTokenizer(const QString& spec, QString* error)
{
    LoadedTokenizer out;
    QByteArray bytes;
    if (spec.isEmpty() || spec == QLatin1String("world")) {
        bytes = BundledResources::worldVocab();
        out.spec = QStringLiteral("world");
    } else {
        auto read = readFile(spec, error);
        if (!read)
            return std::nullopt;
        bytes = std::move(*read);
        out.spec = QFileInfo(spec).absoluteFilePath();
    }
    auto tok = TokenizerLoader::load(spec);
    if (!tok) {
        *error = QString::fromStdString(tok.error().message);
        return std::nullopt;
    }
    out.tokenizer = std::move(*tok);
    out.identity.kind = std::string(out.tokenizer->kind());
    out.identity.sha256 = sha256Hex(bytes);
    return out;
}

QString describeTokenizer(const lectern::TokenizerIdentity& identity)
{
    if (identity.sha256.empty())
        return QString::fromStdString(identity.kind);
    return QStringLiteral("%1 (sha256 %2...)")
        .arg(QString::fromStdString(identity.kind),
             QString::fromStdString(identity.sha256.substr(0, 12)));
}

std::string sourceSettings(const QString& tokenizerSpec)
{
    return "tokenizer=" + tokenizerSpec.toStdString();
}

QString tokenizerSpecFromSettings(const std::string& settings)
{
    const std::string key = "tokenizer=";
    if (settings.rfind(key, 0) != 0)
        return QString();
    const std::string spec = settings.substr(key.size());
    return spec == "ids" ? QString() : QString::fromStdString(spec);
}

std::optional<ChosenModel> chooseModel(const QString& given, QString* error)
{
    ChosenModel out;
    if (!given.isEmpty()) {
        out.path = given;
    } else {
        out.path = DemoResources::demoModelPath();
        if (out.path.isEmpty()) {
            *error = QStringLiteral("no --model given and no bundled demo model was found (%1); "
                                    "give --model or set LECTERN_DEMO_MODEL")
                         .arg(DemoResources::demoModelSearchDescription());
            return std::nullopt;
        }
        if (!QFileInfo(out.path).isFile()) {  // LECTERN_DEMO_MODEL names a missing file
            *error = QStringLiteral("no --model given and the bundled demo model %1 does not "
                                    "exist; give --model")
                         .arg(QDir::toNativeSeparators(out.path));
            return std::nullopt;
        }
        std::fprintf(stderr,
                     "lectern-cli: note: no --model given; using the bundled demo model %s\n",
                     QDir::toNativeSeparators(out.path).toUtf8().constData());
    }
    auto card = ModelCard::forModel(out.path);
    if (!card) {
        *error = QString::fromStdString(card.error().message);
        return std::nullopt;
    }
    out.card = std::move(*card);
    return out;
}

QString defaultTokenizer(const ChosenModel& model)
{
    return model.card ? model.card->tokenizerSpec : QStringLiteral("world");
}

}  // namespace Cli
