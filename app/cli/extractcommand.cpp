// lectern-cli extract: a document (PDF, EPUB, text, Markdown, HTML) to clean text. Pages are
// separated by a form feed; warnings go to stderr. --json prints the text with its location map;
// --bench times extraction against pdftotext.
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QStandardPaths>

#include <cmath>
#include <algorithm>
#include <cstdio>

#include "clicommon.h"
#include "commands.h"
#include "extractor.h"

namespace Cli {

namespace {

QJsonObject pageJson(const Ingest::PageInfo& p)
{
    QJsonObject o{{QStringLiteral("label"), p.label},
                  {QStringLiteral("begin"), double(p.textBegin)},
                  {QStringLiteral("end"), double(p.textEnd)},
                  {QStringLiteral("hasTextLayer"), p.hasTextLayer},
                  {QStringLiteral("ocr"), p.ocr},
                  {QStringLiteral("warnings"), QJsonArray::fromStringList(p.warnings)}};
    if (!p.size.isEmpty()) {
        o.insert(QStringLiteral("width"), p.size.width());
        o.insert(QStringLiteral("height"), p.size.height());
    }
    return o;
}

QJsonObject spanJson(const Ingest::TextSpan& s)
{
    QJsonObject o{{QStringLiteral("begin"), double(s.begin)},
                  {QStringLiteral("end"), double(s.end)},
                  {QStringLiteral("page"), s.page}};
    if (!s.rect.isNull()) {
        auto r = [](double v) { return std::round(v * 100) / 100; };
        o.insert(QStringLiteral("rect"), QJsonArray{r(s.rect.x()), r(s.rect.y()),
                                                    r(s.rect.width()), r(s.rect.height())});
    }
    return o;
}

// --bench: extraction speed against pdftotext on the same file in the same run (best of
// `repeat` runs each, wall clock).
int benchExtraction(const QString& path, const Ingest::ExtractOptions& options, int repeat)
{
    double best = 1e300;
    qsizetype pages = 0, bytes = 0;
    for (int i = 0; i < repeat; ++i) {
        QElapsedTimer timer;
        timer.start();
        auto doc = Ingest::Extractor::extractFile(path, options);
        const double s = double(timer.nsecsElapsed()) * 1e-9;
        if (!doc)
            return fail(doc.error().message);
        best = std::min(best, s);
        pages = doc->pages.size();
        bytes = doc->text.size();
    }
    std::printf("lectern  %lld pages  %lld text bytes  %.3f s  %.1f pages/s\n", qint64(pages),
                qint64(bytes), best, double(pages) / best);
    const QString pdftotext = QStandardPaths::findExecutable(QStringLiteral("pdftotext"));
    if (pdftotext.isEmpty()) {
        std::printf("pdftotext  not installed (poppler-utils)\n");
        return Success;
    }
    double reference = 1e300;
    for (int i = 0; i < repeat; ++i) {
        QProcess p;
        QElapsedTimer timer;
        timer.start();
        p.start(pdftotext, {QStringLiteral("-q"), path, QStringLiteral("-")});
        p.waitForFinished(-1);
        p.readAllStandardOutput();
        reference = std::min(reference, double(timer.nsecsElapsed()) * 1e-9);
    }
    std::printf("pdftotext  %lld pages  %.3f s  %.1f pages/s  (process start included)\n",
                qint64(pages), reference, double(pages) / reference);
    return Success;
}

}  // namespace

int runExtract(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Extract clean text from a PDF, EPUB, text, Markdown or HTML file (format chosen by "
        "content). Pages (EPUB: chapters) are separated by a form feed."));
    parser.addPositionalArgument(QStringLiteral("file"), QStringLiteral("The document."));
    const QCommandLineOption passwordOption(QStringLiteral("password"),
                                            QStringLiteral("Password of an encrypted PDF."),
                                            QStringLiteral("password"));
    const QCommandLineOption ocrOption(
        QStringLiteral("ocr"), QStringLiteral("OCR PDF pages without a text layer (Tesseract, "
                                              "English; slow). Off: such pages are reported."));
    const QCommandLineOption jsonOption(
        QStringLiteral("json"),
        QStringLiteral("Print {text, pages, map, headings, warnings} as JSON (byte offsets)."));
    const QCommandLineOption benchOption(
        QStringLiteral("bench"),
        QStringLiteral("Time the extraction (pages/s, best of --repeat) against pdftotext."));
    const QCommandLineOption repeatOption(QStringLiteral("repeat"),
                                          QStringLiteral("Runs for --bench (default 3)."),
                                          QStringLiteral("n"), QStringLiteral("3"));
    parser.addOptions({passwordOption, ocrOption, jsonOption, benchOption, repeatOption});
    if (auto code = parse(parser, args))
        return *code;
    const QStringList files = parser.positionalArguments();
    if (files.size() != 1)
        return fail(QStringLiteral("extract needs exactly one file (see --help)"), UsageError);

    Ingest::ExtractOptions options;
    options.password = parser.value(passwordOption).toUtf8();
    options.ocr = parser.isSet(ocrOption);
    if (parser.isSet(benchOption)) {
        bool ok = false;
        const int repeat = parser.value(repeatOption).toInt(&ok);
        if (!ok || repeat < 1)
            return fail(QStringLiteral("--repeat needs a positive number"), UsageError);
        return benchExtraction(files.first(), options, repeat);
    }
    auto result = Ingest::Extractor::extractFile(files.first(), options);
    if (!result)
        return fail(result.error().message);
    const Ingest::ExtractedDocument& doc = *result;

    if (parser.isSet(jsonOption)) {
        QJsonArray pages, map, headings;
        for (const Ingest::PageInfo& p : doc.pages)
            pages.append(pageJson(p));
        for (const Ingest::TextSpan& s : doc.map)
            map.append(spanJson(s));
        for (const Ingest::Heading& h : doc.headings)
            headings.append(QJsonObject{{QStringLiteral("offset"), double(h.offset)},
                                        {QStringLiteral("level"), h.level},
                                        {QStringLiteral("page"), h.page},
                                        {QStringLiteral("text"), h.text}});
        const QJsonObject root{
            {QStringLiteral("format"), QString::fromLatin1(Ingest::ExtractedDocument::formatName(doc.format))},
            {QStringLiteral("title"), doc.title},
            {QStringLiteral("encoding"), doc.encoding},
            {QStringLiteral("text"), QString::fromUtf8(doc.text)},
            {QStringLiteral("pages"), pages},
            {QStringLiteral("map"), map},
            {QStringLiteral("headings"), headings},
            {QStringLiteral("warnings"), QJsonArray::fromStringList(doc.warnings)}};
        writeStdout(QJsonDocument(root).toJson(QJsonDocument::Indented));
    } else {
        QByteArray out;
        for (int i = 0; i < doc.pages.size(); ++i) {
            if (i > 0)
                out.append('\f');
            const Ingest::PageInfo& p = doc.pages[i];
            out.append(doc.text.mid(p.textBegin, p.textEnd - p.textBegin));
            out.append('\n');
        }
        writeStdout(out);
    }
    for (const QString& w : doc.warnings)
        std::fprintf(stderr, "lectern-cli: warning: %s\n", w.toUtf8().constData());
    return Success;
}

}  // namespace Cli
