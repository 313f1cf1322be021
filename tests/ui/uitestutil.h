// Shared helpers of the widget tests: a private settings/data home with a test organisation and
// application name (nothing touches the user's real settings or library), and finding a widget
// by its accessible name, as assistive technology does.
#pragma once

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QSettings>
#include <QStandardPaths>
#include <QWidget>

namespace UiTest {

// Settings, QStandardPaths locations and the home folder all under `dir`, for this test only.
inline void isolate(const QString& dir, const QString& testName)
{
    qputenv("HOME", QFile::encodeName(dir));
    QCoreApplication::setOrganizationName(QStringLiteral("LecternTest"));
    QCoreApplication::setApplicationName(testName);
    QStandardPaths::setTestModeEnabled(true);
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                       QDir(dir).filePath(QStringLiteral("settings")));
    QSettings().clear();
}

template <typename T>
T* findByAccessibleName(const QWidget* parent, const QString& name)
{
    const auto widgets = parent->findChildren<T*>();
    for (T* w : widgets)
        if (w->accessibleName() == name)
            return w;
    return nullptr;
}

// A small text file that the tiny test model reads in moments.
inline QString writeText(const QString& dir, const QString& name)
{
    const QString path = QDir(dir).filePath(name);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        return {};
    f.write("The keeper of the lighthouse kept a logbook. Every night he wrote down the ships "
            "that passed, the weather and the state of the lamp.\n");
    return path;
}

}  // namespace UiTest
