// The answer parsers of the in-context experiments on any completion text: the strict parser gives
// one of the offered letters or "" (a failure); the reference chain gives "" or one upper-case letter
// (any script's: its last rule is Python's isupper()).
#include <algorithm>

#include "fuzz_target.h"
#include "w2s/icl.h"

W2S_FUZZ_TARGET(answer_parser) {
  for (const std::vector<std::string>& letters :
       {std::vector<std::string>{"A", "B"}, std::vector<std::string>{"A", "B", "C", "D"},
        std::vector<std::string>{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M"}}) {
    const std::string strict = w2s::icl::parse_answer_strict(input, letters);
    W2S_FUZZ_CHECK(strict.empty() || std::find(letters.begin(), letters.end(), strict) != letters.end());
  }
  const std::string reference = w2s::icl::parse_answer_reference(input);
  W2S_FUZZ_CHECK(reference.size() <= 4);  // one UTF-8 character
  W2S_FUZZ_CHECK(reference.size() != 1 || (reference[0] >= 'A' && reference[0] <= 'Z'));
}
