// In-context experiments: records -> roles (docs/analysis.md, "ICL records"), the accuracy
// table, and per pair and shots the PGR variants, McNemar, kappa, response matching and the
// correlation fields of the reference (docs/reference-behaviour.md §9-§11).
#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis::detail {
namespace {

using results::Kind;
using results::LoadedRecord;

std::int64_t shots_of(const LoadedRecord& r) { return r.record.shots.value_or(0); }

struct Roles {
  std::map<std::string, std::vector<const LoadedRecord*>> zero;                               // model
  std::map<std::pair<std::string, std::int64_t>, std::vector<const LoadedRecord*>> gold;      // model, N
  std::map<std::tuple<std::string, std::string, std::int64_t>, std::vector<const LoadedRecord*>> student;  // W, S, N
};

Roles assign_roles(const std::vector<const LoadedRecord*>& records) {
  Roles roles;
  for (const auto* r : records) {
    const auto& rec = r->record;
    switch (rec.kind) {
      case Kind::Baseline: roles.zero[rec.evaluated_model].push_back(r); break;
      case Kind::GoldSweep: roles.gold[{rec.evaluated_model, shots_of(*r)}].push_back(r); break;
      case Kind::WeakSweep:
        if (rec.label_source.model.empty())
          throw Error(r->path.string() + ": weak-sweep record without label_source.model (the weak model)");
        roles.student[{rec.label_source.model, rec.evaluated_model, shots_of(*r)}].push_back(r);
        break;
      default: break;
    }
  }
  // A gold sweep at 0 shots is the same prompt as the zero-shot baseline: it stands in when no
  // baseline record exists.
  for (const auto& [key, recs] : roles.gold)
    if (key.second == 0 && !roles.zero.count(key.first)) roles.zero[key.first] = recs;
  return roles;
}

// Counts for the response-matching and correlation fields.
struct PairCounts {
  std::int64_t n = 0;
  std::int64_t pattern[2][2][2] = {};  // [w][s][x]
  std::int64_t match_both = 0, match_weak = 0, match_strong = 0, match_neither = 0;
  std::int64_t weak_wrong = 0, ww_both = 0, ww_weak = 0, ww_strong = 0, ww_neither = 0;
  std::int64_t x_wrong = 0, x_wrong_matches_weak_wrong = 0, x_wrong_matches_strong_wrong = 0, x_wrong_unique = 0;
};

PairCounts count(const Eval& weak, const Eval& strong, const Eval& student) {
  PairCounts c;
  c.n = static_cast<std::int64_t>(student.correct.size());
  for (std::size_t i = 0; i < student.correct.size(); ++i) {
    const bool w = weak.correct[i], s = strong.correct[i], x = student.correct[i];
    ++c.pattern[w][s][x];
    // Letters compare as strings, as the reference does (two unparsed answers agree).
    const bool same_weak = student.answers[i] == weak.answers[i];
    const bool same_strong = student.answers[i] == strong.answers[i];
    std::int64_t* bucket = same_weak && same_strong ? &c.match_both
                           : same_weak              ? &c.match_weak
                           : same_strong            ? &c.match_strong
                                                    : &c.match_neither;
    ++*bucket;
    if (!w) {
      ++c.weak_wrong;
      ++*(same_weak && same_strong ? &c.ww_both : same_weak ? &c.ww_weak : same_strong ? &c.ww_strong : &c.ww_neither);
    }
    if (!x) {
      ++c.x_wrong;
      if (same_weak && !w) ++c.x_wrong_matches_weak_wrong;
      if (same_strong && !s) ++c.x_wrong_matches_strong_wrong;
      if (!same_weak && !same_strong) ++c.x_wrong_unique;
    }
  }
  return c;
}

void put_counts(json::Value& row, const PairCounts& c) {
  const auto& p = c.pattern;
  auto all = [&](std::int64_t k) { return share(k, c.n); };
  row.set("all_correct", all(p[1][1][1]));
  row.set("all_wrong", all(p[0][0][0]));
  row.set("only_weak_correct", all(p[1][0][0]));
  row.set("only_strong_correct", all(p[0][1][0]));
  row.set("only_w2s_correct", all(p[0][0][1]));
  row.set("weak_strong_correct_w2s_wrong", all(p[1][1][0]));
  row.set("weak_w2s_correct_strong_wrong", all(p[1][0][1]));
  row.set("strong_w2s_correct_weak_wrong", all(p[0][1][1]));
  // Conditional on the student's correctness x.
  const std::int64_t x0 = p[0][0][0] + p[0][1][0] + p[1][0][0] + p[1][1][0];
  const std::int64_t x1 = c.n - x0;
  row.set("w2s_wrong_weak_right", share(p[1][0][0] + p[1][1][0], x0));
  row.set("w2s_wrong_strong_right", share(p[0][1][0] + p[1][1][0], x0));
  row.set("w2s_wrong_both_right", share(p[1][1][0], x0));
  row.set("w2s_right_weak_wrong", share(p[0][0][1] + p[0][1][1], x1));
  row.set("w2s_right_strong_wrong", share(p[0][0][1] + p[1][0][1], x1));
  row.set("w2s_right_both_wrong", share(p[0][0][1], x1));
  row.set("w2s_matches_both", all(c.match_both));
  row.set("w2s_matches_weak", all(c.match_weak));
  row.set("w2s_matches_strong", all(c.match_strong));
  row.set("w2s_matches_neither", all(c.match_neither));
  row.set("weak_wrong_n", c.weak_wrong);
  row.set("weak_wrong_matches_both", share(c.ww_both, c.weak_wrong));
  row.set("weak_wrong_matches_weak", share(c.ww_weak, c.weak_wrong));
  row.set("weak_wrong_matches_strong", share(c.ww_strong, c.weak_wrong));
  row.set("weak_wrong_matches_neither", share(c.ww_neither, c.weak_wrong));
  row.set("w2s_wrong_matches_weak_wrong", share(c.x_wrong_matches_weak_wrong, c.x_wrong));
  row.set("w2s_wrong_matches_strong_wrong", share(c.x_wrong_matches_strong_wrong, c.x_wrong));
  row.set("w2s_wrong_unique", share(c.x_wrong_unique, c.x_wrong));
  // P(x | condition on w, s).
  auto given = [&](auto pred) {
    std::int64_t cond = 0, right = 0;
    for (int w = 0; w < 2; ++w)
      for (int s = 0; s < 2; ++s)
        if (pred(w, s)) {
          cond += p[w][s][0] + p[w][s][1];
          right += p[w][s][1];
        }
    return share(right, cond);
  };
  row.set("w2s_acc_given_weak_correct", given([](int w, int) { return w == 1; }));
  row.set("w2s_acc_given_weak_wrong", given([](int w, int) { return w == 0; }));
  row.set("w2s_acc_given_strong_correct", given([](int, int s) { return s == 1; }));
  row.set("w2s_acc_given_strong_wrong", given([](int, int s) { return s == 0; }));
  row.set("w2s_acc_given_both_correct", given([](int w, int s) { return w == 1 && s == 1; }));
  row.set("w2s_acc_given_both_wrong", given([](int w, int s) { return w == 0 && s == 0; }));
  const std::int64_t strong_right = p[0][1][0] + p[0][1][1] + p[1][1][0] + p[1][1][1];
  row.set("w2s_wrong_given_strong_correct", share(p[0][1][0] + p[1][1][0], strong_right));
}

}  // namespace

UnusableAnswers unusable_answers(const results::ResultRecord& r) {
  UnusableAnswers u;
  for (const auto& p : r.predictions) {
    if (p.error) continue;
    if (p.prediction.empty()) ++u.unparsed;
    if (p.finish_reason == "length") ++u.cut_off;
  }
  return u;
}

std::int64_t unusable_weak_labels(const results::ResultRecord& r) {
  const json::Value* few_shot = r.extra.is_object() ? r.extra.find("few_shot") : nullptr;
  const json::Value* labels = few_shot && few_shot->is_object() ? few_shot->find("labels") : nullptr;
  if (!labels || !labels->is_array()) return 0;
  return std::count_if(labels->as_array().begin(), labels->as_array().end(),
                       [](const json::Value& l) { return l.is_string() && l.as_string().empty(); });
}

json::Value icl_tables(const std::vector<const LoadedRecord*>& records, const Options& options,
                       json::Value& accuracy_rows) {
  json::Value pair_rows = json::Value::array();
  if (records.empty()) return pair_rows;

  const Roles roles = assign_roles(records);
  std::vector<const LoadedRecord*> used;  // one per role, aligned together
  std::map<std::string, const LoadedRecord*> zero;
  std::map<std::pair<std::string, std::int64_t>, const LoadedRecord*> gold;
  std::map<std::tuple<std::string, std::string, std::int64_t>, const LoadedRecord*> student;
  for (const auto& [m, recs] : roles.zero) used.push_back(zero[m] = pick_unique(recs, "the zero-shot baseline of " + m));
  for (const auto& [k, recs] : roles.gold)
    if (!(k.second == 0 && zero.count(k.first) && zero[k.first] == recs.front()))
      used.push_back(gold[k] = pick_unique(recs, fmt::format("{} with {} gold shots", k.first, k.second)));
    else
      gold[k] = recs.front();
  for (const auto& [k, recs] : roles.student) {
    const auto& [w, s, n] = k;
    student[k] = pick_unique(recs, fmt::format("{} -> {} with {} weak shots", w, s, n));
    used.push_back(student[k]);
    for (const auto& [model, role] : {std::pair{w, "weak"}, std::pair{s, "strong"}})
      if (!zero.count(model))
        throw Error(fmt::format("{}: missing {} for the pair {} -> {}: no zero-shot baseline of {} among the inputs "
                                "(run `w2s baseline` for it or pass its result file)",
                                student[k]->path.string(), role == std::string("weak") ? "floor" : "ceiling", w, s,
                                model));
  }

  std::vector<Eval> evals = align(used);
  std::map<const LoadedRecord*, const Eval*> eval_of;
  for (std::size_t i = 0; i < used.size(); ++i) eval_of[used[i]] = &evals[i];
  for (const auto& [k, r] : gold)
    if (!eval_of.count(r)) eval_of[r] = eval_of.at(zero.at(k.first));
  Bootstrap boot(evals.front().correct.size(), options);
  const double conf = options.confidence;
  auto acc_samples = [&](const Eval& e) { return boot.enabled() ? &boot.accuracy(e) : nullptr; };

  auto accuracy_row = [&](const char* curve, const LoadedRecord* r, const std::string& weak, std::int64_t shots) {
    const Eval& e = *eval_of.at(r);
    json::Value row = json::Value::object();
    row.set("curve", curve);
    row.set("model", r->record.evaluated_model);
    row.set("model_name", nullptr);  // the *_name columns are filled by name_models (detail.h)
    row.set("weak", weak);
    row.set("weak_name", nullptr);
    row.set("shots", shots);
    row.set("n", static_cast<std::int64_t>(e.correct.size()));
    put_estimate(row, "accuracy", e.accuracy(), acc_samples(e), conf);
    const UnusableAnswers unusable = unusable_answers(r->record);
    row.set("unparsed", unusable.unparsed);
    row.set("cut_off", unusable.cut_off);
    row.set("failed", r->record.metrics.failed);
    row.set("file", r->path.string());
    accuracy_rows.push_back(std::move(row));
  };
  for (const auto& [m, r] : zero) accuracy_row("zero-shot", r, "", 0);
  for (const auto& [k, r] : gold) accuracy_row("gold", r, "", k.second);
  for (const auto& [k, r] : student) accuracy_row("weak-labels", r, std::get<0>(k), std::get<2>(k));

  for (const auto& [k, r] : student) {
    const auto& [w, s, n] = k;
    const Eval& x = *eval_of.at(r);
    const Eval& weak0 = *eval_of.at(zero.at(w));
    const Eval& strong0 = *eval_of.at(zero.at(s));
    const Eval* weak_gold = gold.count({w, n}) ? eval_of.at(gold.at({w, n})) : nullptr;
    const Eval* strong_gold = gold.count({s, n}) ? eval_of.at(gold.at({s, n})) : nullptr;
    const bool self_pair = w == s;

    json::Value row = json::Value::object();
    row.set("weak", w);
    row.set("strong", s);
    row.set("weak_name", nullptr);  // filled by name_models
    row.set("strong_name", nullptr);
    row.set("shots", n);
    row.set("self_pair", self_pair);
    row.set("n", static_cast<std::int64_t>(x.correct.size()));
    put_estimate(row, "student_accuracy", x.accuracy(), acc_samples(x), conf);
    put_estimate(row, "weak_zero_shot", weak0.accuracy(), acc_samples(weak0), conf);
    put_estimate(row, "strong_zero_shot", strong0.accuracy(), acc_samples(strong0), conf);
    put_estimate(row, "weak_gold", weak_gold ? std::optional(weak_gold->accuracy()) : std::nullopt,
                 weak_gold ? acc_samples(*weak_gold) : nullptr, conf);
    put_estimate(row, "strong_gold", strong_gold ? std::optional(strong_gold->accuracy()) : std::nullopt,
                 strong_gold ? acc_samples(*strong_gold) : nullptr, conf);

    // The four PGR variants: floor in {weak zero-shot, weak with N gold shots} x ceiling in
    // {strong zero-shot, strong with N gold shots}. Undefined for self pairs (floor and ceiling
    // are the same model), as in the reference.
    auto variant = [&](const char* key, const Eval* floor, const Eval* ceiling) {
      std::optional<double> point;
      Samples samples;
      if (floor && ceiling && !self_pair) {
        point = pgr(x.accuracy(), floor->accuracy(), ceiling->accuracy(), options.zero_guard);
        if (boot.enabled())
          samples = pgr_samples(boot.accuracy(x), boot.accuracy(*floor), boot.accuracy(*ceiling), options.zero_guard);
      }
      put_estimate(row, key, point, boot.enabled() ? &samples : nullptr, conf);
      // As in the fine-tuning tables: a ceiling not clearly above the floor leaves no gap to recover.
      const std::string flag = std::string("ceiling_not_above_floor_") + (key + std::strlen("pgr_"));
      if (floor && ceiling && !self_pair)
        row.set(flag, !clear_gap(floor->accuracy(), ceiling->accuracy(), options.zero_guard));
      else
        row.set(flag, nullptr);
    };
    variant("pgr_weak0_strong0", &weak0, &strong0);
    variant("pgr_weak0_stronggold", &weak0, strong_gold);
    variant("pgr_weakgold_stronggold", weak_gold, strong_gold);
    variant("pgr_weakgold_strong0", weak_gold, &strong0);

    row.set("weak_labels_unusable", unusable_weak_labels(r->record));
    put_mcnemar(row, mcnemar(x.correct, strong0.correct), "student", "strong");
    row.set("kappa_student_weak", cohen_kappa(x.answers, weak0.answers));
    put_counts(row, count(weak0, strong0, x));
    row.set("file", r->path.string());
    pair_rows.push_back(std::move(row));
  }
  return pair_rows;
}

}  // namespace w2s::analysis::detail
