// `w2s train --weak-labels-from FILE`: an in-context weak model's labels (a `weak-labels` record in
// the format of lib/icl's registry-dataset runs, written here) teach the students of a tiny run.
// The labels land on their example ids, probabilities give soft labels, `w2s analyze` puts the
// run beside in-context records of its labeller, the stage cache keeps students of other labels
// apart, and every bad record is refused before anything trains.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "assets.h"
#include "tiny_run.h"
#include "w2s/data.h"
#include "w2s/results.h"

namespace {

namespace fs = std::filesystem;
using w2s::json::Value;

// The examples of tiny_args' data (the same options), as `w2s train` draws them.
struct TinyData {
  w2s::data::TrainingData data;
  std::vector<w2s::data::TextExample> strong_half;
};

TinyData tiny_data() {
  w2s::data::TrainingDataOptions o;
  o.name = "sst2";
  o.data_dir = (w2s::test::assets_dir() / "data").string();
  o.n_train = 64;
  o.n_val = 20;
  o.n_test = 40;
  o.allow_download = false;
  TinyData t{w2s::data::load_training_data(o), {}};
  t.strong_half = w2s::data::split_weak_strong(t.data.train).strong;
  return t;
}

// The label the test gives an example: deliberately unrelated to gold (the student must see these,
// not the floor's), soft (probabilities) for every other example, a hard letter for the rest.
struct Label {
  std::string letter;
  std::optional<double> p_b;  // probability of "B" (class 1); nullopt: a letter only
};
Label label_for(std::size_t i) {
  if (i % 2 == 0) return {i % 4 == 0 ? "B" : "A", i % 4 == 0 ? 0.8 : 0.3};
  return {i % 3 == 0 ? "B" : "A", std::nullopt};
}
double p1_of(const Label& l) { return l.p_b ? *l.p_b : (l.letter == "B" ? 1.0 : 0.0); }

// A weak-labels record as the in-context side writes it on a registry dataset: ids are the
// training ids, letters A = class 0 and B = class 1, probabilities per letter when scored by
// logprobs. The predictions come in reverse order: labels are matched by id, not position.
w2s::results::ResultRecord weak_labels_record(const TinyData& t, std::map<std::string, Label>& labels) {
  w2s::results::ResultRecord r;
  r.kind = w2s::results::Kind::WeakLabels;
  r.run = "icl";
  r.dataset.name = t.data.name;
  for (const auto& s : t.data.sources) r.dataset.sources.push_back({s.path, s.sha256});
  r.dataset.split = "train";
  r.dataset.seed = t.data.seed;
  r.evaluated_model = "icl/weak-model";
  r.models = {{"icl/weak-model", "weak"}};
  std::vector<const w2s::data::TextExample*> pool;
  for (const auto& x : t.strong_half) pool.push_back(&x);
  for (const auto& x : t.data.val) pool.push_back(&x);
  for (std::size_t i = pool.size(); i-- > 0;) {
    const Label l = label_for(i);
    labels[pool[i]->id] = l;
    w2s::results::Prediction p;
    p.id = pool[i]->id;
    p.prediction = l.letter;
    p.gold = pool[i]->label == 1 ? "B" : "A";
    p.correct = p.prediction == p.gold;
    if (l.p_b) p.probabilities = {{"A", 1.0 - *l.p_b}, {"B", *l.p_b}};
    r.predictions.push_back(p);
  }
  r.dataset.split_sizes = {{"train", static_cast<std::int64_t>(r.predictions.size())}};
  r.metrics = w2s::results::accuracy_metrics(r.predictions);
  r.extra = Value::object();
  r.extra.set("class_of_letter", Value(w2s::json::Object{{"A", 0}, {"B", 1}}));
  return r;
}

// An in-context test record on the first `n` test examples of the run's data (letters A/B), right
// on every `every`-th example.
w2s::results::ResultRecord icl_test_record(const TinyData& t, w2s::results::Kind kind, const std::string& model,
                                           int shots, std::size_t n, std::size_t every,
                                           const std::string& weak = "") {
  w2s::results::ResultRecord r;
  r.kind = kind;
  r.run = "icl";
  r.dataset.name = t.data.name;
  for (const auto& s : t.data.sources) r.dataset.sources.push_back({s.path, s.sha256});
  r.dataset.split = "test";
  r.dataset.split_sizes = {{"test", static_cast<std::int64_t>(n)}};
  r.dataset.seed = t.data.seed;
  r.evaluated_model = model;
  r.shots = shots;
  r.models = {{model, "subject"}};
  if (kind == w2s::results::Kind::GoldSweep) r.label_source = {"gold", ""};
  if (kind == w2s::results::Kind::WeakSweep) {
    r.label_source = {"weak", weak};
    r.models = {{weak, "weak"}, {model, "student"}};
  }
  for (std::size_t i = 0; i < n; ++i) {
    w2s::results::Prediction p;
    p.id = t.data.test[i].id;
    p.gold = t.data.test[i].label == 1 ? "B" : "A";
    p.correct = i % every == 0;
    p.prediction = p.correct ? p.gold : (p.gold == "A" ? "B" : "A");
    r.predictions.push_back(p);
  }
  r.metrics = w2s::results::accuracy_metrics(r.predictions);
  r.extra = Value::object();
  r.extra.set("class_of_letter", Value(w2s::json::Object{{"A", 0}, {"B", 1}}));
  return r;
}

std::vector<Value> jsonl(const fs::path& file) {
  std::vector<Value> out;
  const std::string text = w2s::read_file(file);
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    out.push_back(w2s::json::parse(text.substr(at, end - at), file.string()));
    at = end + 1;
  }
  return out;
}

TEST(WeakLabelsFrom, StudentsLearnTheInContextLabelsOnTheirIdsAndTheCacheKeepsOtherLabelsApart) {
  const auto results = w2s::test::scratch_dir("train_weak_labels_from");
  const TinyData t = tiny_data();
  std::map<std::string, Label> labels;
  const fs::path file = results / "weak-labels.json";
  w2s::results::write_record(file, weak_labels_record(t, labels));
  std::string output;
  ASSERT_EQ(run_w2s(with(tiny_args(results, "icl-labels"), {{"--weak-labels-from", file.string()}, {"--s2s-iters", "1"}}),
                    &output),
            0)
      << output;
  const fs::path run_dir = results / "icl-labels" / "sst2";
  // The floor is still trained: it is the run's fine-tuned floor.
  ASSERT_TRUE(fs::exists(run_dir / "floor" / "record.json")) << output;
  EXPECT_CONTAINS(output, "from the in-context weak model icl/weak-model");

  // Every strong-half and val example trained on the label the record gave its id.
  std::size_t checked = 0, soft = 0;
  for (const auto& line : jsonl(run_dir / "w2s" / "predictions.jsonl")) {
    const std::string split = line.get_string("split");
    if (split != "strong_half" && split != "val") continue;
    const Label& l = labels.at(line.get_string("id"));
    EXPECT_DOUBLE_EQ(line.at("label_used").as_double(), p1_of(l)) << line.get_string("id");
    soft += l.p_b ? 1 : 0;
    ++checked;
  }
  EXPECT_EQ(checked, t.strong_half.size() + t.data.val.size());
  EXPECT_GT(soft, 0u);

  const auto student = w2s::results::read_record(run_dir / "w2s" / "record.json");
  EXPECT_EQ(student.label_source.kind, "weak");
  EXPECT_EQ(student.label_source.model, "icl/weak-model");
  EXPECT_EQ(student.extra.get_string("method"), "xent+in-context-labels");
  EXPECT_EQ(student.extra.get_string("weak_labels_from"), file.string());
  const Value& from = student.extra.at("in_context_labels");
  EXPECT_EQ(from.get_string("path"), file.string());
  EXPECT_EQ(from.get_string("model"), "icl/weak-model");
  EXPECT_EQ(from.get_int("soft"), static_cast<std::int64_t>(soft));
  EXPECT_EQ(from.get_int("soft") + from.get_int("hard"), static_cast<std::int64_t>(checked));
  EXPECT_EQ(student.config.get_string("weak_labels_from"), file.string());
  // The s2s round descends from them and says so.
  const auto s2s = w2s::results::read_record(run_dir / "s2s-1" / "record.json");
  EXPECT_EQ(s2s.extra.at("in_context_labels").get_string("labels_sha256"), from.get_string("labels_sha256"));
  // The floor keeps gold labels and its own weak model.
  const auto floor = w2s::results::read_record(run_dir / "floor" / "record.json");
  EXPECT_EQ(floor.label_source.kind, "gold");
  EXPECT_EQ(floor.extra.find("weak_labels_from"), nullptr);

  // `w2s analyze` puts this run beside the in-context runs of its labeller on the same data: the
  // student is matched to icl/weak-model by its in-context labels, with its run's fine-tuned floor.
  {
    using w2s::results::Kind;
    const std::string strong = tiny_args(results, "").at(4);
    const fs::path icl = results / "icl";
    w2s::results::write_record(icl / "weak0.json", icl_test_record(t, Kind::Baseline, "icl/weak-model", 0, 20, 2));
    w2s::results::write_record(icl / "strong0.json", icl_test_record(t, Kind::Baseline, strong, 0, 20, 1));
    w2s::results::write_record(icl / "gold2.json", icl_test_record(t, Kind::GoldSweep, strong, 2, 20, 1));
    w2s::results::write_record(icl / "w2s2.json",
                               icl_test_record(t, Kind::WeakSweep, strong, 2, 20, 4, "icl/weak-model"));
    const std::string analyze = w2s::test::w2s_binary().string() + " analyze " + (results / "icl-labels").string() +
                                " " + icl.string() + " --resamples 20 --out " + (results / "analysis").string();
    ASSERT_EQ(w2s::test::run_command(analyze, &output), 0) << output;
    const Value analysis = w2s::json::parse_file(results / "analysis" / "analysis.json");
    const Value& rows = analysis.at("extra").at("tables").at("paradigms");
    ASSERT_EQ(rows.size(), 3u) << output;  // in context at 2 shots; the w2s and s2s-1 students
    for (const auto& row : rows.as_array()) {
      EXPECT_EQ(row.get_string("weak"), "icl/weak-model");
      EXPECT_EQ(row.get_int("n"), 20);  // the in-context test set: the first 20 of the run's 40
    }
    std::map<std::string, const Value*> by_method;
    for (const auto& row : rows.as_array()) by_method[row.get_string("method")] = &row;
    ASSERT_EQ(by_method.count("weak-sweep"), 1u);
    EXPECT_DOUBLE_EQ(by_method["weak-sweep"]->get_double("student_accuracy"), 0.25);  // right on every 4th
    ASSERT_EQ(by_method.count("xent+in-context-labels"), 1u);
    EXPECT_EQ(by_method["xent+in-context-labels"]->get_string("floor_file"),
              (run_dir / "floor" / "record.json").string());
    EXPECT_EQ(by_method.count("xent+in-context-labels/s2s-1"), 1u);
  }

  // One label changed: floor and ceiling come from the cache, the students train again.
  auto changed = w2s::results::read_record(file);
  changed.predictions.front().prediction = changed.predictions.front().prediction == "A" ? "B" : "A";
  changed.predictions.front().probabilities.clear();
  w2s::results::write_record(results / "changed.json", changed);
  ASSERT_EQ(run_w2s(with(tiny_args(results, "icl-labels-2"), {{"--weak-labels-from", (results / "changed.json").string()}}),
                    &output),
            0)
      << output;
  EXPECT_CONTAINS(output, "floor: stage cache hit");
  EXPECT_CONTAINS(output, "w2s: training");
  EXPECT_EQ(output.find("w2s: stage cache hit"), std::string::npos) << output;
  const auto other = w2s::results::read_record(results / "icl-labels-2" / "sst2" / "w2s" / "record.json");
  EXPECT_NE(other.extra.at("in_context_labels").get_string("labels_sha256"), from.get_string("labels_sha256"));
  EXPECT_NE(other.config.get_string("stage_key"), student.config.get_string("stage_key"));
}

// Each bad record is refused by name before anything is trained.
TEST(WeakLabelsFrom, RefusesBadRecordsBeforeTraining) {
  const auto results = w2s::test::scratch_dir("train_weak_labels_refused");
  const TinyData t = tiny_data();
  std::map<std::string, Label> labels;
  const auto good = weak_labels_record(t, labels);
  using Edit = void (*)(w2s::results::ResultRecord&);
  const std::vector<std::tuple<std::string, Edit, std::vector<std::string>>> cases = {
      {"kind", [](w2s::results::ResultRecord& r) { r.kind = w2s::results::Kind::Baseline; },
       {"a record of kind baseline, not weak-labels"}},
      {"seed", [](w2s::results::ResultRecord& r) { r.dataset.seed = 3; },
       {"labels another data set than this run's (data seed 3, this run 0)"}},
      {"dataset", [](w2s::results::ResultRecord& r) { r.dataset.name = "boolq"; },
       {"dataset 'boolq', this run 'sst2'"}},
      {"sources", [](w2s::results::ResultRecord& r) { r.dataset.sources.front().sha256 = std::string(64, '0'); },
       {"other data files"}},
      {"letters", [](w2s::results::ResultRecord& r) { r.extra = Value::object(); }, {"no extra.class_of_letter"}},
      // the reverse order puts val first: drop 1 val and 3 strong-half labels
      {"missing", [](w2s::results::ResultRecord& r) { r.predictions.erase(r.predictions.end() - 3, r.predictions.end());
                                                      r.predictions.erase(r.predictions.begin()); },
       {"4 of the examples this run needs have no label (3 of the 32 strong-half, 1 of the 20 val examples",
        "--label-pool full"}},
      {"unusable", [](w2s::results::ResultRecord& r) { r.predictions[0].prediction = "", r.predictions[5].prediction = ""; },
       {"2 of the 52 labels this run needs are unusable", "puts no default label"}},
      {"twice", [](w2s::results::ResultRecord& r) { auto copy = r.predictions[2];
                                                    copy.prediction = copy.prediction == "A" ? "B" : "A";
                                                    copy.probabilities.clear();
                                                    r.predictions.push_back(copy); },
       {"is labelled twice with different labels"}},
  };
  for (const auto& [name, edit, expected] : cases) {
    auto r = good;
    edit(r);
    const fs::path file = results / (name + ".json");
    w2s::results::write_record(file, r);
    std::string output;
    EXPECT_NE(run_w2s(with(tiny_args(results, name), {{"--weak-labels-from", file.string()}}), &output), 0) << name;
    EXPECT_CONTAINS(output, "--weak-labels-from " + file.string());
    for (const auto& text : expected) EXPECT_CONTAINS(output, text) << name;
    EXPECT_EQ(output.find(": training"), std::string::npos) << name << ": " << output;
  }
}

}  // namespace
