// The seam between the engine and a GPU backend library (kernels/model/ for CUDA). The engine
// cannot link the CUDA code (that library links the engine), so the GPU side registers a
// DeviceBackend at startup (lectern::register_cuda_backend(), called by the app) and the engine
// reaches it only through these virtual interfaces. Private to the engine and that library.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lectern/backend.h"
#include "lectern/inference.h"

namespace lectern {

struct RecurrentState;

// Per-State device data (recurrent state, KV mirror); owned by State::Impl, made by DeviceModel.
class DeviceState {
public:
    virtual ~DeviceState() = default;
    // Copy the device's recurrent state into `out` (shapes as RecurrentState::zeros).
    virtual Result<void> download(RecurrentState& out) = 0;
    // A copy on the device for a forked State (State::fork, under the model's mutex), equal to
    // this one; null when the backend cannot make one cheaply here (the fork then starts on the
    // host and uploads on its first call, as before).
    virtual std::unique_ptr<DeviceState> fork() const { return nullptr; }
    // Where this state's data sits on the device, in words (device_memory_note).
    virtual std::string memory_note() const { return {}; }
};

// A model's weights on the device and the forward pass there. One call at a time (the engine
// holds Model::Impl::mutex around every use).
class DeviceModel {
public:
    virtual ~DeviceModel() = default;
    // "NVIDIA H100 80GB HBM3, 1.2 GiB of weights, ..." (device_model_note).
    virtual std::string describe() const = 0;
    // Run one validated forward call on the device (State::Impl::device_forward documents the
    // contract: on success the device state is authoritative; on failure the recurrent state is
    // unchanged). `trace`, when given, already has room for the call's rows (grow_trace,
    // infer/forward_trace.h); the device fills those of its attention blocks (record_trace).
    // Make the state's device copy now, as a call of `next_tokens` tokens would (lectern::warm_up).
    virtual Result<void> warm_up(State::Impl& s, int next_tokens) = 0;
    virtual Result<void> forward(State::Impl& s, std::span<const token_id> tokens, bool all_rows,
                                 std::vector<float>& logits, ForwardTrace* trace) = 0;
    // The device context is gone (lectern::gpu_lost).
    virtual bool lost() { return false; }
};

// What a GPU library registers.
struct DeviceBackend {
    Backend backend = Backend::cuda;
    // Can this machine run it? The value is the device's name; the error says why not.
    Result<std::string> (*probe)() = nullptr;
    // Upload a loaded model's weights (Model::Impl is complete: weights, config, runtime).
    Result<std::unique_ptr<DeviceModel>> (*load)(const Model::Impl& model) = nullptr;
};

void register_device_backend(const DeviceBackend& backend);
const DeviceBackend* registered_device_backend(Backend backend);  // null when none

}  // namespace lectern
