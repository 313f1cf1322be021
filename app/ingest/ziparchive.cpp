// Zip reading over libzip with bomb limits; see ziparchive.h.
#include "ziparchive.h"

#include <zip.h>

namespace Ingest {

struct ZipArchive::Private {
    QByteArray bytes;  // libzip reads from this buffer; it must outlive the archive
    zip_t* archive = nullptr;
    Limits limits;
    qint64 totalRead = 0;
    QStringList names;
    ~Private()
    {
        if (archive)
            zip_discard(archive);
    }
};

namespace {

bool safeName(const QString& name)
{
    if (name.isEmpty() || name.startsWith(u'/') || name.startsWith(u'\\') || name.contains(u':'))
        return false;
    const QStringList parts = QString(name).replace(u'\\', u'/').split(u'/');
    return !parts.contains(QStringLiteral(".."));
}

}  // namespace

ZipArchive::ZipArchive(std::unique_ptr<Private> p) : d(std::move(p)) {}
ZipArchive::ZipArchive(ZipArchive&&) noexcept = default;
ZipArchive& ZipArchive::operator=(ZipArchive&&) noexcept = default;
ZipArchive::~ZipArchive() = default;

lectern::Result<ZipArchive> ZipArchive::open(QByteArray bytes, const Limits& limits)
{
    auto d = std::make_unique<Private>();
    d->bytes = std::move(bytes);
    d->limits = limits;
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* source =
        zip_source_buffer_create(d->bytes.constData(), zip_uint64_t(d->bytes.size()), 0, &error);
    if (!source) {
        zip_error_fini(&error);
        return lectern::make_error("cannot read the zip archive");
    }
    d->archive = zip_open_from_source(source, ZIP_RDONLY, &error);
    if (!d->archive) {
        const std::string why = zip_error_strerror(&error);
        zip_source_free(source);
        zip_error_fini(&error);
        return lectern::make_error("not a valid zip archive (" + why + ")");
    }
    zip_error_fini(&error);
    const zip_int64_t n = zip_get_num_entries(d->archive, 0);
    for (zip_int64_t i = 0; i < n; ++i) {
        const char* name = zip_get_name(d->archive, zip_uint64_t(i), ZIP_FL_ENC_GUESS);
        if (name && safeName(QString::fromUtf8(name)))
            d->names.append(QString::fromUtf8(name));
    }
    return ZipArchive(std::move(d));
}

QStringList ZipArchive::names() const
{
    return d->names;
}

bool ZipArchive::contains(const QString& name) const
{
    return d->names.contains(name);
}

lectern::Result<QByteArray> ZipArchive::read(const QString& name)
{
    const std::string what = name.toStdString();
    if (!contains(name))
        return lectern::make_error(what + ": no such entry in the archive");
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(d->archive, name.toUtf8().constData(), ZIP_FL_ENC_GUESS, &st) != 0 ||
        !(st.valid & ZIP_STAT_SIZE))
        return lectern::make_error(what + ": cannot read the entry's header");
    const Limits& lim = d->limits;
    const qint64 declared = qint64(st.size);
    const qint64 compressed = (st.valid & ZIP_STAT_COMP_SIZE) ? qint64(st.comp_size) : 0;
    if (declared > lim.maxEntryBytes || d->totalRead + declared > lim.maxTotalBytes ||
        (declared > (1 << 20) && declared > qint64(lim.maxRatio) * std::max<qint64>(compressed, 1)))
        return lectern::make_error(what + ": expands to " + std::to_string(declared) +
                                   " bytes from " + std::to_string(compressed) +
                                   ", over the limits (a zip bomb?)");
    zip_file_t* file = zip_fopen(d->archive, name.toUtf8().constData(), ZIP_FL_ENC_GUESS);
    if (!file)
        return lectern::make_error(what + ": cannot open the entry (" +
                                   zip_strerror(d->archive) + ")");
    // Read at most the declared size plus one byte: data longer than its header says is corrupt.
    QByteArray out;
    out.resize(declared + 1);
    qint64 got = 0;
    while (got < out.size()) {
        const zip_int64_t n = zip_fread(file, out.data() + got, zip_uint64_t(out.size() - got));
        if (n < 0) {
            const std::string why = zip_file_strerror(file);
            zip_fclose(file);
            return lectern::make_error(what + ": corrupt compressed data (" + why + ")");
        }
        if (n == 0)
            break;
        got += n;
    }
    zip_fclose(file);
    if (got != declared)
        return lectern::make_error(what + ": size differs from its header (corrupt archive)");
    out.resize(got);
    d->totalRead += got;
    return out;
}

}  // namespace Ingest
