// Access to the files compiled into the application through the Qt resource system.
#include "bundledresources.h"

#include <QFile>

namespace BundledResources {

QByteArray worldVocab()
{
    QFile file(QString::fromLatin1(worldVocabPath));
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.readAll();
}

}  // namespace BundledResources
