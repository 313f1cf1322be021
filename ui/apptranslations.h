// Installs the user-interface translations for a locale: Lectern's own (compiled from
// translations/*.ts into the :/i18n resources at build time) and Qt's qtbase catalogue (standard
// dialog buttons, context menus) where the system has it. English needs neither.
#pragma once

#include <QLocale>

class QTranslator;

class AppTranslations
{
public:
    // Installs both translators on the application (they are children of it); returns true when
    // Lectern's own translation for the locale was found.
    static bool install(const QLocale& locale = QLocale());
    // Removes what install() added, so that a test can switch languages.
    static void uninstall();
};
