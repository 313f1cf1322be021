// Shared helpers for the model tests: fixture paths, the manifest written by
// tools/make_test_models.py, tensor values as float32, and tiny in-memory safetensors files.
#pragma once

#include <QByteArray>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QString>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lectern/dtype.h"
#include "lectern/model_file.h"

namespace test_util {

inline std::string model_path(const QString& file) {
    return (QStringLiteral(LECTERN_TEST_DATA_DIR "/models/") + file).toStdString();
}

inline std::string broken_path(const QString& file) {
    return (QStringLiteral(LECTERN_TEST_DATA_DIR "/broken/") + file).toStdString();
}

inline QJsonObject manifest() {
    QFile f(QStringLiteral(LECTERN_TEST_DATA_DIR "/models/manifest.json"));
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

inline std::vector<float> values(const lectern::TensorView& t) {
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    lectern::convert_to_f32(t.dtype, t.data, out.data(), out.size());
    return out;
}

inline std::vector<std::int64_t> shape_of(const QJsonArray& a) {
    std::vector<std::int64_t> s;
    for (const auto& v : a) s.push_back(v.toInteger());
    return s;
}

using TensorSpec = std::pair<std::string, std::vector<std::int64_t>>;

// A safetensors file holding zero-filled F32 tensors of the given names and shapes.
inline QByteArray make_safetensors(const std::vector<TensorSpec>& tensors) {
    QByteArray header = "{";
    std::int64_t offset = 0;
    for (const auto& [name, shape] : tensors) {
        std::int64_t n = 4;
        QByteArray dims;
        for (std::int64_t d : shape) {
            n *= d;
            dims += (dims.isEmpty() ? "" : ",") + QByteArray::number(d);
        }
        if (header.size() > 1) header += ',';
        header += "\"" + QByteArray::fromStdString(name) + "\":{\"dtype\":\"F32\",\"shape\":[" +
                  dims + "],\"data_offsets\":[" + QByteArray::number(offset) + "," +
                  QByteArray::number(offset + n) + "]}";
        offset += n;
    }
    header += "}";
    QByteArray out(8, '\0');
    const auto len = static_cast<std::uint64_t>(header.size());
    for (int i = 0; i < 8; ++i) out[i] = char((len >> (8 * i)) & 0xff);
    return out + header + QByteArray(offset, '\0');
}

}  // namespace test_util
