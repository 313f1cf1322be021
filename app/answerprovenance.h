// Provenance of an answer in the reader's terms: the token ranges the attention blocks looked at
// (DocumentStore::attended_ranges) turned into byte ranges of the extracted text (the store's
// token -> offset map) and then into pages (the extraction's page map); and what the store holds
// of the document (coverage, its kept location map) for the reader.
#pragma once

#include <QList>
#include <QString>

#include <optional>

#include "enginerequests.h"
#include "lectern/document_store.h"
#include "locationmap.h"

namespace AnswerProvenance {

// Pages of `pages` that the trace rows [first, first + rows) attended, strongest first. A range
// that spans several pages shares its weight among them by the bytes each one covers. Tokens
// stored without offsets (or an empty page map) give no pages.
QList<AttendedPage> pagesFor(const lectern::DocumentStore& store,
                             const lectern::ForwardTrace& trace, int first, int rows,
                             const QList<DocumentPage>& pages);

// What the store says it holds of the document (DocumentStore::coverage: read, held exactly,
// only in the recurrent state), for the reader's coverage strip; an error while the folder is not
// (yet) a store. Reads the manifest and token files: call it off the GUI thread.
lectern::Result<lectern::StoreCoverage> coverage(const QString& storeDir);

// The location map kept with the store's first source (pages, text-layer flags, rectangles;
// `lectern-cli ingest` keeps one), read without the model; nullopt when there is none or it is
// damaged (the caller then extracts the document itself).
std::optional<Ingest::LocationMap> storedLocationMap(const QString& storeDir);

}  // namespace AnswerProvenance
