// SettingsDialog: model, engine and sampling preferences.
#include "settingsdialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QUrl>
#include <QVBoxLayout>

#include <limits>

#include "enginecontroller.h"
#include "jsonnumber.h"
#include "librarycontroller.h"
#include "modelcard.h"
#include "modeldownloader.h"
#include "modelinfo.h"

SettingsDialog::SettingsDialog(LibraryController* controller, QWidget* parent)
    : QDialog(parent), m_controller(controller)
{
    setWindowTitle(tr("Settings"));
    auto* layout = new QVBoxLayout(this);
    m_tabs = new QTabWidget(this);
    m_tabs->addTab(createModelTab(), tr("Model"));
    m_tabs->addTab(createEngineTab(), tr("Engine"));
    m_tabs->addTab(createSamplingTab(), tr("Answers"));
    layout->addWidget(m_tabs);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &SettingsDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &SettingsDialog::reject);
    layout->addWidget(buttons);
    resize(560, 520);

    const QSettings settings;
    m_tokenizer->setText(settings.value(QStringLiteral("model/tokenizer"),
                                        QStringLiteral("world")).toString());
    const QString model = settings.value(QStringLiteral("model/path")).toString();
    if (!model.isEmpty())
        showModel(model);
    else
        showDefaultModel();
}

void SettingsDialog::showDefaultModel()
{
    // Shown, not chosen: OK saves no model, so a later installation's demo model still applies.
    const QString demo = DemoResources::demoModelPath();
    if (!QFileInfo(demo).isFile() || !describeModel(demo))
        return;
    m_modelPath->clear();
    m_modelPath->setPlaceholderText(QDir::toNativeSeparators(demo));
    m_modelStatus->setText(tr("Default model (bundled): %1").arg(m_modelName));
}

QWidget* SettingsDialog::createModelTab()
{
    auto* page = new QWidget(this);
    auto* layout = new QVBoxLayout(page);
    auto* form = new QFormLayout;
    auto* pathRow = new QHBoxLayout;
    m_modelPath = new QLineEdit(page);
    m_modelPath->setAccessibleName(tr("Model file"));
    m_modelPath->setReadOnly(true);
    auto* browse = new QPushButton(tr("Add Model File…"), page);
    connect(browse, &QPushButton::clicked, this, &SettingsDialog::browseModel);
    pathRow->addWidget(m_modelPath, 1);
    pathRow->addWidget(browse);
    form->addRow(tr("Model:"), pathRow);
    auto* tokRow = new QHBoxLayout;
    m_tokenizer = new QLineEdit(page);
    m_tokenizer->setAccessibleName(tr("Tokenizer"));
    m_tokenizer->setToolTip(tr("“world” for the RWKV World vocabulary, or a vocabulary .txt or "
                               "SentencePiece .model file"));
    auto* browseTok = new QPushButton(tr("Choose…"), page);
    connect(browseTok, &QPushButton::clicked, this, &SettingsDialog::browseTokenizer);
    tokRow->addWidget(m_tokenizer, 1);
    tokRow->addWidget(browseTok);
    form->addRow(tr("Tokenizer:"), tokRow);
    layout->addLayout(form);

    m_modelStatus = new QLabel(tr("No model chosen."), page);
    m_modelStatus->setObjectName(QStringLiteral("modelStatus"));
    m_modelStatus->setWordWrap(true);
    layout->addWidget(m_modelStatus);
    auto* fieldsBox = new QGroupBox(tr("Configuration"), page);
    m_modelFields = new QFormLayout(fieldsBox);
    layout->addWidget(fieldsBox, 1);

    auto* download = new QGroupBox(tr("Download a model"), page);
    auto* dl = new QFormLayout(download);
    m_url = new QLineEdit(download);
    m_url->setAccessibleName(tr("Download address"));
    m_url->setPlaceholderText(tr("https://…/model.safetensors"));
    m_sha256 = new QLineEdit(download);
    m_sha256->setAccessibleName(tr("Expected SHA-256"));
    m_sha256->setPlaceholderText(tr("optional: 64 hexadecimal digits"));
    m_download = new QPushButton(tr("Download"), download);
    m_download->setObjectName(QStringLiteral("downloadButton"));
    m_progress = new QProgressBar(download);
    m_progress->setAccessibleName(tr("Download progress"));
    m_progress->setValue(0);
    m_downloadStatus = new QLabel(download);
    m_downloadStatus->setObjectName(QStringLiteral("downloadStatus"));
    m_downloadStatus->setAccessibleName(tr("Download status"));
    m_downloadStatus->setWordWrap(true);
    auto* dlRow = new QHBoxLayout;
    dlRow->addWidget(m_progress, 1);
    dlRow->addWidget(m_download);
    dl->addRow(tr("Address:"), m_url);
    dl->addRow(tr("SHA-256:"), m_sha256);
    dl->addRow(dlRow);
    dl->addRow(m_downloadStatus);
    layout->addWidget(download);

    m_downloader = new ModelDownloader(this);
    connect(m_download, &QPushButton::clicked, this, [this] {
        if (m_downloader->isRunning()) {
            m_downloader->cancel();
            m_download->setText(tr("Resume"));
            m_downloadStatus->setText(tr("Paused; Resume continues where it stopped."));
        } else {
            startDownload();
        }
    });
    connect(m_downloader, &ModelDownloader::progress, this, [this](qint64 got, qint64 total) {
        m_progress->setRange(0, total > 0 ? 1000 : 0);
        if (total > 0)
            m_progress->setValue(int(got * 1000 / total));
        m_downloadStatus->setText(tr("%1 of %2").arg(QLocale().formattedDataSize(got),
                                                     total > 0 ? QLocale().formattedDataSize(total)
                                                               : tr("unknown size")));
    });
    connect(m_downloader, &ModelDownloader::verifying, this,
            [this] { m_downloadStatus->setText(tr("Checking the file…")); });
    connect(m_downloader, &ModelDownloader::finished, this,
            [this](const QString& path, const QString& sha) {
                m_download->setText(tr("Download"));
                m_progress->setRange(0, 1000);
                m_progress->setValue(1000);
                m_downloadStatus->setText(tr("Downloaded. SHA-256: %1").arg(sha));
                showModel(path);
            });
    connect(m_downloader, &ModelDownloader::failed, this,
            [this](const QString& message, bool canResume) {
                m_download->setText(canResume ? tr("Resume") : tr("Download"));
                m_downloadStatus->setText(message);
            });
    return page;
}

QWidget* SettingsDialog::createEngineTab()
{
    auto* page = new QWidget(this);
    auto* form = new QFormLayout(page);
    const EngineSettings engine = m_controller->engineSettings();
    const auto caps = EngineController::capabilities();
    m_threads = new QSpinBox(page);
    m_threads->setRange(0, qMax(1, caps.hardwareThreads));
    m_threads->setSpecialValueText(tr("All (%1)").arg(caps.hardwareThreads));
    m_threads->setValue(engine.threads);
    m_threads->setAccessibleName(tr("Threads"));
    m_memory = new QSpinBox(page);
    m_memory->setRange(64, 1024 * 1024);
    m_memory->setSingleStep(256);
    m_memory->setSuffix(tr(" MiB"));
    m_memory->setValue(int(engine.ramBudgetBytes >> 20));
    m_memory->setAccessibleName(tr("Memory budget"));
    m_memory->setToolTip(tr("Memory kept for the document's attention cache while answering"));
    m_backend = new QComboBox(page);
    m_backend->setAccessibleName(tr("Backend"));
    m_backend->addItem(tr("CPU"), false);
    m_backend->addItem(caps.cuda ? tr("NVIDIA CUDA") : tr("NVIDIA CUDA (not available here)"),
                       true);
    m_backend->setItemData(1, caps.cudaNote, Qt::ToolTipRole);  // which GPU, or why not
    if (!caps.cuda) {
        m_backend->setItemData(1, 0, Qt::UserRole - 1);  // disables the item
    }
    m_backend->setCurrentIndex(engine.useCuda && caps.cuda ? 1 : 0);
    // A cap for a GPU shared with other programs: the weights, then as much of the documents'
    // attention cache as fits (the rest is read from memory and disk as it is needed).
    m_gpuMemory = new QSpinBox(page);
    m_gpuMemory->setRange(0, 1024 * 1024);
    m_gpuMemory->setSingleStep(1024);
    m_gpuMemory->setSuffix(tr(" MiB"));
    m_gpuMemory->setSpecialValueText(tr("Automatic (most of the free memory)"));
    m_gpuMemory->setValue(int(engine.gpuMemoryBytes >> 20));
    m_gpuMemory->setAccessibleName(tr("GPU memory"));
    m_gpuMemory->setToolTip(tr("GPU memory the model and the documents' attention cache may use"));
    const auto gpuChosen = [this] { m_gpuMemory->setEnabled(m_backend->currentData().toBool()); };
    connect(m_backend, &QComboBox::currentIndexChanged, this, gpuChosen);
    gpuChosen();
    form->addRow(tr("Threads:"), m_threads);
    form->addRow(tr("Memory budget:"), m_memory);
    form->addRow(tr("Backend:"), m_backend);
    form->addRow(tr("GPU memory:"), m_gpuMemory);
    return page;
}

QWidget* SettingsDialog::createSamplingTab()
{
    auto* page = new QWidget(this);
    auto* form = new QFormLayout(page);
    const SamplingSettings s = m_controller->samplingSettings();
    auto spin = [page](double min, double max, double step, double value, const QString& name) {
        auto* box = new QDoubleSpinBox(page);
        box->setRange(min, max);
        box->setSingleStep(step);
        box->setDecimals(2);
        box->setValue(value);
        box->setAccessibleName(name);
        return box;
    };
    m_temperature = spin(0, 5, 0.1, s.temperature, tr("Temperature"));
    m_temperature->setToolTip(tr("0 always picks the likeliest word (repeatable answers)"));
    m_topP = spin(0, 1, 0.05, s.topP, tr("Top-p"));
    m_presence = spin(0, 5, 0.1, s.presencePenalty, tr("Presence penalty"));
    m_frequency = spin(0, 5, 0.1, s.frequencyPenalty, tr("Frequency penalty"));
    m_topK = new QSpinBox(page);
    m_topK->setRange(0, 1000);
    m_topK->setSpecialValueText(tr("Off"));
    m_topK->setAccessibleName(tr("Top-k"));
    m_topK->setValue(s.topK);
    m_seed = new QSpinBox(page);
    m_seed->setRange(0, std::numeric_limits<int>::max());
    m_seed->setSpecialValueText(tr("Random"));
    m_seed->setAccessibleName(tr("Seed"));
    m_seed->setValue(int(qMin<quint64>(s.seed, std::numeric_limits<int>::max())));
    m_maxTokens = new QSpinBox(page);
    m_maxTokens->setRange(1, 32768);
    m_maxTokens->setValue(s.maxTokens);
    m_maxTokens->setAccessibleName(tr("Longest answer"));
    form->addRow(tr("Temperature:"), m_temperature);
    form->addRow(tr("Top-p:"), m_topP);
    form->addRow(tr("Top-k:"), m_topK);
    form->addRow(tr("Presence penalty:"), m_presence);
    form->addRow(tr("Frequency penalty:"), m_frequency);
    form->addRow(tr("Seed:"), m_seed);
    form->addRow(tr("Longest answer (tokens):"), m_maxTokens);
    return page;
}

bool SettingsDialog::showModel(const QString& path)
{
    if (!describeModel(path))
        return false;
    m_modelPath->setText(path);
    m_modelStatus->setText(tr("Model: %1").arg(m_modelName));
    return true;
}

bool SettingsDialog::describeModel(const QString& path)
{
    auto info = ModelInfo::load(path);
    const auto card = info ? ModelCard::forModel(path)
                           : lectern::Result<std::optional<ModelCard>>(info.error());
    if (!info || !card) {
        m_modelStatus->setText(tr("This model cannot be used: %1")
                                   .arg(QString::fromStdString(info ? card.error().message
                                                                    : info.error().message)));
        return false;
    }
    while (m_modelFields->rowCount() > 0)
        m_modelFields->removeRow(0);
    for (const auto& [key, value] : info->fields()) {
        const QString text = value.isDouble() ? QLocale().toString(Ingest::jsonInteger(value))
                             : value.isBool() ? (value.toBool() ? tr("yes") : tr("no"))
                                              : value.toString();
        auto* field = new QLabel(text);
        field->setObjectName(QStringLiteral("field_") + key);
        field->setTextInteractionFlags(Qt::TextSelectableByMouse);
        m_modelFields->addRow(key + QLatin1Char(':'), field);
    }
    m_modelName = QFileInfo(path).fileName();
    if (*card) {
        // The card decides how documents are read with this model (LibraryController).
        const ModelCard& c = **card;
        m_modelName = c.name;
        const QString tokenizer = c.tokenizerSpec == QLatin1String("world")
                                      ? c.tokenizerSpec
                                      : QFileInfo(c.tokenizerSpec).fileName();
        auto* field = new QLabel(tr("%1: tokenizer %2, chunk size %3, top-k %4")
                                     .arg(c.name, tokenizer)
                                     .arg(c.chunkSize)
                                     .arg(c.topK));
        field->setObjectName(QStringLiteral("field_card"));
        field->setWordWrap(true);
        field->setToolTip(tr("Documents are read with these settings from %1")
                              .arg(QDir::toNativeSeparators(c.cardPath)));
        m_modelFields->insertRow(0, tr("model card:"), field);
    }
    return true;
}

QString SettingsDialog::modelPath() const { return m_modelPath->text(); }
QString SettingsDialog::tokenizer() const { return m_tokenizer->text().trimmed(); }

void SettingsDialog::browseModel()
{
    QSettings settings;
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Add Model File"), settings.value(QStringLiteral("paths/lastModelDir")).toString(),
        tr("Model checkpoints (*.pth *.safetensors);;All files (*)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/lastModelDir"), QFileInfo(path).absolutePath());
    showModel(path);
}

void SettingsDialog::browseTokenizer()
{
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Choose Tokenizer"), QFileInfo(m_modelPath->text()).absolutePath(),
        tr("Tokenizers (*.txt *.model);;All files (*)"));
    if (!path.isEmpty())
        m_tokenizer->setText(path);
}

void SettingsDialog::startDownload()
{
    const QUrl url = QUrl::fromUserInput(m_url->text().trimmed());
    if (!url.isValid() || url.fileName().isEmpty()) {
        m_downloadStatus->setText(tr("Enter the address of a model file."));
        return;
    }
    const QString dir =
        QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) +
        QStringLiteral("/models");
    QDir().mkpath(dir);
    m_downloader->start(url, QDir(dir).filePath(url.fileName()), m_sha256->text().trimmed());
    m_download->setText(tr("Pause"));
    m_downloadStatus->setText(tr("Connecting…"));
}

void SettingsDialog::accept()
{
    QSettings settings;
    if (!m_modelPath->text().isEmpty())
        settings.setValue(QStringLiteral("model/path"), m_modelPath->text());
    settings.setValue(QStringLiteral("model/tokenizer"),
                      tokenizer().isEmpty() ? QStringLiteral("world") : tokenizer());
    EngineSettings engine = m_controller->engineSettings();
    engine.threads = m_threads->value();
    engine.ramBudgetBytes = qint64(m_memory->value()) << 20;
    engine.useCuda = m_backend->currentData().toBool();
    engine.gpuMemoryBytes = qint64(m_gpuMemory->value()) << 20;
    m_controller->setEngineSettings(engine);
    SamplingSettings s = m_controller->samplingSettings();
    s.temperature = m_temperature->value();
    s.topP = m_topP->value();
    s.topK = m_topK->value();
    s.presencePenalty = m_presence->value();
    s.frequencyPenalty = m_frequency->value();
    s.seed = quint64(m_seed->value());
    s.maxTokens = m_maxTokens->value();
    m_controller->setSamplingSettings(s);
    QDialog::accept();
}
