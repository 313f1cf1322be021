// Model placeholder (replaced by weight preparation).
#include "lectern/inference.h"

namespace lectern {

struct Model::Impl {
    ModelConfig config;
    RuntimeOptions runtime;
};

Model::Model(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Model::~Model() = default;
const ModelConfig& Model::config() const { return m_impl->config; }
const RuntimeOptions& Model::runtime() const { return m_impl->runtime; }

Result<std::shared_ptr<const Model>> Model::load(const std::string&, const RuntimeOptions&) {
    return make_error("inference is not implemented yet");
}

}  // namespace lectern
