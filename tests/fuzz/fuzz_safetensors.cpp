// safetensors files (weights downloaded from anyone): the header's JSON, dtypes, shapes and offsets
// against the file; every byte of every tensor handed out lies inside the mapping.
#include "fuzz_target.h"
#include "w2s/model.h"

W2S_FUZZ_TARGET(safetensors) {
  const w2s::model::SafetensorsFile file(w2s::fuzz::input_file(input, "model.safetensors"));
  std::size_t sum = 0;
  for (const auto& t : file.tensors()) {
    std::size_t elements = 1;
    for (auto d : t.shape) elements *= static_cast<std::size_t>(d);
    W2S_FUZZ_CHECK(elements * w2s::model::dtype_size(t.dtype) == t.nbytes);
    for (std::size_t b = 0; b < t.nbytes; ++b) sum += static_cast<unsigned char>(t.data[b]);  // ASan sees overreads
    W2S_FUZZ_CHECK(file.find(t.name) != nullptr);
  }
  (void)sum;
}
