// The w2s executable: help, version, dispatch, config files and error exit codes; the option
// parser (cli.h) directly: deprecated aliases and the log level.
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "assets.h"
#include "cli.h"
#include "fixtures.h"
#include "w2s/core.h"
#include "w2s/data.h"
#include "w2s/results.h"
#include "w2s/utf8.h"

namespace po = w2s::cli::po;
namespace fs = std::filesystem;

namespace {
std::string w2s_cmd(const std::string& args) { return w2s::test::w2s_binary().string() + " " + args; }

// cli::parse over `args` (argv[0] added); returns the variables and what was written to stderr.
struct Parsed {
  po::variables_map vm;
  std::string err;
};
Parsed parse(std::vector<std::string> args, const po::options_description& options,
             const std::vector<w2s::cli::DeprecatedAlias>& aliases) {
  args.insert(args.begin(), "w2s test");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStderr();
  std::optional<po::variables_map> vm;
  try {
    vm = w2s::cli::parse(static_cast<int>(argv.size()), argv.data(), "w2s test", options, {}, aliases);
  } catch (...) {
    ::testing::internal::GetCapturedStderr();
    throw;
  }
  return {*vm, ::testing::internal::GetCapturedStderr()};
}

po::options_description seed_options() {
  po::options_description o("Options");
  o.add_options()("data-seed", po::value<std::int64_t>()->default_value(42), "seed")(
      "no-progress", po::bool_switch(), "no progress line");
  return o;
}

const std::vector<w2s::cli::DeprecatedAlias> kAliases = {{"tqa-seed", "data-seed"},
                                                         {"progress", "no-progress", true}};
}  // namespace

TEST(Cli, HelpListsWorkingCommandsOnly) {
  std::string out;
  ASSERT_EQ(w2s::test::run_command(w2s_cmd("--help"), &out), 0) << out;
  // Listed once each, in pipeline order (model and train only in a libtorch build).
  std::size_t last = 0;
  for (const char* cmd : {"data", "baseline", "gold-sweep", "weak-sweep", "model", "train", "analyze", "plot", "report"}) {
    const auto at = out.find(std::string("\n  ") + cmd + " ");
    if (at == std::string::npos && (std::string(cmd) == "model" || std::string(cmd) == "train")) continue;
    ASSERT_NE(at, std::string::npos) << cmd << " missing from\n" << out;
    EXPECT_GT(at, last) << cmd << " out of order in\n" << out;
    EXPECT_EQ(out.find(std::string("\n  ") + cmd + " ", at + 1), std::string::npos) << cmd << " listed twice";
    last = at;
  }
  // Every listed command answers --help with its usage.
  for (const char* cmd : {"data", "baseline", "gold-sweep", "weak-sweep", "analyze", "plot", "report"}) {
    std::string help;
    EXPECT_EQ(w2s::test::run_command(w2s_cmd(std::string(cmd) + " --help"), &help), 0) << cmd;
    EXPECT_NE(help.find("usage: w2s " + std::string(cmd)), std::string::npos) << help;
    EXPECT_NE(help.find("--config"), std::string::npos) << help;
  }
}

TEST(Cli, VersionPrintsVersionAndCommit) {
  std::string out;
  ASSERT_EQ(w2s::test::run_command(w2s_cmd("--version"), &out), 0);
  EXPECT_EQ(out.rfind(std::string("w2s ") + w2s::tool_version(), 0), 0u) << out;
}

TEST(Cli, UnknownCommandAndBadOptionsExitTwo) {
  std::string out;
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("frobnicate"), &out), 2);
  EXPECT_NE(out.find("unknown command 'frobnicate'"), std::string::npos) << out;
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("data truthfulqa --no-such-option"), &out), 2);
  EXPECT_NE(out.find("no-such-option"), std::string::npos) << out;
}

// Issue 21.11: a bad option value exits 2 before any data is read or request sent.
TEST(Cli, OptionValuesAreCheckedBeforeAnythingIsDone) {
  const auto dir = w2s::test::scratch_dir("cli_option_values");
  const std::string nowhere = " --data-dir " + (dir / "no-data").string() + " --base-url http://127.0.0.1:9 --models a/b";
  std::string out;
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("baseline --reasoning-effort bogus" + nowhere), &out), 2) << out;
  EXPECT_CONTAINS(out, "unknown effort 'bogus' (expected one of: minimal, low, medium, high)");
  EXPECT_EQ(out.find("no-data"), std::string::npos) << "the data was looked for before the options were checked";
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("weak-sweep --reasoning-effort high --reasoning-max-tokens 10" + nowhere), &out), 2)
      << out;
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("baseline --run-name a/b" + nowhere), &out), 2) << out;
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("analyze"), &out), 2) << out;
  EXPECT_CONTAINS(out, "give a results directory or result files");
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("report"), &out), 2) << out;
  std::string help;
  w2s::test::run_command(w2s_cmd("--help"), &help);
  if (help.find("\n  train ") == std::string::npos) return;  // a build without libtorch has no `w2s train`
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("train --batch-size 7 --minibatch-size 2 --results-dir " + (dir / "r").string()), &out),
            2)
      << out;
  EXPECT_CONTAINS(out, "--batch-size (7) must be a positive multiple of --minibatch-size (2)");
  EXPECT_FALSE(std::filesystem::exists(dir / "r"));
}

TEST(Cli, ConfigFileSuppliesOptionsAndCommandLineWins) {
  const auto dir = w2s::test::scratch_dir("cli_config");
  const auto data = (w2s::test::assets_dir() / "data").string();
  w2s::write_file_atomic(dir / "a.ini", "variant = binary-local\ntest-size = 50\ndata-dir = " + data + "\n");
  std::string out;
  ASSERT_EQ(w2s::test::run_command(w2s_cmd("data truthfulqa --config " + (dir / "a.ini").string()), &out), 0) << out;
  EXPECT_NE(out.find("variant binary-local"), std::string::npos) << out;
  EXPECT_NE(out.find("test 50"), std::string::npos) << out;
  // The command line overrides the file.
  ASSERT_EQ(w2s::test::run_command(w2s_cmd("data truthfulqa --test-size 100 --config " + (dir / "a.ini").string()), &out),
            0)
      << out;
  EXPECT_NE(out.find("test 100"), std::string::npos) << out;
  // A missing config file is a clear error.
  EXPECT_EQ(w2s::test::run_command(w2s_cmd("data truthfulqa --config " + (dir / "missing.ini").string()), &out), 1);
  EXPECT_NE(out.find("missing.ini"), std::string::npos) << out;
}

// Keys as the reference's flags spell them (snake_case) are read; a wrong line is named by its
// file and line number.
TEST(Cli, ConfigFilesTakeSnakeCaseKeysAndErrorsNameTheLine) {
  const auto dir = w2s::test::scratch_dir("cli_config_lines");
  const auto data = (w2s::test::assets_dir() / "data").string();
  const auto ini = (dir / "a.ini").string();
  std::string out;
  w2s::write_file_atomic(ini, "# TruthfulQA\nvariant = binary-local\ntest_size = 50\ndata_dir = " + data + "\n");
  ASSERT_EQ(w2s::test::run_command(w2s_cmd("data truthfulqa --config " + ini), &out), 0) << out;
  EXPECT_NE(out.find("test 50"), std::string::npos) << out;
  for (const auto& [text, line, what] :
       std::vector<std::tuple<std::string, int, std::string>>{{"variant = binary-local\n\nno_such_option = 1\n", 3, "no-such-option"},
                                                              {"# a comment\ntest-size = fifty\n", 2, "fifty"},
                                                              {"variant = binary-local\njust some words\n", 2, "key = value"}}) {
    w2s::write_file_atomic(ini, text);
    EXPECT_EQ(w2s::test::run_command(w2s_cmd("data truthfulqa --config " + ini), &out), 1) << text;
    EXPECT_NE(out.find(ini + ":" + std::to_string(line) + ": "), std::string::npos) << out;
    EXPECT_NE(out.find(what), std::string::npos) << out;
  }
}

// `w2s data fetch` tries every file: with the network gone each download fails, each is named, the
// built-in files are still written, and the command fails at the end saying how many were missed.
TEST(Cli, DataFetchTriesEveryFileAndReportsEachFailure) {
  const auto dir = w2s::test::scratch_dir("cli_data_fetch");
  const std::string dead = "http://127.0.0.1:9";  // discard port: nothing listens there
  std::string out;
  const int rc = w2s::test::run_command("env http_proxy=" + dead + " https_proxy=" + dead + " HTTP_PROXY=" + dead +
                                            " HTTPS_PROXY=" + dead + " ALL_PROXY=" + dead + " " +
                                            w2s_cmd("data fetch --data-dir " + (dir / "data").string()),
                                        &out);
  EXPECT_EQ(rc, 1) << out;
  const auto files = w2s::data::known_remote_files();
  std::size_t bundled = 0;
  for (const auto& f : files) {
    EXPECT_NE(out.find(f.relative_path), std::string::npos) << f.relative_path << "\n" << out;
    if (f.bundled.empty()) continue;
    ++bundled;
    EXPECT_TRUE(fs::exists(dir / "data" / f.relative_path)) << f.relative_path;
  }
  ASSERT_GT(bundled, 0u);
  EXPECT_NE(out.find(std::to_string(files.size() - bundled) + " of " + std::to_string(files.size()) +
                     " files could not be fetched"),
            std::string::npos)
      << out;
}

// `w2s model tokenize` prints the ids on one line (and the tokens on the next), still as JSON.
TEST(Cli, ModelTokenizePrintsTheIdsOnOneLine) {
  const auto model = w2s::test::assets_dir() / "models" / "hf" / "stories260K-llama";
  std::string out;
  ASSERT_EQ(w2s::test::run_command(w2s_cmd("model tokenize " + model.string() + " --text 'Once upon a time there was a cat' 2>/dev/null"), &out),
            0)
      << out;
  const auto parsed = w2s::json::parse(out);
  const auto& ids = parsed.at("ids");
  ASSERT_GT(ids.size(), 5u);
  const auto line_start = out.find("\n  \"ids\": [");
  ASSERT_NE(line_start, std::string::npos) << out;
  const std::string line = out.substr(line_start + 1, out.find('\n', line_start + 1) - line_start - 1);
  EXPECT_EQ(line, "  \"ids\": " + w2s::json::dump(ids) + ",") << out;
}

TEST(Cli, ErrorsGoToStderrWithExitOne) {
  const auto dir = w2s::test::scratch_dir("cli_errors");
  std::string out;
  EXPECT_EQ(w2s::test::run_command("(" + w2s_cmd("analyze " + (dir / "nothing-here").string()) + " 2>/dev/null)", &out), 1);
  EXPECT_TRUE(out.empty()) << "error text leaked to stdout: " << out;
}

// A results folder with a record w2s cannot read (raw bytes a model generated, invalid UTF-8)
// is analysed without it: the file is named in a warning and in the report's notes.
TEST(Cli, AnalyzeLeavesOutABadRecordWithANote) {
  const auto dir = w2s::test::scratch_dir("cli_analyze_bad_record");
  const auto baseline = w2s::test::icl_record(w2s::results::Kind::Baseline, "m", 0, w2s::test::kGold);
  w2s::results::write_record(dir / "results" / "a.json", baseline);
  std::string bad = w2s::json::dump(w2s::results::to_json(baseline), 2);
  bad.insert(bad.find("\"run\": \"") + 8, "\xF0\x9F\x98");
  w2s::write_file_atomic(dir / "results" / "b.json", bad);
  std::string out;
  ASSERT_EQ(w2s::test::run_command(w2s_cmd("analyze " + (dir / "results").string() + " --out " + (dir / "out").string()), &out), 0)
      << out;
  EXPECT_CONTAINS(out, "warning left out of the analysis: " + (dir / "results" / "b.json").string());
  EXPECT_CONTAINS(out, "note: left out " + (dir / "results" / "b.json").string());
  EXPECT_EQ(w2s::valid_utf8(out), out);
}

TEST(Cli, AnOldOptionNameIsReadAsTheNewOneWithAWarning) {
  const auto options = seed_options();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--tqa-seed", "7"}, std::vector<std::string>{"--tqa-seed=7"}}) {
    const auto p = parse(args, options, kAliases);
    EXPECT_EQ(p.vm["data-seed"].as<std::int64_t>(), 7) << args[0];
    EXPECT_NE(p.err.find("--tqa-seed is deprecated"), std::string::npos) << p.err;
    EXPECT_NE(p.err.find("use --data-seed"), std::string::npos) << p.err;
  }
  // The new name: no warning.
  const auto p = parse({"--data-seed", "8"}, options, kAliases);
  EXPECT_EQ(p.vm["data-seed"].as<std::int64_t>(), 8);
  EXPECT_EQ(p.err.find("deprecated"), std::string::npos) << p.err;
  // Without the alias the old name is an unknown option.
  EXPECT_THROW(parse({"--tqa-seed", "7"}, options, {}), po::error);
}

TEST(Cli, ANegatedOldSwitchMapsFalseToTheNewSwitch) {
  const auto options = seed_options();
  struct Case {
    std::vector<std::string> args;
    bool no_progress;
  };
  for (const auto& c : {Case{{"--progress=false"}, true}, Case{{"--progress", "false"}, true},
                        Case{{"--progress", "0"}, true}, Case{{"--progress"}, false},
                        Case{{"--progress", "true"}, false}, Case{{"--progress", "--data-seed", "3"}, false}}) {
    const auto p = parse(c.args, options, kAliases);
    EXPECT_EQ(p.vm["no-progress"].as<bool>(), c.no_progress) << c.args.size() << " " << c.args[0];
    EXPECT_NE(p.err.find("--progress is deprecated"), std::string::npos) << p.err;
  }
  EXPECT_EQ(parse({"--progress", "--data-seed", "3"}, options, kAliases).vm["data-seed"].as<std::int64_t>(), 3);
  EXPECT_THROW(parse({"--progress=maybe"}, options, kAliases), po::error);
}

TEST(Cli, OldOptionNamesInAConfigFileAreReadWithAWarning) {
  const auto dir = w2s::test::scratch_dir("cli_alias_config");
  const auto ini = (dir / "old.ini").string();
  w2s::write_file_atomic(ini, "# old spellings\ntqa-seed = 9\nprogress = false\n");
  const auto options = seed_options();
  auto p = parse({"--config", ini}, options, kAliases);
  EXPECT_EQ(p.vm["data-seed"].as<std::int64_t>(), 9);
  EXPECT_TRUE(p.vm["no-progress"].as<bool>());
  EXPECT_NE(p.err.find(ini + ": tqa-seed is deprecated"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find(ini + ": progress is deprecated"), std::string::npos) << p.err;
  // The command line still wins over the file.
  p = parse({"--config", ini, "--data-seed", "3"}, options, kAliases);
  EXPECT_EQ(p.vm["data-seed"].as<std::int64_t>(), 3);
  // `progress = true` is the default: nothing is set.
  w2s::write_file_atomic(ini, "progress = true\n");
  EXPECT_FALSE(parse({"--config", ini}, options, kAliases).vm["no-progress"].as<bool>());
  // A value an old switch cannot take names its line.
  w2s::write_file_atomic(ini, "# old\nprogress = maybe\n");
  try {
    parse({"--config", ini}, options, kAliases);
    ADD_FAILURE() << "accepted progress = maybe";
  } catch (const w2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find(ini + ":2: --progress maybe: expected true or false"), std::string::npos)
        << e.what();
  }
}

TEST(Cli, VerboseAndQuietSetTheLogLevel) {
  const auto saved = w2s::log::level();
  const auto options = seed_options();
  parse({"--verbose"}, options, {});
  EXPECT_EQ(w2s::log::level(), w2s::log::Level::Debug);
  parse({"--quiet"}, options, {});
  EXPECT_EQ(w2s::log::level(), w2s::log::Level::Warn);
  EXPECT_THROW(parse({"--quiet", "--verbose"}, options, {}), po::error);
  w2s::log::set_level(saved);
}

TEST(Cli, DataTakesTheOldSeedSpellingsForOneRelease) {
  const auto data = (w2s::test::assets_dir() / "data").string();
  const std::string base = "data truthfulqa --show 1 --data-dir " + data;
  std::string canonical, old, in_file;
  ASSERT_EQ(w2s::test::run_command(w2s_cmd(base + " --data-seed 7 2>/dev/null"), &canonical), 0) << canonical;
  EXPECT_NE(canonical.find("format seeds 7+question_id, split seed 7"), std::string::npos) << canonical;
  ASSERT_EQ(w2s::test::run_command(w2s_cmd(base + " --tqa-seed 7"), &old), 0) << old;
  EXPECT_NE(old.find("--tqa-seed is deprecated"), std::string::npos) << old;
  EXPECT_NE(old.find(canonical), std::string::npos) << "same output as --data-seed 7:\n" << old;
  // `w2s data show --seed` was the other spelling of the same concept.
  const auto dir = w2s::test::scratch_dir("cli_data_seed");
  w2s::write_file_atomic(dir / "old.ini", "seed = 7\n");
  ASSERT_EQ(w2s::test::run_command(w2s_cmd(base + " --config " + (dir / "old.ini").string()), &in_file), 0) << in_file;
  EXPECT_NE(in_file.find("seed is deprecated"), std::string::npos) << in_file;
  EXPECT_NE(in_file.find(canonical), std::string::npos) << in_file;
}

// Issue 22: Boost.Program_options replaces the placeholders of its error messages until none is left,
// so an error about a text that holds its own placeholder never ended (`w2s analyze --resamples
// '%value%'` hung). Such text is refused before Boost sees it, on the command line (exit 2) and in a
// config file (exit 1, naming the line). `timeout` turns a hang back into a failure.
TEST(Cli, TextHoldingTheParsersPlaceholdersIsRefusedNotHungOn) {
  std::string out;
  for (const std::string args : {"analyze --resamples '%value%' .", "analyze '--%canonical_option%' .",
                                 "data truthfulqa --test-size '%option%'", "data truthfulqa --test-size=x%original_token%",
                                 "data truthfulqa %prefix%"}) {
    EXPECT_EQ(w2s::test::run_command("timeout 60 " + w2s_cmd(args), &out), 2) << args << "\n" << out;
    EXPECT_CONTAINS(out, "a placeholder of the option parser's (Boost.Program_options) error messages");
  }
  const auto dir = w2s::test::scratch_dir("cli_placeholders");
  const auto ini = (dir / "a.ini").string();
  w2s::write_file_atomic(ini, "# bootstrap\nseed = 3\nresamples = %value%\n");
  EXPECT_EQ(w2s::test::run_command("timeout 60 " + w2s_cmd("analyze . --config " + ini), &out), 1) << out;
  EXPECT_CONTAINS(out, ini + ":3: 'resamples = %value%' contains '%value%'");
  // A value Boost rejects for another reason is still reported by Boost, at once.
  EXPECT_EQ(w2s::test::run_command("timeout 60 " + w2s_cmd("analyze --resamples many ."), &out), 2) << out;
  EXPECT_CONTAINS(out, "many");
}
