// config.json of a Hugging Face model: the architecture's own fields and every size, then the
// parameter count computed from them.
#include "fuzz_target.h"
#include "w2s/core.h"
#include "w2s/model.h"

W2S_FUZZ_TARGET(model_config) {
  const w2s::model::ModelConfig config = w2s::model::parse_model_config(w2s::json::parse(input), "config.json");
  W2S_FUZZ_CHECK(config.vocab_size > 0 && config.hidden_size > 0 && config.num_hidden_layers > 0);
  W2S_FUZZ_CHECK(config.parameter_count() > 0);
  w2s::model::model_config_to_json(config);
}
