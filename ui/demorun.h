// A scripted run of the whole application on the bundled demo model and sample document, for
// `lectern --self-test` (a headless end-to-end check: open the sample, read it, ask "What is the
// code for the red door?" greedily, get an answer that holds 4821 and cites pages) and `lectern
// --screenshots DIR` (the same, then PNGs of the main views). It works in a temporary library,
// never the user's.
#pragma once

#include <QString>

namespace DemoRun {

enum Result { Passed = 0, Failed = 1, Skipped = 2 };

// sourceDir: the source tree; its tests/data gives the screenshots a PDF when it is there.
// screenshotsDir: empty for the self-test; else where the PNGs go.
Result run(const QString& sourceDir, const QString& screenshotsDir = {});

}  // namespace DemoRun
