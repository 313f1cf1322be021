// MainWindow: opening the bundled sample document, and documents named on the command line, once.
#include <QFileInfo>

#include "library.h"
#include "librarycontroller.h"
#include "librarypanel.h"
#include "mainwindow.h"
#include "modelcard.h"

bool MainWindow::openSampleDocument()
{
    const QString sample = DemoResources::sampleDocumentPath();
    if (sample.isEmpty()) {
        showError(tr("The sample document is not installed."));
        return false;
    }
    return openDocumentOnce(sample);
}

bool MainWindow::openDocumentOnce(const QString& file)
{
    const QString path = QFileInfo(file).absoluteFilePath();
    const QList<DocumentRecord> documents = m_controller->library()->documents();
    for (const DocumentRecord& d : documents) {
        if (d.path == path && d.modelPath == m_modelPath && d.state != DocumentState::Failed) {
            m_library->selectDocument(d.id);
            if (d.state != DocumentState::Ready && !m_controller->isReading(d.id))
                m_controller->resumeReading(d.id);
            return true;
        }
    }
    return openPath(path);
}
