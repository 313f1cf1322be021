// BackendLabel: the status bar's "CPU" / "GPU" field. Its tooltip says which GPU (or why none can
// run the model here) and, after a reading or an answer on the GPU, where the document's KV rows
// sat (all on the GPU, or paged from RAM and disk), so a user can tell why a large document reads
// slower than a small one.
#pragma once

#include <QLabel>

class LibraryController;

class BackendLabel : public QLabel {
    Q_OBJECT

public:
    explicit BackendLabel(LibraryController* controller, QWidget* parent = nullptr);

    // Reads the engine settings again (after Settings changed the backend).
    void refresh();

private:
    void takeDeviceNote(const QString& note);

    LibraryController* m_controller;
    QString m_deviceNote;  // the last reading's or answer's, on the GPU
};
