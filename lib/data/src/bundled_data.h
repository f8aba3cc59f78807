// Dataset files built into the w2s binary (bundled_data.cpp): the main job's SST-2 subset, the
// files of data/sst2-demo/ in the repository, byte for byte.
#pragma once

#include <string_view>

namespace w2s::data::detail {

std::string_view bundled_sst2_demo_train();  // data/sst2-demo/train.tsv
std::string_view bundled_sst2_demo_dev();    // data/sst2-demo/dev.tsv

}  // namespace w2s::data::detail
