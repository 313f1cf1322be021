// cuBLAS loaded at run time (kernels/cublas_api.cpp): every entry point resolves from the toolkit's
// library, and its status names work. Needs no GPU (loading cuBLAS needs no driver); a build
// without CUDA skips. Also checks the binary itself does not depend on cuBLAS at load time.
#include <QCoreApplication>
#include <QProcess>
#include <QTest>

#include "gpu_test_util.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/cublas_api.h"
#endif

class TestCublasApi : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
#ifndef LECTERN_HAVE_CUDA
        QSKIP("built without CUDA (LECTERN_CUDA=OFF)");
#endif
    }

    void resolvesEveryEntryPoint() {
#ifdef LECTERN_HAVE_CUDA
        auto api = lectern::cuda::cublas_api();
        if (!api) QSKIP(qPrintable(QString::fromStdString(api.error().message)));
        const lectern::cuda::CublasApi* a = *api;
        QVERIFY(a->create && a->destroy && a->set_stream && a->set_math_mode && a->saxpy &&
                a->gemm_ex && a->status_name);
        QVERIFY(!a->library.empty());
        QCOMPARE(QByteArray(a->status_name(CUBLAS_STATUS_NOT_INITIALIZED)),
                 QByteArray("CUBLAS_STATUS_NOT_INITIALIZED"));
        // The same table every time (loaded once per process).
        auto again = lectern::cuda::cublas_api();
        QVERIFY(again && *again == a);
#endif
    }

    // The executable has no DT_NEEDED entry for cuBLAS: it starts where cuBLAS is absent.
    void notALoadTimeDependency() {
#ifdef Q_OS_LINUX
        QProcess readelf;
        readelf.start(QStringLiteral("readelf"),
                      {QStringLiteral("-d"), QCoreApplication::applicationFilePath()});
        if (!readelf.waitForFinished(30000) || readelf.exitCode() != 0)
            QSKIP("readelf (binutils) is not available");
        const QByteArray dynamic = readelf.readAllStandardOutput();
        QVERIFY(dynamic.contains("(NEEDED)"));
        QVERIFY2(!dynamic.contains("libcublas"), dynamic.constData());
#else
        QSKIP("checks the ELF dynamic section");
#endif
    }
};

QTEST_GUILESS_MAIN(TestCublasApi)
#include "tst_cublas_api.moc"
