// Result records (docs/result-schema.md) as w2s analyze reads them from disk: schema validation,
// then the typed record; a record that reads is written back and reads again to the same JSON.
#include "fuzz_target.h"
#include "w2s/core.h"
#include "w2s/results.h"

W2S_FUZZ_TARGET(result_record) {
  const w2s::json::Value doc = w2s::json::parse(input);
  w2s::results::validate(doc);
  const w2s::results::ResultRecord record = w2s::results::from_json(doc, "fuzz.json");
  const w2s::json::Value written = w2s::results::to_json(record);
  W2S_FUZZ_CHECK(w2s::results::to_json(w2s::results::from_json(written, "written.json")) == written);
}
