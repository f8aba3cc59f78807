// The text formats training datasets come in (lib/data/src/text_files.h): UTF-8 checked files,
// RFC-4180 CSV (quoted fields across lines), GLUE-style TSV and JSONL.
#include "fuzz_target.h"
#include "text_files.h"
#include "w2s/core.h"

namespace detail = w2s::data::detail;

W2S_FUZZ_TARGET(text_files) {
  const auto file = w2s::fuzz::input_file(input, "data-input");
  std::string text;
  try {
    text = detail::read_utf8_file(file);
  } catch (const w2s::Error&) {
    text = std::string(input);  // the parsers below also get text that is not UTF-8
  }
  try {
    for (const auto& record : detail::parse_csv(text, file)) {
      W2S_FUZZ_CHECK(record.line >= 1);
      detail::column_index(record.fields, "label");
    }
  } catch (const w2s::Error&) {
  }
  for (const auto& record : detail::parse_tsv(text)) W2S_FUZZ_CHECK(record.line >= 1 && !record.fields.empty());
  std::size_t last_line = 0;
  detail::for_each_jsonl(file, [&](const w2s::json::Value& value, std::size_t line) {
    W2S_FUZZ_CHECK(line > last_line);
    last_line = line;
    (void)value.is_object();
  });
}
