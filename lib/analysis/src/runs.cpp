// Runs side by side: in-context runs of one test set whose records of one role disagree (another
// temperature, another seed, another results folder) are analysed apart, each labelled by its run
// folder and the settings in which it differs from the others.
#include <algorithm>
#include <functional>
#include <set>

#include <fmt/format.h>

#include "detail.h"

namespace w2s::analysis::detail {
namespace {

using results::LoadedRecord;

// What a record is in a comparison: kind, model, labelling model and shots.
std::string role_of(const LoadedRecord& r) {
  const auto& rec = r.record;
  return fmt::format("{}\x1f{}\x1f{}\x1f{}", results::kind_name(rec.kind), rec.evaluated_model, rec.label_source.model,
                     rec.shots.value_or(-1));
}

std::string outcomes_of(const LoadedRecord& r) { return json::dump(results::to_json(r.record).at("predictions")); }

// Settings that say where a run went or what it is, not how it ran: never a difference.
bool bookkeeping(const std::string& key) {
  static const std::set<std::string> keys = {"run_name",   "results_dir", "experiment", "shots",     "stage",
                                             "stage_key",  "model_name",  "transfer",   "models",    "pairs",
                                             "shared_folder", "fitted_to_run", "progress", "client.ledger_tag"};
  return keys.count(key) > 0;
}

}  // namespace

std::string run_folder(const LoadedRecord& r) {
  for (auto p = r.path.parent_path(); !p.empty() && p != p.parent_path(); p = p.parent_path())
    if (p.filename() == r.record.run) return p.string();
  return r.record.run;
}

std::map<std::string, std::string> flat_config(const json::Value& config) {
  std::map<std::string, std::string> out;
  std::function<void(const std::string&, const json::Value&)> walk = [&](const std::string& prefix, const json::Value& v) {
    if (v.is_object() && v.size() > 0) {
      for (const auto& [k, x] : v.as_object()) walk(prefix.empty() ? k : prefix + "." + k, x);
      return;
    }
    if (!bookkeeping(prefix)) out[prefix] = v.is_string() ? v.as_string() : json::dump(v);
  };
  walk("", config);
  return out;
}

json::Value differing_settings(const std::vector<std::vector<const LoadedRecord*>>& groups, std::size_t which) {
  // Per group, each setting's value where all its records agree on it.
  std::vector<std::map<std::string, std::string>> common(groups.size());
  std::set<std::string> keys;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    std::map<std::string, std::set<std::string>> values;
    for (const auto* r : groups[g])
      for (const auto& [k, v] : flat_config(r->record.config)) values[k].insert(v);
    for (const auto& [k, vs] : values)
      if (vs.size() == 1) common[g][k] = *vs.begin();
    for (const auto& [k, v] : common[g]) keys.insert(k);
  }
  json::Value out = json::Value::object();
  for (const auto& k : keys) {
    std::set<std::string> seen;
    for (const auto& c : common) seen.insert(c.count(k) ? c.at(k) : std::string("\x1f"));
    if (seen.size() > 1) out.set(k, common[which].count(k) ? json::Value(common[which].at(k)) : json::Value());
  }
  return out;
}

std::vector<json::Value> varying_settings(const std::vector<const LoadedRecord*>& records,
                                         const std::set<std::string>& shown_apart) {
  std::vector<std::map<std::string, std::string>> flat;
  std::map<std::string, std::set<std::string>> values;
  for (const auto* r : records) {
    flat.push_back(flat_config(r->record.config));
    for (const auto& [k, v] : flat.back()) values[k].insert(v);
  }
  std::vector<json::Value> out;
  for (const auto& f : flat) {
    json::Value settings = json::Value::object();
    for (const auto& [k, vs] : values)
      if (!shown_apart.count(k) && (vs.size() > 1 || !f.count(k)))
        settings.set(k, f.count(k) ? json::Value(f.at(k)) : json::Value());
    out.push_back(std::move(settings));
  }
  return out;
}

std::vector<RunGroup> split_disagreeing_runs(const std::vector<const LoadedRecord*>& records) {
  std::map<std::string, std::set<std::string>> outcomes;  // role -> distinct predictions
  for (const auto* r : records) outcomes[role_of(*r)].insert(outcomes_of(*r));
  const bool disagree = std::any_of(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.second.size() > 1; });
  if (!disagree) return {RunGroup{"", json::Value::object(), records}};

  std::vector<std::string> folders;
  std::map<std::string, std::vector<const LoadedRecord*>> by_folder;
  for (const auto* r : records) {
    const std::string folder = run_folder(*r);
    if (!by_folder.count(folder)) folders.push_back(folder);
    by_folder[folder].push_back(r);
  }
  // A run without a role that the others agree on (a baseline run once, under another name)
  // borrows it; a role the others disagree on stays missing, and that run gets a note.
  std::vector<std::vector<const LoadedRecord*>> groups;
  for (const auto& folder : folders) {
    std::vector<const LoadedRecord*> members = by_folder[folder];
    std::set<std::string> own;
    for (const auto* r : members) own.insert(role_of(*r));
    for (const auto* r : records)
      if (!own.count(role_of(*r)) && outcomes[role_of(*r)].size() == 1) members.push_back(r);
    groups.push_back(std::move(members));
  }
  // Settings from each run's own records only: what it borrowed is shared.
  std::vector<std::vector<const LoadedRecord*>> own_records;
  for (const auto& folder : folders) own_records.push_back(by_folder[folder]);
  std::vector<RunGroup> out;
  for (std::size_t g = 0; g < groups.size(); ++g)
    out.push_back(RunGroup{folders[g], differing_settings(own_records, g), std::move(groups[g])});
  return out;
}

void put_settings_columns(json::Value& tables) {
  for (auto& [name, rows] : tables.as_object()) {
    std::set<std::string> keys;
    for (const auto& row : rows.as_array())
      if (const json::Value* s = row.find("settings"); s && s->is_object())
        for (const auto& [k, v] : s->as_object()) keys.insert(k);
    for (auto& row : rows.as_array()) {
      const json::Value* s = row.find("settings");
      if (!s) continue;
      const json::Value settings = *s;
      json::Value rebuilt = json::Value::object();  // "settings" replaced in place by its columns
      for (const auto& [k, v] : row.as_object()) {
        if (k != "settings") {
          rebuilt.set(k, v);
          continue;
        }
        for (const auto& key : keys) {
          const json::Value* x = settings.is_object() ? settings.find(key) : nullptr;
          rebuilt.set("setting." + key, x ? *x : json::Value());
        }
      }
      row = std::move(rebuilt);
    }
  }
}

}  // namespace w2s::analysis::detail
