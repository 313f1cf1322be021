// Attended token ranges -> byte ranges -> pages; the store's coverage and location map for the
// reader (see answerprovenance.h).
#include "answerprovenance.h"

#include <QMap>

#include <algorithm>

namespace AnswerProvenance {

QList<AttendedPage> pagesFor(const lectern::DocumentStore& store,
                             const lectern::ForwardTrace& trace, int first, int rows,
                             const QList<DocumentPage>& pages) {
    if (pages.isEmpty() || rows <= 0) return {};
    const std::vector<lectern::AttendedRange> ranges = store.attended_ranges(trace, first, rows);
    const std::int64_t tokens = store.tokens();
    const qint64 textEnd = pages.last().textEnd;
    QMap<int, AttendedPage> byPage;
    QMap<int, double> best;  // per page: the largest share of one range so far
    for (const lectern::AttendedRange& r : ranges) {
        if (r.begin >= r.end || r.begin >= tokens) continue;
        auto begin = store.read_offsets(r.begin, r.begin + 1);
        if (!begin || begin->empty() || begin->front() < 0) continue;  // ingested without offsets
        qint64 endByte = textEnd;
        if (r.end < tokens) {
            auto next = store.read_offsets(r.end, r.end + 1);
            if (next && !next->empty() && next->front() >= 0) endByte = next->front();
        }
        const qint64 beginByte = begin->front();
        const qint64 span = std::max<qint64>(1, endByte - beginByte);
        for (int i = 0; i < pages.size(); ++i) {
            const DocumentPage& p = pages[i];
            // Pages are joined by a blank line, which belongs to no page: count it with the next.
            const qint64 lo = std::max(beginByte, i == 0 ? 0 : pages[i - 1].textEnd);
            const qint64 hi = std::min(endByte, p.textEnd);
            if (hi <= lo) continue;
            const bool fresh = !byPage.contains(i);
            AttendedPage& a = byPage[i];
            const double share = r.weight * double(hi - lo) / double(span);
            if (fresh) {
                a.page = i;
                a.label = p.label;
            }
            // The passage shown is the page's most attended range, not the union of all of them:
            // every answer token also reads a few weak chunks, and their union would cover most
            // of a long page.
            if (fresh || share > best[i]) {
                best[i] = share;
                a.textBegin = std::max(lo, p.textBegin);
                a.textEnd = hi;
            }
            a.weight += share;
        }
    }
    QList<AttendedPage> out = byPage.values();
    std::stable_sort(out.begin(), out.end(), [](const AttendedPage& a, const AttendedPage& b) {
        return a.weight > b.weight;
    });
    return out;
}

lectern::Result<lectern::StoreCoverage> coverage(const QString& storeDir) {
    if (storeDir.isEmpty()) return lectern::make_error("the document has no store yet");
    return lectern::DocumentStore::coverage(storeDir.toStdString());
}

std::optional<Ingest::LocationMap> storedLocationMap(const QString& storeDir) {
    if (storeDir.isEmpty()) return std::nullopt;
    auto bytes = lectern::DocumentStore::read_attachment(storeDir.toStdString(), 0);
    if (!bytes || bytes->empty()) return std::nullopt;
    auto map = Ingest::LocationMap::parse(
        QByteArray(reinterpret_cast<const char*>(bytes->data()), qsizetype(bytes->size())));
    if (!map) return std::nullopt;
    return *map;
}

}  // namespace AnswerProvenance
