// Preferences: the model (a local file, else the bundled demo model shown as the default; its
// validated configuration from ModelInfo and its model card, its tokenizer, or a download from a
// URL with progress and SHA-256 check), the engine (threads, memory budget, backend: CUDA offered
// only when EngineController::capabilities() has it) and the sampling defaults. OK applies them
// through LibraryController and QSettings.
#pragma once

#include <QDialog>

class LibraryController;
class ModelDownloader;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;

class SettingsDialog : public QDialog
{
    Q_OBJECT

public:
    explicit SettingsDialog(LibraryController* controller, QWidget* parent = nullptr);

    // Validate a model file and show its configuration; false (with the reason shown) if unusable.
    bool showModel(const QString& path);
    // The chosen model; empty when none was chosen (the bundled default is then only shown).
    QString modelPath() const;
    QString tokenizer() const;
    QTabWidget* tabs() const { return m_tabs; }

public Q_SLOTS:
    void accept() override;

private:
    QWidget* createModelTab();
    QWidget* createEngineTab();
    QWidget* createSamplingTab();
    void showDefaultModel();
    // Fill the fields (and the model card's settings) or show why the model cannot be used.
    bool describeModel(const QString& path);
    void browseModel();
    void browseTokenizer();
    void startDownload();

    LibraryController* m_controller;
    QTabWidget* m_tabs = nullptr;
    QLineEdit* m_modelPath = nullptr;
    QLineEdit* m_tokenizer = nullptr;
    QLabel* m_modelStatus = nullptr;
    QString m_modelName;  // the card's name, else the file name
    QFormLayout* m_modelFields = nullptr;
    QLineEdit* m_url = nullptr;
    QLineEdit* m_sha256 = nullptr;
    QPushButton* m_download = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_downloadStatus = nullptr;
    ModelDownloader* m_downloader = nullptr;
    QSpinBox* m_threads = nullptr;
    QSpinBox* m_memory = nullptr;
    QComboBox* m_backend = nullptr;
    QSpinBox* m_gpuMemory = nullptr;
    QDoubleSpinBox* m_temperature = nullptr;
    QDoubleSpinBox* m_topP = nullptr;
    QSpinBox* m_topK = nullptr;
    QDoubleSpinBox* m_presence = nullptr;
    QDoubleSpinBox* m_frequency = nullptr;
    QSpinBox* m_seed = nullptr;
    QSpinBox* m_maxTokens = nullptr;
};
