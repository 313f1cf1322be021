// Model cards: parsing, validation and lookup; and where the bundled demo files are.
#include "modelcard.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>
#include <QStringList>

#include <cmath>

namespace {

QString tr(const char* text)
{
    return QCoreApplication::translate("ModelCard", text);
}

lectern::Error cardError(const QString& cardPath, const QString& message)
{
    const QString line = QDir::toNativeSeparators(cardPath) + QStringLiteral(": ") + message;
    return lectern::make_error(line.toStdString());
}

// A required or optional string field; nullopt (with *error set) when present but not a string.
std::optional<QString> stringField(const QJsonObject& o, const QString& key, bool required,
                                   QString* error)
{
    const QJsonValue v = o.value(key);
    if (v.isUndefined()) {
        if (required)
            *error = tr("the field \"%1\" is missing").arg(key);
        return required ? std::nullopt : std::optional<QString>(QString());
    }
    if (!v.isString() || (required && v.toString().trimmed().isEmpty())) {
        *error = tr("the field \"%1\" must be a non-empty string").arg(key);
        return std::nullopt;
    }
    return v.toString();
}

// A positive integer field within [1, max].
std::optional<int> intField(const QJsonObject& o, const QString& key, int max, QString* error)
{
    const QJsonValue v = o.value(key);
    if (v.isUndefined()) {
        *error = tr("the field \"%1\" is missing").arg(key);
        return std::nullopt;
    }
    const double d = v.toDouble(-1);
    if (!v.isDouble() || d != std::floor(d) || d < 1 || d > max) {
        *error = tr("the field \"%1\" must be an integer from 1 to %2").arg(key).arg(max);
        return std::nullopt;
    }
    return int(d);
}

// Installed, Windows and build-tree layouts relative to the executable, then the source tree.
QString findBundled(const char* envName, const QString& relative)
{
    const QByteArray env = qgetenv(envName);
    if (!env.isEmpty())
        return QDir::cleanPath(QFileInfo(QFile::decodeName(env)).absoluteFilePath());
    QStringList candidates;
    if (QCoreApplication::instance()) {
        const QString appDir = QCoreApplication::applicationDirPath();
        candidates << appDir + QStringLiteral("/../share/lectern/") + relative
                   << appDir + QLatin1Char('/') + relative;
    }
#ifdef LECTERN_DEV_RESOURCES_DIR
    candidates << QStringLiteral(LECTERN_DEV_RESOURCES_DIR "/") + relative;
#endif
    for (const QString& c : std::as_const(candidates)) {
        if (QFileInfo(c).isFile())
            return QDir::cleanPath(QFileInfo(c).absoluteFilePath());
    }
    return {};
}

}  // namespace

QString ModelCard::cardPathFor(const QString& modelPath)
{
    const QFileInfo info(modelPath);
    return QDir::cleanPath(info.absolutePath() + QLatin1Char('/') + info.completeBaseName() +
                           QStringLiteral(".json"));
}

lectern::Result<ModelCard> ModelCard::parse(const QByteArray& json, const QString& cardPath)
{
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        return cardError(cardPath, tr("not valid JSON (%1 at byte %2)")
                                       .arg(parseError.errorString())
                                       .arg(parseError.offset));
    if (!doc.isObject())
        return cardError(cardPath, tr("a model card must be a JSON object"));
    const QJsonObject o = doc.object();
    const QFileInfo cardInfo(cardPath);

    ModelCard card;
    card.cardPath = QDir::cleanPath(cardInfo.absoluteFilePath());
    QString error;
    const auto name = stringField(o, QStringLiteral("name"), false, &error);
    const auto model = name ? stringField(o, QStringLiteral("model"), false, &error) : std::nullopt;
    const auto tokenizer =
        model ? stringField(o, QStringLiteral("tokenizer"), true, &error) : std::nullopt;
    const auto attention =
        tokenizer ? stringField(o, QStringLiteral("attention"), false, &error) : std::nullopt;
    const auto prompt =
        attention ? stringField(o, QStringLiteral("prompt_style"), false, &error) : std::nullopt;
    // Bounds as lectern-cli ingest accepts them.
    const auto chunk =
        prompt ? intField(o, QStringLiteral("chunk_size"), 1 << 24, &error) : std::nullopt;
    const auto topK = chunk ? intField(o, QStringLiteral("top_k"), 4096, &error) : std::nullopt;
    if (!topK)
        return cardError(cardPath, error);

    card.name = name->isEmpty() ? cardInfo.completeBaseName() : *name;
    card.modelFile = *model;
    card.chunkSize = *chunk;
    card.topK = *topK;
    if (!attention->isEmpty()) {
        if (*attention != QLatin1String("native") && *attention != QLatin1String("compat"))
            return cardError(cardPath, tr("the field \"attention\" must be \"native\" or "
                                          "\"compat\", not \"%1\"")
                                           .arg(attention->left(40)));
        card.attention = *attention;
    }
    if (!prompt->isEmpty()) {
        if (*prompt != QLatin1String("chat") && *prompt != QLatin1String("base"))
            return cardError(cardPath, tr("the field \"prompt_style\" must be \"chat\" or "
                                          "\"base\", not \"%1\"")
                                           .arg(prompt->left(40)));
        card.promptStyle = *prompt;
    }
    if (*tokenizer == QLatin1String("world")) {
        card.tokenizerSpec = QStringLiteral("world");
    } else {
        // Relative to the card, so a model folder can be moved or installed anywhere.
        const QString resolved =
            QDir::cleanPath(QDir(cardInfo.absolutePath()).absoluteFilePath(*tokenizer));
        if (!QFileInfo(resolved).isFile())
            return cardError(cardPath, tr("the field \"tokenizer\" names %1, which does not exist")
                                           .arg(QDir::toNativeSeparators(resolved)));
        card.tokenizerSpec = resolved;
    }
    return card;
}

lectern::Result<ModelCard> ModelCard::load(const QString& cardPath)
{
    QFile file(cardPath);
    if (!file.open(QIODevice::ReadOnly))
        return cardError(cardPath, tr("cannot be read (%1)").arg(file.errorString()));
    return parse(file.readAll(), cardPath);
}

lectern::Result<std::optional<ModelCard>> ModelCard::forModel(const QString& modelPath)
{
    const QString path = cardPathFor(modelPath);
    // A checkpoint named model.json would be its own "card"; it has none.
    const QString model = QDir::cleanPath(QFileInfo(modelPath).absoluteFilePath());
    if (!QFileInfo(path).isFile() || path == model)
        return std::optional<ModelCard>();
    auto card = load(path);
    if (!card)
        return card.error();
    return std::optional<ModelCard>(std::move(*card));
}

namespace DemoResources {

QString demoModelPath()
{
    return findBundled("LECTERN_DEMO_MODEL", QStringLiteral("demo-model/lectern-demo.pth"));
}

QString sampleDocumentPath()
{
    return findBundled("LECTERN_SAMPLE_DOCUMENT", QStringLiteral("samples/harbour-ledger.txt"));
}

QString demoModelSearchDescription()
{
    return tr("looked in $LECTERN_DEMO_MODEL, %1 and %2")
        .arg(QDir::toNativeSeparators(QDir::cleanPath(
                 QCoreApplication::applicationDirPath() +
                 QStringLiteral("/../share/lectern/demo-model"))),
             QDir::toNativeSeparators(QCoreApplication::applicationDirPath() +
                                      QStringLiteral("/demo-model")));
}

}  // namespace DemoResources
