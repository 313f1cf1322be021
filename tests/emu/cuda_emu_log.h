// The emulator's record of kernel launches (grid and block sizes), readable without the rest of
// cuda_emu.h (whose macros, threadIdx and friends, must stay out of ordinary C++ files). A test
// uses it to assert which kernel a launcher dispatched to, so that a case meant to cover one path
// notices when a changed dispatch rule sends it down another.
#pragma once

#include <vector>

namespace emu {

struct LaunchRecord {
    unsigned grid_x, grid_y, block_x;
};

// Every launch since the program started (or the test last cleared it), oldest first.
inline std::vector<LaunchRecord>& launch_log() {
    static std::vector<LaunchRecord> log;
    return log;
}

}  // namespace emu
