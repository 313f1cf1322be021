// Describing a model checkpoint through the engine's reader and architecture inference.
#include "modelinfo.h"

#include <QFile>

#include "enginepath.h"
#include "jsonnumber.h"
#include "lectern/model_config.h"
#include "lectern/model_file.h"

namespace {

QString toQString(std::string_view s)
{
    return QString::fromUtf8(s.data(), qsizetype(s.size()));
}

QString valueText(const QJsonValue& v)
{
    if (v.isBool())
        return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    if (v.isDouble())
        return QString::number(Ingest::jsonInteger(v));
    return v.toString();
}

}  // namespace

lectern::Result<ModelInfo> ModelInfo::load(const QString& path)
{
    auto file = lectern::ModelFile::open(enginePath(path));
    if (!file)
        return file.error();
    auto config = lectern::infer_model_config(*file);
    if (!config)
        return config.error();
    const lectern::ModelConfig& c = *config;

    // Counts go into JSON as doubles: exact up to 2^53, far beyond any parameter count.
    auto num = [](std::int64_t v) { return QJsonValue(double(v)); };
    ModelInfo info;
    info.m_fields = {
        {QStringLiteral("format"), toQString(lectern::model_format_name(file->format()))},
        {QStringLiteral("arch"), toQString(lectern::arch_name(c.arch))},
        {QStringLiteral("n_rwkv"), num(c.n_rwkv)},
        {QStringLiteral("n_attn"), num(c.n_attn)},
        {QStringLiteral("n_embd"), num(c.n_embd)},
        {QStringLiteral("n_head"), num(c.n_head)},
        {QStringLiteral("head_size"), num(c.head_size)},
        {QStringLiteral("vocab"), num(c.vocab)},
        {QStringLiteral("ffn_dim"), num(c.ffn_dim)},
        {QStringLiteral("lora_decay"), num(c.lora_decay)},
        {QStringLiteral("lora_iclr"), num(c.lora_iclr)},
        {QStringLiteral("lora_value"), num(c.lora_value)},
        {QStringLiteral("lora_gate"), num(c.lora_gate)},
        {QStringLiteral("block_order"), toQString(c.block_order)},
        {QStringLiteral("dtype"), toQString(lectern::dtype_name(c.dtype))},
        {QStringLiteral("mixed_dtype"), c.mixed_dtype},
        {QStringLiteral("params"), num(c.params)},
        {QStringLiteral("tensors"), num(std::int64_t(file->tensors().size()))},
        {QStringLiteral("file_size"), num(std::int64_t(file->file_size()))},
    };
    return info;
}

QJsonValue ModelInfo::value(const QString& key) const
{
    for (const auto& [k, v] : m_fields) {
        if (k == key)
            return v;
    }
    return {};
}

QJsonObject ModelInfo::toJson() const
{
    QJsonObject object;
    for (const auto& [key, value] : m_fields)
        object.insert(key, value);
    return object;
}

QString ModelInfo::toText() const
{
    QString out;
    for (const auto& [key, value] : m_fields)
        out += key + QStringLiteral(": ") + valueText(value) + QLatin1Char('\n');
    return out;
}
