// State placeholder (replaced by the recurrent state + KV cache implementation).
#include "lectern/inference.h"

namespace lectern {

struct State::Impl {
    std::shared_ptr<const Model> model;
    AttentionOptions attention;
    std::int64_t position = 0;
};

State::State(std::shared_ptr<const Model> model, const AttentionOptions& attention)
    : m_impl(std::make_unique<Impl>(Impl{std::move(model), attention, 0})) {}
State::State(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
State::State(State&&) noexcept = default;
State& State::operator=(State&&) noexcept = default;
State::~State() = default;

State State::fork() const { return State(std::make_unique<Impl>(*m_impl)); }
std::int64_t State::position() const { return m_impl->position; }
const AttentionOptions& State::attention() const { return m_impl->attention; }
const Model& State::model() const { return *m_impl->model; }
std::vector<std::byte> State::serialize() const { return {}; }
Result<State> State::deserialize(std::shared_ptr<const Model>, std::span<const std::byte>) {
    return make_error("state serialization is not implemented yet");
}

}  // namespace lectern
