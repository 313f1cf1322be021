// Tesseract OCR of one page image; see pageocr.h.
#include "pageocr.h"

#include <QImage>

#ifdef LECTERN_HAVE_TESSERACT
#include <tesseract/baseapi.h>
#include <tesseract/resultiterator.h>

#include <clocale>
#include <memory>
#include <mutex>
#endif

namespace Ingest {

#ifdef LECTERN_HAVE_TESSERACT

bool PageOcr::available()
{
    return true;
}

lectern::Result<QVector<PdfWord>> PageOcr::recognise(const QImage& image, double dpi,
                                                     float minConfidence)
{
    if (image.isNull() || dpi <= 0)
        return lectern::make_error("OCR: no page image");
    const QImage gray = image.convertToFormat(QImage::Format_Grayscale8);
    tesseract::TessBaseAPI api;
    {
        // Tesseract parses its model files with the C library; it wants the "C" numeric locale.
        static std::mutex localeMutex;
        std::lock_guard<std::mutex> lock(localeMutex);
        const std::string previous = std::setlocale(LC_NUMERIC, nullptr);
        std::setlocale(LC_NUMERIC, "C");
        const int failed = api.Init(nullptr, "eng", tesseract::OEM_DEFAULT);
        std::setlocale(LC_NUMERIC, previous.c_str());
        if (failed)
            return lectern::make_error("OCR: Tesseract has no English model (install tesseract-ocr-eng)");
    }
    api.SetVariable("debug_file", "/dev/null");  // no chatter on stderr
    api.SetPageSegMode(tesseract::PSM_AUTO);
    api.SetImage(gray.constBits(), gray.width(), gray.height(), 1, int(gray.bytesPerLine()));
    api.SetSourceResolution(int(dpi));
    if (api.Recognize(nullptr) != 0)
        return lectern::make_error("OCR: recognition failed");
    QVector<PdfWord> words;
    const double scale = 72.0 / dpi;  // pixels to points
    std::unique_ptr<tesseract::ResultIterator> it(api.GetIterator());
    if (it) {
        do {
            std::unique_ptr<char[]> text(it->GetUTF8Text(tesseract::RIL_WORD));
            if (!text || it->Confidence(tesseract::RIL_WORD) < minConfidence)
                continue;
            int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
            if (!it->BoundingBox(tesseract::RIL_WORD, &x1, &y1, &x2, &y2))
                continue;
            const QString word = QString::fromUtf8(text.get()).trimmed();
            if (word.isEmpty())
                continue;
            words.append(PdfWord{word, QRectF(x1 * scale, y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale),
                                 true});
        } while (it->Next(tesseract::RIL_WORD));
    }
    api.End();
    return words;
}

#else

bool PageOcr::available()
{
    return false;
}

lectern::Result<QVector<PdfWord>> PageOcr::recognise(const QImage&, double, float)
{
    return lectern::make_error("OCR is not available in this build (built without Tesseract)");
}

#endif

}  // namespace Ingest
