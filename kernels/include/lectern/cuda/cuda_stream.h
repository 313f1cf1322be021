// The CUDA stream handle for launcher headers, declared without cuda_runtime.h so that plain C++
// code (the engine, the tests) can name it. Same type as cudaStream_t; nullptr is the default stream.
#pragma once

struct CUstream_st;

namespace lectern::cuda {

using cuda_stream = CUstream_st*;

}  // namespace lectern::cuda
