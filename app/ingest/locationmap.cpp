// Location map serialization and lookup; see locationmap.h.
#include "locationmap.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>

#include <algorithm>
#include <cmath>

#include "jsonnumber.h"

namespace Ingest {

namespace {

double round2(double v)
{
    return std::round(v * 100.0) / 100.0;
}

bool formatFromName(const QString& name, ExtractedDocument::Format* out)
{
    for (const auto f : {ExtractedDocument::Format::Text, ExtractedDocument::Format::Html,
                         ExtractedDocument::Format::Pdf, ExtractedDocument::Format::Epub}) {
        if (name == QLatin1String(ExtractedDocument::formatName(f))) {
            *out = f;
            return true;
        }
    }
    return false;
}

}  // namespace

LocationMap LocationMap::fromDocument(const ExtractedDocument& doc)
{
    LocationMap m;
    m.format = doc.format;
    m.textBytes = doc.text.size();
    m.pages.reserve(doc.pages.size());
    for (const PageInfo& p : doc.pages) {
        PageInfo q;
        q.label = p.label;
        q.hasTextLayer = p.hasTextLayer;
        q.ocr = p.ocr;
        q.textBegin = p.textBegin;
        q.textEnd = p.textEnd;
        m.pages.append(q);
    }
    for (const TextSpan& s : doc.map)
        if (!s.rect.isNull())
            m.spans.append(s);
    m.headings = doc.headings;
    return m;
}

QByteArray LocationMap::serialize() const
{
    QJsonArray pageArray, spanArray, headingArray;
    for (const PageInfo& p : pages)
        pageArray.append(QJsonArray{double(p.textBegin), double(p.textEnd), p.label,
                                    p.hasTextLayer ? 1 : 0, p.ocr ? 1 : 0});
    for (const TextSpan& s : spans)
        spanArray.append(QJsonArray{double(s.begin), double(s.end), s.page, round2(s.rect.x()),
                                    round2(s.rect.y()), round2(s.rect.width()),
                                    round2(s.rect.height())});
    for (const Heading& h : headings)
        headingArray.append(QJsonArray{double(h.offset), h.level, h.page, h.text});
    const QJsonObject root{
        {QStringLiteral("lectern_location_map"), 1},
        {QStringLiteral("format"), QString::fromLatin1(ExtractedDocument::formatName(format))},
        {QStringLiteral("text_bytes"), double(textBytes)},
        {QStringLiteral("pages"), pageArray},
        {QStringLiteral("spans"), spanArray},
        {QStringLiteral("headings"), headingArray}};
    return QJsonDocument(root).toJson(QJsonDocument::Compact);
}

lectern::Result<LocationMap> LocationMap::parse(const QByteArray& bytes)
{
    QJsonParseError error;
    const QJsonDocument json = QJsonDocument::fromJson(bytes, &error);
    if (json.isNull() || !json.isObject())
        return lectern::make_error("location map: not a JSON object (" +
                                   error.errorString().toStdString() + ")");
    const QJsonObject root = json.object();
    if (root.value(QStringLiteral("lectern_location_map")).toInt() != 1)
        return lectern::make_error("location map: unknown version");
    LocationMap m;
    if (!formatFromName(root.value(QStringLiteral("format")).toString(), &m.format))
        return lectern::make_error("location map: unknown format");
    m.textBytes = jsonInteger(root.value(QStringLiteral("text_bytes")), -1);
    if (m.textBytes < 0)
        return lectern::make_error("location map: bad text_bytes");
    const auto inText = [&m](qint64 b, qint64 e) { return 0 <= b && b <= e && e <= m.textBytes; };
    qint64 previousEnd = 0;
    for (const QJsonValue& v : root.value(QStringLiteral("pages")).toArray()) {
        const QJsonArray a = v.toArray();
        if (a.size() < 5 || !a.at(2).isString())
            return lectern::make_error("location map: bad page entry");
        PageInfo p;
        p.textBegin = jsonInteger(a.at(0), -1);
        p.textEnd = jsonInteger(a.at(1), -1);
        p.label = a.at(2).toString();
        p.hasTextLayer = a.at(3).toInt() != 0;
        p.ocr = a.at(4).toInt() != 0;
        if (!inText(p.textBegin, p.textEnd) || p.textBegin < previousEnd)
            return lectern::make_error("location map: page ranges out of order");
        previousEnd = p.textEnd;
        m.pages.append(p);
    }
    for (const QJsonValue& v : root.value(QStringLiteral("spans")).toArray()) {
        const QJsonArray a = v.toArray();
        if (a.size() < 7)
            return lectern::make_error("location map: bad span entry");
        TextSpan s;
        s.begin = jsonInteger(a.at(0), -1);
        s.end = jsonInteger(a.at(1), -1);
        s.page = a.at(2).toInt(-1);
        s.rect = QRectF(a.at(3).toDouble(), a.at(4).toDouble(), a.at(5).toDouble(),
                        a.at(6).toDouble());
        if (!inText(s.begin, s.end) || s.page < 0 || s.page >= m.pages.size())
            return lectern::make_error("location map: bad span entry");
        m.spans.append(s);
    }
    for (const QJsonValue& v : root.value(QStringLiteral("headings")).toArray()) {
        const QJsonArray a = v.toArray();
        if (a.size() < 4)
            return lectern::make_error("location map: bad heading entry");
        const qint64 at = jsonInteger(a.at(0), -1);
        if (at < 0 || at > m.textBytes)
            return lectern::make_error("location map: bad heading entry");
        m.headings.append(Heading{at, a.at(1).toInt(), a.at(2).toInt(), a.at(3).toString()});
    }
    return m;
}

std::pair<int, int> LocationMap::pagesOf(qint64 begin, qint64 end) const
{
    // Pages are ordered and do not overlap: the first page ending after `begin`.
    const auto first = std::upper_bound(pages.begin(), pages.end(), begin,
                                        [](qint64 b, const PageInfo& p) { return b < p.textEnd; });
    int lo = -1, hi = -1;
    for (auto it = first; it != pages.end() && it->textBegin < end; ++it) {
        if (it->textEnd <= it->textBegin)
            continue;  // an empty page holds no text
        const int i = int(it - pages.begin());
        if (lo < 0)
            lo = i;
        hi = i;
    }
    return {lo, hi};
}

QString LocationMap::describe(qint64 begin, qint64 end) const
{
    const auto [lo, hi] = pagesOf(begin, end);
    if (lo < 0)
        return QString();
    if (format == ExtractedDocument::Format::Epub)
        return lo == hi ? QStringLiteral("chapters %1").arg(lo + 1)
                        : QStringLiteral("chapters %1-%2").arg(lo + 1).arg(hi + 1);
    const auto label = [this](int i) {
        const QString l = pages[i].label;
        return l.isEmpty() ? QString::number(i + 1) : QString(l).replace(QLatin1Char(' '), QLatin1Char('_'));
    };
    return lo == hi ? QStringLiteral("pages %1").arg(label(lo))
                    : QStringLiteral("pages %1-%2").arg(label(lo), label(hi));
}

}  // namespace Ingest
