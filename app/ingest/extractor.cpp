// Format sniffing and dispatch; see extractor.h.
#include "extractor.h"

#include "epubextractor.h"
#include "pdfextractor.h"
#include "plaintextextractor.h"

#include <QFile>
#include <QFileInfo>

namespace Ingest {

Extractor::Kind Extractor::sniff(const QByteArray& head)
{
    // The PDF header may follow some junk; readers accept it within the first 1 KiB.
    if (head.left(1024).contains("%PDF-"))
        return Kind::Pdf;
    if (head.startsWith("PK\x03\x04")) {
        // EPUB OCF: first entry "mimetype", stored, content application/epub+zip at offset 38.
        if (head.mid(30, 8) == "mimetype" && head.mid(38, 20) == "application/epub+zip")
            return Kind::Epub;
        return Kind::Zip;
    }
    return Kind::Text;
}

lectern::Result<ExtractedDocument> Extractor::extractFile(const QString& path,
                                                          const ExtractOptions& options)
{
    const QFileInfo info(path);
    const std::string name = path.toStdString();
    if (!info.exists())
        return lectern::make_error(name + ": no such file");
    if (info.isDir())
        return lectern::make_error(name + ": is a directory, not a document");
    if (!info.isFile())  // a device or a pipe could be endless
        return lectern::make_error(name + ": not a regular file");
    if (info.size() > kMaxFileBytes)
        return lectern::make_error(name + ": larger than 1 GiB; not read");
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return lectern::make_error(name + ": " + file.errorString().toStdString());
    const QByteArray head = file.read(1024);
    if (sniff(head) == Kind::Pdf) {
        file.close();
        auto doc = PdfExtractor::extract(path, options);  // Poppler reads the file itself
        if (!doc)
            return lectern::with_context(name, doc.error());
        return doc;
    }
    QByteArray bytes = head + file.readAll();
    if (file.error() != QFileDevice::NoError)
        return lectern::make_error(name + ": " + file.errorString().toStdString());
    auto doc = extractBytes(bytes, options);
    if (!doc)
        return lectern::with_context(name, doc.error());
    return doc;
}

lectern::Result<ExtractedDocument> Extractor::extractBytes(const QByteArray& bytes,
                                                           const ExtractOptions& options)
{
    if (bytes.isEmpty())
        return lectern::make_error("the file is empty");
    switch (sniff(bytes.left(1024))) {
    case Kind::Pdf:
        return PdfExtractor::extractData(bytes, options);
    case Kind::Epub:
        return EpubExtractor::extract(bytes, options);
    case Kind::Zip: {
        // Not announced as EPUB; still one if it holds an EPUB container.
        auto doc = EpubExtractor::extract(bytes, options);
        if (!doc && !bytes.contains("META-INF/container.xml"))
            return lectern::make_error("a zip archive that is not an EPUB (no mimetype "
                                       "application/epub+zip, no META-INF/container.xml)");
        return doc;
    }
    case Kind::Text:
        break;
    }
    return PlainTextExtractor::extract(bytes);
}

}  // namespace Ingest
