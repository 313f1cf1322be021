// AppTranslations: finds and installs the translators for one locale.
#include "apptranslations.h"

#include <QCoreApplication>
#include <QLibraryInfo>
#include <QTranslator>

namespace {

// The installed translators are children of the application carrying this name, so that
// uninstall() finds only its own.
const char* const kObjectName = "lecternTranslator";

bool installOne(const QLocale& locale, const QString& name, const QString& dir)
{
    auto* translator = new QTranslator(QCoreApplication::instance());
    if (!translator->load(locale, name, QStringLiteral("_"), dir)) {
        delete translator;
        return false;
    }
    translator->setObjectName(QLatin1String(kObjectName));
    QCoreApplication::installTranslator(translator);
    return true;
}

}  // namespace

bool AppTranslations::install(const QLocale& locale)
{
    if (!QCoreApplication::instance())
        return false;
    installOne(locale, QStringLiteral("qtbase"),
               QLibraryInfo::path(QLibraryInfo::TranslationsPath));
    return installOne(locale, QStringLiteral("lectern"), QStringLiteral(":/i18n"));
}

void AppTranslations::uninstall()
{
    if (!QCoreApplication::instance())
        return;
    const auto translators = QCoreApplication::instance()->findChildren<QTranslator*>(
        QLatin1String(kObjectName), Qt::FindDirectChildrenOnly);
    for (QTranslator* translator : translators) {
        QCoreApplication::removeTranslator(translator);
        delete translator;
    }
}
