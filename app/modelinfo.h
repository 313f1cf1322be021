// A model file's validated architecture as ordered fields, for `lectern-cli inspect` and the
// model dialog: loading goes through the engine's checkpoint reader and config inference.
#pragma once

#include <QJsonObject>
#include <QJsonValue>
#include <QList>
#include <QString>

#include <utility>

#include "lectern/result.h"

class ModelInfo
{
public:
    // Open, validate every tensor and describe; the error is the engine's one-line message.
    static lectern::Result<ModelInfo> load(const QString& path);

    // Fields in a stable order: format, arch, n_rwkv, n_attn, n_embd, n_head, head_size, vocab,
    // ffn_dim, lora_*, block_order, dtype, mixed_dtype, params, tensors, file_size.
    const QList<std::pair<QString, QJsonValue>>& fields() const { return m_fields; }
    QJsonValue value(const QString& key) const;

    QJsonObject toJson() const;
    // One "key: value" line per field.
    QString toText() const;

private:
    QList<std::pair<QString, QJsonValue>> m_fields;
};
