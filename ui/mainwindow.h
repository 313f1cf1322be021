// The main window: for now the model panel (add a checkpoint, see its validated architecture).
// The library, reader and conversation panes join it with the later issues.
#pragma once

#include <QMainWindow>

class QFormLayout;
class QLabel;

class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);

    // Validate and show a model file; returns false (and shows why) when it cannot be used.
    bool openModel(const QString& path);
    QString modelPath() const { return m_modelPath; }

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void createMenus();
    void chooseModel();
    void showAbout();
    void clearModelFields();

    QLabel* m_status = nullptr;
    QFormLayout* m_modelFields = nullptr;
    QString m_modelPath;
};
