// The grid file, its expansion into shared stages and students, the plan, and the jobs file the
// workers read.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "w2s/sweep.h"

namespace w2s::sweep {

namespace fs = std::filesystem;
using train::PipelineOptions;

namespace {

constexpr const char* kJobsFormat = "w2s-sweep-jobs-v1";

const std::vector<options::Flag<PipelineOptions>>& train_flags() {
  return train::option_fields(static_cast<const PipelineOptions*>(nullptr)).flags();
}

std::string dashed(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

std::string trimmed(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return "";
  const auto last = s.find_last_not_of(" \t\r");
  return std::string(s.substr(first, last - first + 1));
}

// "a | b|c" → {"a", "b", "c"}; empty values are an error (a stray `|`).
std::vector<std::string> split_values(const std::string& option, std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto bar = text.find('|', start);
    std::string value = trimmed(text.substr(start, bar == std::string_view::npos ? bar : bar - start));
    if (value.empty()) throw Error(fmt::format("{}: an empty value in '{}'", option, text));
    out.push_back(std::move(value));
    if (bar == std::string_view::npos) return out;
    start = bar + 1;
  }
}

// Options the sweep sets itself.
void refuse_reserved(const std::string& option) {
  if (option == "run-name")
    throw Error("run-name: the sweep names each run after the grid and its settings (the grid file's name)");
  if (option == "preset") throw Error("preset: give it once, outside [grid]");
}

// The options that only students read (the floor and ceiling keys leave them out).
bool student_only(const std::string& option) {
  static const std::set<std::string> names = [] {
    std::set<std::string> out = {"s2s-iters", "probe-method"};
    for (const auto& f : train::option_fields(static_cast<const train::LossOptions*>(nullptr)).flags())
      out.insert(f.name);
    for (const auto& f : train::option_fields(static_cast<const train::ProbeOptions*>(nullptr)).flags())
      out.insert(f.name);
    return out;
  }();
  return names.count(option) > 0;
}

}  // namespace

void apply_setting(PipelineOptions& o, const Setting& setting) {
  const std::string option = dashed(setting.first);
  const std::string& text = setting.second;
  try {
    if (option == "models") {
      const auto arrow = text.find("->");
      if (arrow == std::string::npos) throw Error(fmt::format("expected 'WEAK -> STRONG', got '{}'", text));
      o.weak_model = trimmed(std::string_view(text).substr(0, arrow));
      o.strong_model = trimmed(std::string_view(text).substr(arrow + 2));
      if (o.weak_model.empty() || o.strong_model.empty())
        throw Error(fmt::format("expected 'WEAK -> STRONG', got '{}'", text));
      return;
    }
    if (option == "probe-method") {
      o.probe.relabel = o.probe.filter = false;
      if (text == "none") return;
      const auto dash = text.rfind('-');
      const std::string what = dash == std::string::npos ? text : text.substr(dash + 1);
      if (what != "relabel" && what != "filter")
        throw Error(fmt::format("expected none, relabel, filter, <probe>-relabel or <probe>-filter, got '{}'", text));
      if (dash != std::string::npos) o.probe.kind = train::names_of(train::Probe{}).parse(text.substr(0, dash));
      (what == "relabel" ? o.probe.relabel : o.probe.filter) = true;
      return;
    }
    for (const auto& f : train_flags()) {
      if (f.name != option) continue;
      f.set(o, text);
      return;
    }
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", option, e.what()));
  }
  throw Error(fmt::format("unknown option '{}' (a `w2s train` option, models or probe-method)", option));
}

Grid read_grid(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read grid file " + path.string());
  Grid grid;
  grid.name = path.stem().string();
  std::string line, section;
  PipelineOptions check;  // values are checked as they are read, so an error names its line
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = fmt::format("{}:{}", path.string(), number);
    const std::string text = trimmed(line);
    if (text.empty() || text[0] == '#') continue;
    if (text[0] == '[') {
      if (text != "[grid]") throw Error(fmt::format("{}: unknown section {} (only [grid])", where, text));
      section = "grid";
      continue;
    }
    const auto eq = text.find('=');
    if (eq == std::string::npos) throw Error(fmt::format("{}: expected 'key = value', found '{}'", where, text));
    const std::string option = dashed(trimmed(text.substr(0, eq)));
    const std::string value = trimmed(text.substr(eq + 1));
    try {
      if (section.empty() && option == "preset") {
        train::preset_options(value);  // throws for an unknown preset
        grid.preset = value;
        continue;
      }
      refuse_reserved(option);
      if (section.empty()) {
        apply_setting(check, {option, value});
        grid.fixed.emplace_back(option, value);
      } else {
        for (const auto& v : split_values(option, value)) apply_setting(check, {option, v});
        add_axis(grid, option + "=" + value);
      }
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", where, e.what()));
    }
  }
  return grid;
}

void add_axis(Grid& grid, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos) throw Error(fmt::format("expected option=value|value..., got '{}'", assignment));
  const std::string option = dashed(trimmed(std::string_view(assignment).substr(0, eq)));
  refuse_reserved(option);
  const auto values = split_values(option, std::string_view(assignment).substr(eq + 1));
  auto it = std::find_if(grid.axes.begin(), grid.axes.end(), [&](const Axis& a) { return a.option == option; });
  if (it == grid.axes.end()) it = grid.axes.insert(grid.axes.end(), Axis{option, {}});
  for (const auto& v : values) {
    if (std::find(it->values.begin(), it->values.end(), v) != it->values.end())
      throw Error(fmt::format("{}: '{}' is listed twice", option, v));
    it->values.push_back(v);
  }
}

PipelineOptions base_options(const Grid& grid) {
  PipelineOptions o = grid.preset ? train::preset_options(*grid.preset) : PipelineOptions{};
  for (const auto& s : grid.fixed) apply_setting(o, s);
  return o;
}

namespace {

// A folder-name-safe form of one setting for the run name: pairs and long values (model specs,
// paths) by their position in the list ("pair2", "strong-model-name=v3").
std::string run_name_part(const Axis& axis, std::size_t value_index) {
  const std::string& value = axis.values[value_index];
  if (axis.option == "models") return fmt::format("pair{}", value_index + 1);
  if (value.size() > 24) return fmt::format("{}=v{}", axis.option, value_index + 1);
  std::string safe = value;
  for (char& c : safe)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '+' && c != '-' && c != '_') c = '_';
  return axis.option + "=" + safe;
}

// What identifies a floor or a ceiling among the jobs: every recorded option except those the
// other shared stage and the students read, plus the folders (unrecorded).
std::string shared_identity(PipelineOptions o, train::SharedStage stage) {
  if (stage == train::SharedStage::Floor) {
    o.strong_model.clear();
    o.strong_lr = 0;
  } else {
    o.weak_model.clear();
    o.weak_lr = 0;
  }
  o.loss = {};
  o.probe = {};
  o.s2s_iters = 0;
  o.weak_labels_from.reset();  // the students' labels (--weak-labels-from): floor and ceiling do not read them
  o.run_name.clear();
  json::Value id = options::record(o);
  id.set("results_dir", o.results_dir.string());
  id.set("models_dir", o.models_dir.value_or(""));
  id.set("data_dir", o.data.data_dir.value_or(""));
  return json::dump_canonical(id);
}

std::string describe_shared(const SharedJob& s, const std::vector<Setting>& settings) {
  const bool floor = s.stage == train::SharedStage::Floor;
  std::string out = fmt::format("{} of {} on {}", floor ? "floor" : "ceiling",
                                floor ? s.options.weak_model : s.options.strong_model, s.options.data.name);
  for (const auto& [option, value] : settings)
    if (!student_only(option) && option != "dataset" && option != "models") out += fmt::format(", {} {}", option, value);
  return out;
}

}  // namespace

Plan expand(const Grid& grid, const PipelineOptions& base) {
  Plan plan;
  plan.name = grid.name;
  plan.folder = base.results_dir / "sweeps" / grid.name;
  for (const auto& axis : grid.axes)
    if (axis.values.empty()) throw Error("grid axis " + axis.option + " has no values");
  // A few lines of a grid file multiply into any number of runs: the product is checked (without
  // overflowing) before a single job is built.
  constexpr std::size_t kMaxRuns = 10000;
  std::size_t runs = 1;
  std::vector<std::string> factors;
  for (const auto& axis : grid.axes) {
    factors.push_back(fmt::format("{} {}", axis.values.size(), axis.option));
    runs = runs > kMaxRuns / axis.values.size() ? kMaxRuns + 1 : runs * axis.values.size();
  }
  if (runs > kMaxRuns)
    throw Error(fmt::format("grid {}: {} values make more than {} runs; split the study into several grid files",
                            grid.name, fmt::join(factors, " x "), kMaxRuns));
  std::map<std::string, std::size_t> shared_index;  // identity → index into plan.shared
  std::set<std::string> run_names;
  std::vector<std::size_t> at(grid.axes.size(), 0);  // the current value of each axis (an odometer)
  while (true) {
    Job job;
    job.id = fmt::format("w2s-{}", plan.students.size());
    job.options = base;
    std::string run_name = grid.name;
    for (std::size_t a = 0; a < grid.axes.size(); ++a) {
      const Axis& axis = grid.axes[a];
      job.settings.emplace_back(axis.option, axis.values[at[a]]);
      apply_setting(job.options, job.settings.back());
      if (axis.values.size() > 1 && axis.option != "dataset") run_name += "-" + run_name_part(axis, at[a]);
    }
    // The odometer's names are unique unless two values read alike once made folder-safe.
    if (!run_names.insert(run_name).second) {
      run_name += "-" + job.id;
      run_names.insert(run_name);
    }
    job.options.run_name = run_name;
    try {
      train::validate(job.options);
    } catch (const Error& e) {
      std::vector<std::string> settings;
      for (const auto& [option, value] : job.settings) settings.push_back(option + "=" + value);
      throw Error(fmt::format("job {} ({}): {}", job.id, fmt::join(settings, " "), e.what()));
    }
    for (auto stage : {train::SharedStage::Floor, train::SharedStage::Ceiling}) {
      const auto [it, fresh] = shared_index.emplace(shared_identity(job.options, stage), plan.shared.size());
      if (fresh) {
        SharedJob s;
        s.id = fmt::format("{}-{}", stage == train::SharedStage::Floor ? "floor" : "ceiling", plan.shared.size());
        s.stage = stage;
        s.options = job.options;
        s.description = describe_shared(s, job.settings);
        plan.shared.push_back(std::move(s));
      }
      job.needs.push_back(it->second);
    }
    plan.students.push_back(std::move(job));
    // Next combination: the last axis turns fastest.
    std::size_t a = grid.axes.size();
    while (a > 0 && ++at[a - 1] == grid.axes[a - 1].values.size()) at[--a] = 0;
    if (a == 0) break;
  }
  return plan;
}

std::string format_plan(const Plan& plan) {
  std::string out = fmt::format("sweep {}: {} shared stage{}, {} student run{} (folder {})\n", plan.name,
                                plan.shared.size(), plan.shared.size() == 1 ? "" : "s", plan.students.size(),
                                plan.students.size() == 1 ? "" : "s", plan.folder.string());
  out += "shared stages (each trained once, before the students that reuse it from the stage cache):\n";
  for (const auto& s : plan.shared) out += fmt::format("  {:<11} {}\n", s.id, s.description);
  if (std::any_of(plan.students.begin(), plan.students.end(), [](const Job& j) { return j.options.probe.active(); }))
    out += "  (the probes' strong-model activations: computed by the first student that needs them, under their "
           "lock, and reused by the others)\n";
  out += "students (w2s and s2s rounds of one run each):\n";
  for (const auto& j : plan.students) {
    std::vector<std::string> settings, needs;
    for (const auto& [option, value] : j.settings) settings.push_back(option + "=" + value);
    for (auto n : j.needs) needs.push_back(plan.shared[n].id);
    out += fmt::format("  {:<11} run {}  [{}]  needs {}\n", j.id, j.options.run_name, fmt::join(settings, " "),
                       fmt::join(needs, ", "));
  }
  return out;
}

// ---- the jobs file ---------------------------------------------------------------------------

Array parse_array(const std::string& name) {
  if (name == "shared") return Array::Shared;
  if (name == "students") return Array::Students;
  throw Error("unknown array '" + name + "' (expected shared or students)");
}

const char* array_name(Array array) { return array == Array::Shared ? "shared" : "students"; }

namespace {

// Every option as the flag text that sets it (unset optionals left out).
json::Value options_as_flags(const PipelineOptions& o) {
  json::Value out = json::Value::object();
  for (const auto& f : train_flags())
    if (const auto text = f.shown(o)) out.set(f.name, *text);
  out.set("no-progress", o.progress ? "false" : "true");
  return out;
}

PipelineOptions options_from_flags(const json::Value& flags) {
  PipelineOptions o;
  for (const auto& [name, text] : flags.as_object()) apply_setting(o, {name, text.as_string()});
  return o;
}

}  // namespace

fs::path write_jobs_file(const Plan& plan) {
  json::Value doc = json::Value::object();
  doc.set("format", kJobsFormat);
  doc.set("name", plan.name);
  for (Array array : {Array::Shared, Array::Students}) {
    json::Value list = json::Value::array();
    auto add = [&](const std::string& id, const PipelineOptions& o, const char* stage) {
      json::Value job = json::Value::object();
      job.set("id", id);
      if (stage) job.set("stage", stage);
      job.set("options", options_as_flags(o));
      list.push_back(std::move(job));
    };
    if (array == Array::Shared)
      for (const auto& s : plan.shared) add(s.id, s.options, s.stage == train::SharedStage::Floor ? "floor" : "ceiling");
    else
      for (const auto& j : plan.students) add(j.id, j.options, nullptr);
    doc.set(array_name(array), std::move(list));
  }
  fs::create_directories(plan.folder);
  const fs::path path = plan.folder / "jobs.json";
  write_file_atomic(path, json::dump(doc, 2) + "\n");
  return path;
}

train::PipelineSummary run_job(const fs::path& jobs_file, Array array, std::size_t index) {
  const json::Value doc = json::parse_file(jobs_file);
  if (doc.get_string("format") != kJobsFormat)
    throw Error(fmt::format("{}: not a w2s sweep jobs file (format {})", jobs_file.string(), kJobsFormat));
  const json::Value& list = doc.at(array_name(array));
  if (index >= list.size())
    throw Error(fmt::format("{}: no {} job {} (there are {})", jobs_file.string(), array_name(array), index, list.size()));
  const json::Value& job = list.at(index);
  const PipelineOptions o = options_from_flags(job.at("options"));
  const char* devices = std::getenv("CUDA_VISIBLE_DEVICES");
  log::info("[w2s sweep] job {} of sweep {}: run {} (CUDA_VISIBLE_DEVICES={})", job.get_string("id"),
            doc.get_string("name"), o.run_name, devices ? fmt::format("'{}'", devices) : std::string("unset"));
  if (array == Array::Students) return train::run_pipeline(o);
  return train::run_shared_stage(o, job.get_string("stage") == "floor" ? train::SharedStage::Floor
                                                                        : train::SharedStage::Ceiling);
}

}  // namespace w2s::sweep
