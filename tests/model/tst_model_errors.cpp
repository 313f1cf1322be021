// Tests that every broken checkpoint in tests/data/broken, and every truncation or corruption of
// a good one, is refused with a one-line error naming the problem and never crashes.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <random>

#include "lectern/model_config.h"
#include "model_test_util.h"

#ifndef _WIN32
#include <unistd.h>
#endif

using namespace lectern;

namespace {

QByteArray read_all(const std::string& path) {
    QFile f(QString::fromStdString(path));
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

std::span<const std::byte> as_span(const QByteArray& b) {
    return std::as_bytes(std::span(b.constData(), std::size_t(b.size())));
}

// Open, then infer the config; the first error, or "" when both succeed.
QString first_error(const std::string& path) {
    auto mf = ModelFile::open(path);
    if (!mf) return QString::fromStdString(mf.error().message);
    auto c = infer_model_config(*mf);
    return c ? QString() : QString::fromStdString(c.error().message);
}

}  // namespace

class TestModelErrors : public QObject {
    Q_OBJECT
  private Q_SLOTS:
    void broken_fixture_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("expected");
        auto row = [](const char* file, const char* expected) {
            QTest::newRow(file) << QString::fromLatin1(file) << QString::fromLatin1(expected);
        };
        row("wrong-shape.pth", "blocks.1.att.w1: shape [128,31], expected [128,32]");
        row("missing-tensor.pth", "blocks.1.att.k_k: missing");
        row("extra-tensor.pth", "unexpected tensor blocks.1.att.bonus");
        row("truncated.pth", "truncated.pth: not a zip archive or truncated");
        row("not-a-model.txt",
            "not-a-model.txt: not a model file (neither a PyTorch zip checkpoint nor safetensors)");
        row("unknown-opcode.pth", "unknown-opcode.pth: pickle: unknown opcode 0xFF at offset 2");
        row("evil-global.pth", "evil-global.pth: unsupported pickle global os.system");
        row("legacy.pth",
            "legacy.pth: legacy (pre-1.6) PyTorch format is not supported; re-save with "
            "torch.save");
        row("deflated.pth", "data.pkl: compressed zip entries are not supported");
        row("zip-bomb.pth", "data (2147483632 bytes) lies outside the file");
        row("int-dtype.safetensors", "int-dtype.safetensors: ids: unsupported dtype I32");
        row("bad-header.safetensors", "bad-header.safetensors: safetensors header: JSON: ");
        row("float64.pth",
            "float64.pth: emb.weight: unsupported dtype float64 (torch.DoubleStorage)");
    }
    void broken_fixture() {
        QFETCH(QString, file);
        QFETCH(QString, expected);
        const QString msg = first_error(test_util::broken_path(file));
        QVERIFY2(!msg.isEmpty(), "the broken fixture was accepted");
        QVERIFY2(msg.contains(expected), qPrintable(msg));
        QVERIFY(!msg.contains(QLatin1Char('\n')));
    }

    // Every prefix of a good file is refused by the in-memory parsers.
    void truncations_data() {
        QTest::addColumn<QString>("file");
        QTest::newRow("pth") << QStringLiteral("rwkvx-tiny-bf16.pth");
        QTest::newRow("safetensors") << QStringLiteral("rwkvx-tiny-f16.safetensors");
        QTest::newRow("strided pth") << QStringLiteral("strided.pth");
    }
    void truncations() {
        QFETCH(QString, file);
        const QByteArray bytes = read_all(test_util::model_path(file));
        QVERIFY(!bytes.isEmpty());
        const bool pth = file.endsWith(QLatin1String(".pth"));
        for (int i = 0; i < 50; ++i) {
            const auto cut = std::size_t(bytes.size()) * std::size_t(i) / 50;
            const QByteArray part = bytes.left(qsizetype(cut));  // own buffer: ASan sees overreads
            auto r = pth ? parse_pth(as_span(part)) : parse_safetensors(as_span(part));
            QVERIFY2(!r.has_value(), qPrintable(QStringLiteral("cut at %1 accepted").arg(cut)));
        }
    }

    // Flipped bytes anywhere must give either a table or an error, never a crash.
    void corruptions() {
        for (const char* file : {"strided.pth", "rwkv7-tiny-bf16.pth"}) {
            const QByteArray good = read_all(test_util::model_path(QString::fromLatin1(file)));
            std::mt19937 rng(1);
            for (int i = 0; i < 300; ++i) {
                QByteArray bad = good;
                for (int k = 0; k < 4; ++k) {
                    const auto at = qsizetype(rng() % std::uint32_t(bad.size()));
                    bad[at] = char(rng());
                }
                auto r = parse_pth(as_span(bad));
                (void)r;
            }
        }
    }

    void zip_claims_too_many_entries() {
        // torch writes ZIP64 records; the entry count there is what the reader uses.
        QByteArray bytes = read_all(test_util::model_path(QStringLiteral("strided.pth")));
        const qsizetype eocd64 = bytes.lastIndexOf(QByteArray("PK\x06\x06", 4));
        QVERIFY(eocd64 > 0);
        const std::uint64_t many = 1'000'000'000;
        std::memcpy(bytes.data() + eocd64 + 32, &many, 8);
        auto r = parse_pth(as_span(bytes));
        QVERIFY(!r.has_value());
        QVERIFY2(r.error().message.find("claims 1000000000 entries") != std::string::npos,
                 r.error().message.c_str());
    }

    void storage_too_small() {
        // Shrink the recorded size of storage 0 in both zip headers' central record.
        QByteArray bytes = read_all(test_util::model_path(QStringLiteral("strided.pth")));
        const QByteArray name = "strided/data/0";
        qsizetype cd = -1;
        for (cd = bytes.indexOf(QByteArray("PK\x01\x02", 4)); cd >= 0;
             cd = bytes.indexOf(QByteArray("PK\x01\x02", 4), cd + 4)) {
            if (bytes.mid(cd + 46, name.size()) == name) break;
        }
        QVERIFY(cd > 0);
        const std::uint32_t small = 100;
        std::memcpy(bytes.data() + cd + 20, &small, 4);
        std::memcpy(bytes.data() + cd + 24, &small, 4);
        auto r = parse_pth(as_span(bytes));
        QVERIFY(!r.has_value());
        QVERIFY2(r.error().message == "base: storage 0 holds 100 bytes, tensor needs 512",
                 r.error().message.c_str());
    }

    void file_system_errors() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const std::string missing = dir.filePath(QStringLiteral("nope.pth")).toStdString();
        auto r = ModelFile::open(missing);
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().message, missing + ": no such file");

        r = ModelFile::open(dir.path().toStdString());
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().message, dir.path().toStdString() + ": is a directory");

        const QString empty = dir.filePath(QStringLiteral("empty.pth"));
        QFile f(empty);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.close();
        r = ModelFile::open(empty.toStdString());
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().message, empty.toStdString() + ": file is empty");

#ifndef _WIN32
        const QString locked = dir.filePath(QStringLiteral("locked.pth"));
        QVERIFY(QFile::copy(
            QString::fromStdString(test_util::model_path(QStringLiteral("strided.pth"))), locked));
        QVERIFY(QFile::setPermissions(locked, QFileDevice::Permissions()));
        if (::geteuid() == 0) QSKIP("running as root: permissions are not enforced");
        r = ModelFile::open(locked.toStdString());
        QVERIFY(!r.has_value());
        QCOMPARE(r.error().message, locked.toStdString() + ": permission denied");
#endif
    }

    void duplicate_names_in_safetensors_header() {
        QByteArray st = test_util::make_safetensors({{"a", {2}}, {"b", {2}}});
        st.replace("\"b\"", "\"a\"");
        auto r = parse_safetensors(as_span(st));
        QVERIFY(!r.has_value());
        QVERIFY2(r.error().message.find("duplicate key \"a\"") != std::string::npos,
                 r.error().message.c_str());
    }

    void safetensors_inconsistent_sizes() {
        QByteArray st = test_util::make_safetensors({{"a", {2, 3}}});
        st.replace("[2,3]", "[2,4]");
        auto r = parse_safetensors(as_span(st));
        QVERIFY(!r.has_value());
        QVERIFY2(r.error().message == "a: data_offsets span 24 bytes, shape and dtype need 32",
                 r.error().message.c_str());
    }
};

QTEST_GUILESS_MAIN(TestModelErrors)
#include "tst_model_errors.moc"
