// Model cards: a JSON file beside a checkpoint (model.pth -> model.json) that says how the model
// is meant to be run (tokenizer, attention mode, chunk size, top-k, prompt style), so that neither
// the CLI nor the app needs those settings by hand. Also finds the bundled demo model and the
// bundled sample document (installed tree, Windows layout, build tree, source tree).
#pragma once

#include <QString>

#include <optional>

#include "lectern/result.h"

class ModelCard
{
public:
    QString cardPath;       // the .json file, absolute
    QString name;           // "name", or the checkpoint's base name when absent
    QString modelFile;      // "model" as written (informational; may be empty)
    QString tokenizerSpec;  // "world" or an absolute path (relative ones resolve against the card)
    QString attention = QStringLiteral("native");  // "native" or "compat"
    int chunkSize = 0;
    int topK = 0;
    QString promptStyle = QStringLiteral("chat");  // "chat" or "base"

    // Where the card of a checkpoint would be: the same path with the suffix replaced by .json.
    static QString cardPathFor(const QString& modelPath);
    // Parse and validate card text; errors are one line naming `cardPath` and the field.
    static lectern::Result<ModelCard> parse(const QByteArray& json, const QString& cardPath);
    static lectern::Result<ModelCard> load(const QString& cardPath);
    // The card beside a checkpoint: nullopt when there is none, an error when it is broken.
    static lectern::Result<std::optional<ModelCard>> forModel(const QString& modelPath);
};

namespace DemoResources {

// The bundled demo checkpoint: $LECTERN_DEMO_MODEL, else <appdir>/../share/lectern/demo-model/,
// else <appdir>/demo-model/ (Windows layout), else the source tree (development builds only).
// Empty when none is found. Paths are absolute and clean.
QString demoModelPath();
// The bundled sample document (samples/harbour-ledger.txt), searched the same way
// ($LECTERN_SAMPLE_DOCUMENT first). Empty when none is found.
QString sampleDocumentPath();
// One line for error messages: where demoModelPath() looked.
QString demoModelSearchDescription();

}  // namespace DemoResources
