// libFuzzer target: Extractor::extractBytes on arbitrary bytes through the text, HTML and EPUB
// paths (zip reader, container/OPF/nav/NCX parsing, HtmlToText, encoding detection), then
// sentence splitting of the result. PDF inputs are skipped: Poppler is not instrumented here.
// Every document that comes back must satisfy the location-map invariants, and its LocationMap
// (what ingest keeps in the store) must survive serialize -> parse, or the target aborts. The raw
// bytes also go to LocationMap::parse (a damaged attachment must give an error, never a crash).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <QByteArray>

#include "extractor.h"
#include "locationmap.h"
#include "sentencesplitter.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const QByteArray bytes(reinterpret_cast<const char*>(data), qsizetype(size));
    if (auto parsed = Ingest::LocationMap::parse(bytes))
        parsed->describe(0, parsed->textBytes);
    if (Ingest::Extractor::sniff(bytes.left(1024)) == Ingest::Extractor::Kind::Pdf)
        return 0;
    Ingest::ExtractOptions options;
    options.maxTotalBytes = 16 << 20;  // keep each run small
    options.maxEntryBytes = 4 << 20;
    auto doc = Ingest::Extractor::extractBytes(bytes, options);
    if (!doc)
        return doc.error().message.empty() ? (std::abort(), 0) : 0;
    qint64 previous = 0;
    for (const Ingest::TextSpan& s : doc->map) {
        if (s.begin < previous || s.end <= s.begin || s.end > doc->text.size() || s.page < 0 ||
            s.page >= doc->pages.size())
            std::abort();
        previous = s.end;
    }
    const Ingest::LocationMap map = Ingest::LocationMap::fromDocument(*doc);
    auto back = Ingest::LocationMap::parse(map.serialize());
    if (!back || back->pages.size() != map.pages.size() || back->textBytes != doc->text.size())
        std::abort();
    for (int i = 0; i < doc->pages.size(); ++i) {
        const Ingest::PageInfo& p = doc->pages[i];
        if (p.textEnd > p.textBegin && back->pagesOf(p.textBegin, p.textEnd).first != i)
            std::abort();
    }
    for (const auto& [b, e] : Ingest::SentenceSplitter::split(doc->text))
        if (b < 0 || e > doc->text.size() || b >= e)
            std::abort();
    return 0;
}
