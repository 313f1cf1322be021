// Paths handed to the engine (lectern::Model::load, ModelFile::open, DocumentStore::open, ...).
// The engine takes UTF-8 std::string paths on every platform (engine/src/core/native_path.h
// turns them into wide Win32 paths on Windows). QFile::encodeName is UTF-8 on Linux as well, but
// the ANSI code page on Windows, which cannot spell every file name (and the engine would then
// misread the bytes), so engine paths go through here instead.
#pragma once

#include <QString>

#include <string>

inline std::string enginePath(const QString& path)
{
    return path.toStdString();  // UTF-8
}
