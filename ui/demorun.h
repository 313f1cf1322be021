// A scripted run of the whole application on the committed test model, for `lectern
// --self-test` (a headless end-to-end check: open a document, read it, ask, get an answer that
// cites pages) and `lectern --screenshots DIR` (the same, then PNGs of the main views). It works
// in a temporary library, never the user's.
#pragma once

#include <QString>

namespace DemoRun {

enum Result { Passed = 0, Failed = 1, Skipped = 2 };

// sourceDir: the source tree, whose tests/data holds the test model, tokenizer and documents.
// screenshotsDir: empty for the self-test; else where the PNGs go.
Result run(const QString& sourceDir, const QString& screenshotsDir = {});

}  // namespace DemoRun
