// lectern-cli extract: a document (PDF, EPUB, text, Markdown, HTML) to clean text. Pages are
// separated by a form feed (ingest reads the same pages joined by a blank line: the --json "text");
// warnings go to stderr. --json prints the text with its location map;
// --bench times extraction against pdftotext.
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QStandardPaths>

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <optional>

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

// --bench: extraction speed against pdftotext on the same file in the same run, the two
// interleaved (lectern, pdftotext, lectern, ...) so that a busy machine slows both alike; best of
// `repeat` runs each, wall clock. pdftotext's time includes its process start.
struct ExtractBench {
    qsizetype pages = 0, bytes = 0;
    double seconds = 0, pdftotextSeconds = 0;  // 0: pdftotext not installed / not a PDF
};

std::optional<ExtractBench> measureExtraction(const QString& path,
                                              const Ingest::ExtractOptions& options, int repeat,
                                              QString* error)
{
    ExtractBench b;
    double best = 1e300, reference = 1e300;
    QFile head(path);
    const bool isPdf = head.open(QIODevice::ReadOnly) &&
                       Ingest::Extractor::sniff(head.read(1024)) == Ingest::Extractor::Kind::Pdf;
    const QString pdftotext =
        isPdf ? QStandardPaths::findExecutable(QStringLiteral("pdftotext")) : QString();
    for (int i = 0; i < repeat; ++i) {
        QElapsedTimer timer;
        timer.start();
        auto doc = Ingest::Extractor::extractFile(path, options);
        const double s = double(timer.nsecsElapsed()) * 1e-9;
        if (!doc) {
            *error = QString::fromStdString(doc.error().message);
            return std::nullopt;
        }
        best = std::min(best, s);
        b.pages = doc->pages.size();
        b.bytes = doc->text.size();
        if (pdftotext.isEmpty())
            continue;
        QProcess p;
        QStringList args{QStringLiteral("-q")};
        if (!options.password.isEmpty())
            args << QStringLiteral("-upw") << QString::fromUtf8(options.password);
        args << path << QStringLiteral("-");
        timer.restart();
        p.start(pdftotext, args);
        p.waitForFinished(-1);
        p.readAllStandardOutput();
        reference = std::min(reference, double(timer.nsecsElapsed()) * 1e-9);
    }
    b.seconds = best;
    b.pdftotextSeconds = pdftotext.isEmpty() ? 0.0 : reference;
    return b;
}

int benchExtraction(const QString& path, const Ingest::ExtractOptions& options, int repeat)
{
    QString error;
    const auto b = measureExtraction(path, options, repeat, &error);
    if (!b)
        return fail(error);
    std::printf("lectern  %lld pages  %lld text bytes  %.3f s  %.1f pages/s\n", qint64(b->pages),
                qint64(b->bytes), b->seconds, double(b->pages) / b->seconds);
    if (b->pdftotextSeconds <= 0) {
        std::printf("pdftotext  not run (not installed (poppler-utils), or not a PDF)\n");
        return Success;
    }
    std::printf("pdftotext  %lld pages  %.3f s  %.1f pages/s  (process start included)\n",
                qint64(b->pages), b->pdftotextSeconds, double(b->pages) / b->pdftotextSeconds);
    std::printf("ratio  %.2f\n", b->pdftotextSeconds / b->seconds);
    return Success;
}

}  // namespace

// `lectern-cli bench --extract FILE` (benchcommand.cpp): the same measurement as key: value lines.
int runExtractBench(const QString& path, const Ingest::ExtractOptions& options, int repeat)
{
    QString error;
    const auto b = measureExtraction(path, options, repeat, &error);
    if (!b)
        return fail(error);
    const double pps = double(b->pages) / b->seconds;
    std::printf("file: %s\n", path.toUtf8().constData());
    std::printf("pages: %lld\n", qint64(b->pages));
    std::printf("text_bytes: %lld\n", qint64(b->bytes));
    std::printf("runs: %d (best of each, interleaved with pdftotext)\n", repeat);
    std::printf("seconds: %.4f\n", b->seconds);
    std::printf("pages_per_s: %.1f\n", pps);
    if (b->pdftotextSeconds > 0) {
        const double ref = double(b->pages) / b->pdftotextSeconds;
        std::printf("pdftotext_seconds: %.4f\n", b->pdftotextSeconds);
        std::printf("pdftotext_pages_per_s: %.1f\n", ref);
        std::printf("ratio: %.2f\n", pps / ref);
    } else {
        std::printf("pdftotext_pages_per_s: n/a (pdftotext not installed, or not a PDF)\n");
    }
    std::fflush(stdout);
    return Success;
}

int runExtract(const QStringList& args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Extract clean text from a PDF, EPUB, text, Markdown or HTML file (format chosen by "
        "content). Pages (EPUB: chapters) are separated by a form feed. 'lectern-cli ingest' "
        "tokenizes the same page texts with a blank line between pages instead (the \"text\" "
        "of --json, byte for byte)."));
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
    const QCommandLineOption threadsOption(
        QStringLiteral("threads"),
        QStringLiteral("Threads reading PDF pages (default 0 = one per core; fewer for short "
                       "documents). The text does not depend on it."),
        QStringLiteral("n"), QStringLiteral("0"));
    parser.addOptions({passwordOption, ocrOption, jsonOption, benchOption, repeatOption,
                       threadsOption});
    if (auto code = parse(parser, args))
        return *code;
    const QStringList files = parser.positionalArguments();
    if (files.size() != 1)
        return fail(QStringLiteral("extract needs exactly one file (see --help)"), UsageError);

    Ingest::ExtractOptions options;
    options.password = parser.value(passwordOption).toUtf8();
    options.ocr = parser.isSet(ocrOption);
    bool threadsOk = false;
    options.threads = parser.value(threadsOption).toInt(&threadsOk);
    if (!threadsOk || options.threads < 0 || options.threads > 256)
        return fail(QStringLiteral("--threads needs a number from 0 to 256"), UsageError);
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
