#include <gtest/gtest.h>

#include <fstream>

#include "assets.h"
#include "w2s/icl.h"

using w2s::icl::parse_answer_reference;
using w2s::icl::parse_answer_strict;

namespace {

struct Vector {
  const char* input;
  const char* reference;  // docs/reference-behaviour.md §7
  const char* strict;     // letters A-D
};

// All 27 vectors of the reference parser (docs/reference-behaviour.md §7), with what the strict parser makes of them.
const Vector kVectors[] = {
    {"C", "C", "C"},
    {"  B\n", "B", "B"},
    {"A) is the correct answer", "A", "A"},
    {"The answer is B", "B", "B"},
    {"I think C", "I", ""},
    {"Answer: D", "D", "D"},
    {"Answer: The correct option is B", "T", ""},
    {"I cannot answer that.", "I", ""},
    {"The correct answer is (C)", "C", "C"},
    {"**B**", "B", "B"},
    {"b", "", ""},
    {"my answer: a", "", ""},
    {"(D) Nothing happens", "D", "D"},
    {"B.", "B", "B"},
    {"Nothing in particular happens, so D) is right", "D", ""},
    {"answer:B", "B", "B"},
    {"The answer isB", "B", "B"},
    {"ANSWER IS C", "I", "C"},
    {"The best answer:\nA", "A", "A"},
    {"Yes, that's right.", "Y", ""},
    {"", "", ""},
    {"The choice is D.", "T", ""},
    {"d) ok", "", ""},
    {"\xC3\x89lan", "\xC3\x89", ""},
    {"1", "", ""},
    {"The answer is: not sure", "T", ""},
    {"I'd say B)", "B", ""},
};

const std::vector<std::string> kAbcd{"A", "B", "C", "D"};

}  // namespace

TEST(ReferenceParser, SpecVectors) {
  for (const auto& v : kVectors) EXPECT_EQ(parse_answer_reference(v.input), v.reference) << "input: " << v.input;
}

TEST(StrictParser, SpecVectors) {
  for (const auto& v : kVectors) EXPECT_EQ(parse_answer_strict(v.input, kAbcd), v.strict) << "input: " << v.input;
}

TEST(StrictParser, AcceptedForms) {
  for (const char* s : {"C", "C)", "C.", "C:", "(C)", "**C**", "*C*", "`C`", "**C)**", "Answer: C", "answer: (C)",
                        "Final answer: C", "The correct answer is C.", "C) Astrological signs are not correlated.",
                        "C\n\nBecause astrology has no evidence.", "  C  ", "The answer is C because of that",
                        "**Answer:** C", "**Answer**: C"})
    EXPECT_EQ(parse_answer_strict(s, kAbcd), "C") << s;
}

TEST(StrictParser, RejectedForms) {
  // Not an option of the item, ambiguous prose, lower case, refusals.
  for (const char* s : {"E", "E)", "The answer is E", "A lot of people think so", "C D", "c", "I don't know",
                        "Astrology: C", "C or D", "None of the above", "CD"})
    EXPECT_EQ(parse_answer_strict(s, kAbcd), "") << s;
  EXPECT_EQ(parse_answer_strict("B", {"A", "B"}), "B");
  EXPECT_EQ(parse_answer_strict("C", {"A", "B"}), "");
}

TEST(ReferenceParser, ArtefactsOfTheReferenceRuns) {
  // Refusals and prose the reference turned into I / N / T / H.
  EXPECT_EQ(parse_answer_reference("I'm not able to determine that."), "I");
  EXPECT_EQ(parse_answer_reference("None of these options is correct."), "N");
  EXPECT_EQ(parse_answer_reference("There is no scientific evidence."), "T");
  EXPECT_EQ(parse_answer_reference("However, I should note..."), "H");
  for (const char* s : {"I'm not able to determine that.", "None of these options is correct.",
                        "There is no scientific evidence.", "However, I should note..."})
    EXPECT_EQ(parse_answer_strict(s, kAbcd), "") << s;
}

TEST(ReferenceParser, UnicodeWhitespaceAndInvalidBytes) {
  // U+3000 IDEOGRAPHIC SPACE and U+001C are Python whitespace; U+200B is not.
  EXPECT_EQ(parse_answer_reference("\xE3\x80\x80" "B\xE3\x80\x80"), "B");
  EXPECT_EQ(parse_answer_reference("\x1c" "C\x1f"), "C");
  EXPECT_EQ(parse_answer_reference("Answer:\xE3\x80\x80" "D"), "D");
  // Invalid UTF-8 is read as U+FFFD, which is no capital letter.
  EXPECT_EQ(parse_answer_reference("\xFF\xFE b"), "");
  EXPECT_EQ(parse_answer_reference("\xFF" "A)"), "A");
}

// Runs the reference function in CPython on many inputs and compares every output.
TEST(ReferenceParser, MatchesCPythonOnGeneratedInputs) {
  std::vector<std::string> inputs;
  for (const auto& v : kVectors) inputs.push_back(v.input);
  const std::vector<std::string> pieces{
      "A", "B", "C", "D", "Z", "a", "b", ")", "(", ".", ":", " ", "\n", "\t", "\xC2\xA0", "\xE3\x80\x80", "\x1c",
      "answer", "Answer", "ANSWER", " is", "is", "The", "I", "\xC3\x89", "\xC3\xA9", "\xCE\xA9", "_", "1", "\xD9\xA3",
      "**", "so", "\xE2\x80\x8B", "\xE2\x85\xA0", "\xEF\xBC\xA1"};
  std::uint64_t state = 12345;
  auto next = [&]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>(state >> 33);
  };
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const std::size_t len = next() % 7;
    for (std::size_t k = 0; k < len; ++k) s += pieces[next() % pieces.size()];
    inputs.push_back(s);
  }
  const auto dir = w2s::test::scratch_dir("icl_parser_cpython");
  w2s::json::Value arr = w2s::json::Value::array();
  for (const auto& s : inputs) arr.push_back(s);
  w2s::write_file_atomic(dir / "inputs.json", w2s::json::dump(arr));
  // extract_answer_letter exactly as in the reference (code/ of RoyRin/astra-worktest).
  const char* script = R"PY(
import json, re, sys
def extract_answer_letter(response):
    response = response.strip()
    m = re.search(r'(?:answer|Answer|ANSWER)(?:\s+is)?(?:\s*:)?\s*([A-Z])', response)
    if m: return m.group(1)
    m = re.search(r'^([A-Z])(?:\)|\.|\s|$)', response)
    if m: return m.group(1)
    m = re.search(r'\b([A-Z])\)(?:\s|$)', response)
    if m: return m.group(1)
    if len(response) == 1 and response.isalpha() and response.isupper(): return response
    for ch in response:
        if ch.isupper() and ch.isalpha(): return ch
    return ""
inputs = json.load(open(sys.argv[1], encoding="utf-8"))
json.dump([extract_answer_letter(s) for s in inputs], open(sys.argv[2], "w", encoding="utf-8"))
)PY";
  w2s::write_file_atomic(dir / "ref.py", script);
  std::string out;
  ASSERT_EQ(w2s::test::run_command("python3 " + (dir / "ref.py").string() + " " + (dir / "inputs.json").string() +
                                       " " + (dir / "expected.json").string(),
                                   &out),
            0)
      << out;
  const auto expected = w2s::json::parse_file(dir / "expected.json");
  ASSERT_EQ(expected.size(), inputs.size());
  int mismatches = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (parse_answer_reference(inputs[i]) != expected.at(i).as_string() && ++mismatches < 10)
      ADD_FAILURE() << "input " << w2s::json::dump(w2s::json::Value(inputs[i])) << ": C++ "
                    << parse_answer_reference(inputs[i]) << ", CPython " << expected.at(i).as_string();
  EXPECT_EQ(mismatches, 0);
}
