// Provenance of an answer in the reader's terms: the token ranges the attention blocks looked at
// (DocumentStore::attended_ranges) turned into byte ranges of the extracted text (the store's
// token -> offset map) and then into pages (the extraction's page map).
#pragma once

#include <QList>

#include "enginerequests.h"
#include "lectern/document_store.h"

namespace AnswerProvenance {

// Pages of `pages` that the trace rows [first, first + rows) attended, strongest first. A range
// that spans several pages shares its weight among them by the bytes each one covers. Tokens
// stored without offsets (or an empty page map) give no pages.
QList<AttendedPage> pagesFor(const lectern::DocumentStore& store,
                             const lectern::ForwardTrace& trace, int first, int rows,
                             const QList<DocumentPage>& pages);

}  // namespace AnswerProvenance
