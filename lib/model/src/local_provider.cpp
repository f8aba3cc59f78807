// The local provider: chat requests answered by in-process causal LMs (docs/icl.md, "Local
// models"). Per model of a batch: render and tokenize every prompt, group the prompts that differ
// only in their last message (one evaluation point: system prompt + shots, then the question),
// compute the group's longest common token prefix once into a KV cache (extending the previous
// group's prefix where it begins with it: nested shot counts), and decode the group's questions
// greedily together, as padded batches of questions of similar lengths (batches_by_length) that
// read the prefix's keys and values by broadcasting (KVCache's shared part): the prefix is neither
// copied per question nor written to.
#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "w2s/model_torch.h"

namespace w2s::model {
namespace {

namespace fs = std::filesystem;

std::vector<std::int64_t> ids_in(const json::Value* v) {
  std::vector<std::int64_t> ids;
  if (!v) return ids;
  if (v->is_int()) ids.push_back(v->as_int());
  if (v->is_array())
    for (const auto& x : v->as_array())
      if (x.is_int()) ids.push_back(x.as_int());
  return ids;
}

// A model in memory with what decoding needs.
struct LoadedModel {
  std::string id;
  CausalLM lm{nullptr};
  std::optional<Tokenizer> tokenizer;
  ChatTemplate chat;
  std::set<std::int64_t> stop_ids;  // EOS ids of tokenizer, config, generation_config; end of turn
  // Tokens whose text is one option letter A-Z (whitespace aside), with that text.
  std::vector<std::int64_t> letter_ids;
  std::vector<std::string> letter_texts;
  // The last shared prefix computed, its tokens and batch-1 cache: the next group's prefix grows
  // from the tokens they have in common.
  std::vector<std::int64_t> prefix_ids;
  KVCache prefix;
};

std::string group_key(const llm::ChatRequest& r) {
  std::string key;
  for (std::size_t i = 0; i + 1 < r.messages.size(); ++i)
    key += r.messages[i].role + '\x1f' + r.messages[i].content + '\x1e';
  return key;
}

std::size_t common_prefix(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) {
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<std::size_t>(ia - a.begin());
}

llm::Completion failed(const std::string& model, std::string error) {
  llm::Completion c;
  c.model = model;
  c.provider = "local";
  c.cost_source = "none";
  c.attempts = 1;
  c.error = std::move(error);
  return c;
}

class LocalModels final : public LocalProvider {
 public:
  LocalModels(LocalProviderOptions options, ModelResolver resolve, fs::path hash_memo)
      : options_(std::move(options)),
        resolve_(std::move(resolve)),
        hash_memo_(std::move(hash_memo)),
        placement_(resolve_placement(options_.run)),
        chat_{.chat_date = options_.chat.chat_date.value_or(today_utc()),
              .fold_system_prompt = options_.chat.fold_system_prompt} {}

  std::string endpoint(const std::string& model) override {
    json::Value key = identity(model);
    for (const char* where : {"path", "device", "prefix_cache"}) key.set(where, json::Value());
    return "local:" + sha256_hex(json::dump_canonical(key));
  }

  std::optional<json::Value> model_identity(const std::string& model) override { return identity(model); }

  std::vector<llm::Completion> run_batch(const std::vector<llm::ChatRequest>& requests,
                                         const llm::ResultCallback& on_result) override;

  void check_model(const std::string& model, const std::vector<llm::Message>& messages) override;

 private:
  fs::path dir_of(const std::string& model) {
    auto it = dirs_.find(model);
    if (it != dirs_.end()) return it->second;
    fs::path dir = resolve_ ? resolve_(model) : fs::path(model);
    if (!fs::is_directory(dir))
      throw Error("local model '" + model + "' is not a model directory (config.json, tokenizer.json, "
                  "model.safetensors) nor a Hugging Face id found in the models directory");
    return dirs_[model] = dir;
  }

  // {provider, path, revision, config/tokenizer/weights sha256, chat_template, dtype, device, ...}
  const json::Value& identity(const std::string& model) {
    auto it = identities_.find(model);
    if (it != identities_.end()) return it->second;
    const fs::path dir = dir_of(model);
    json::Value id = json::Value::object();
    id.set("provider", "local");
    id.set("path", fs::absolute(dir).lexically_normal().string());
    if (fs::exists(dir / ".w2s-hub.json")) {
      const json::Value hub = json::parse_file(dir / ".w2s-hub.json");
      id.set("repo", hub.get_string("repo"));
      id.set("revision", hub.get_string("commit"));
    }
    const json::Value files = model_files_identity(dir, hash_memo_);
    for (const auto& [key, value] : files.as_object()) id.set(key, value);
    const ChatTemplate chat = read_chat_template(dir);
    if (chat.kind == ChatTemplateKind::Plain) {
      id.set("chat_template", "plain (the model has no chat_template)");
    } else {
      id.set("chat_template", "jinja (" + fs::path(chat.origin).filename().string() + ")");
      id.set("chat_template_sha256", sha256_hex(chat.source));
      if (chat.uses_date()) id.set("chat_date", *chat_.chat_date);
    }
    if (chat_.fold_system_prompt) id.set("fold_system_prompt", true);
    id.set("dtype", dtype_name(placement_.dtype));
    id.set("device", placement_.device.str());
    id.set("prefix_cache", options_.prefix_cache);
    id.set("decoding", "greedy");
    return identities_[model] = std::move(id);
  }

  LoadedModel& load(const std::string& model) {
    if (loaded_ && loaded_->id == model) return *loaded_;
    loaded_.reset();  // one model in memory at a time
    const fs::path dir = dir_of(model);
    auto m = std::make_unique<LoadedModel>();
    m->id = model;
    log::info("local model {}: loading {} ({} on {})", model, dir.string(), dtype_name(placement_.dtype),
              placement_.device.str());
    m->lm = load_causal_lm(dir, placement_);
    m->lm->eval();
    m->tokenizer.emplace(Tokenizer::from_dir(dir));
    m->chat = read_chat_template(dir);
    const Tokenizer& tok = *m->tokenizer;
    if (tok.eos_id()) m->stop_ids.insert(*tok.eos_id());
    if (m->lm->config().eos_token_id) m->stop_ids.insert(*m->lm->config().eos_token_id);
    if (fs::exists(dir / "generation_config.json")) {
      const json::Value generation = json::parse_file(dir / "generation_config.json");
      for (std::int64_t id : ids_in(generation.find("eos_token_id"))) m->stop_ids.insert(id);
    }
    // The template's end of an assistant turn (<|eot_id|>, <|im_end|>) when it is a special token.
    if (const auto end = end_of_turn_text(m->chat))
      if (const auto ids = tok.encode(*end, false); !ids.empty() && tok.decode({ids[0]}, true).empty())
        m->stop_ids.insert(ids[0]);
    const std::int64_t vocab = std::min(tok.vocab_size(), m->lm->config().vocab_size);
    for (std::int64_t id = 0; id < vocab; ++id) {
      std::string text;
      try {
        text = tok.decode({id}, false);
      } catch (const Error&) {
        continue;
      }
      const auto b = text.find_first_not_of(" \t\n");
      if (b == std::string::npos) continue;
      const auto e = text.find_last_not_of(" \t\n");
      if (e == b && std::isupper(static_cast<unsigned char>(text[b])) && static_cast<unsigned char>(text[b]) < 128) {
        m->letter_ids.push_back(id);
        m->letter_texts.push_back(text);
      }
    }
    loaded_ = std::move(m);
    return *loaded_;
  }

  // The cache of `head` (batch 1), computed from the last prefix's cache where they share tokens.
  const KVCache& prefix_cache(LoadedModel& m, const std::vector<std::int64_t>& head) const;
  // Greedy answers to the requests `rows` (their tokens in `ids`), decoded as one right-padded
  // batch whose first `reused` tokens are `prefix`'s (0: none). Each answer's latency is its share
  // of the batch's time.
  std::vector<llm::Completion> answer_batch(LoadedModel& m, const std::vector<llm::ChatRequest>& requests,
                                            const std::vector<std::vector<std::int64_t>>& ids,
                                            const std::vector<std::size_t>& rows, const KVCache& prefix,
                                            std::int64_t reused) const;

  LocalProviderOptions options_;
  ModelResolver resolve_;
  fs::path hash_memo_;
  Placement placement_;
  ChatOptions chat_;  // the date resolved once, so a run renders every prompt alike
  std::map<std::string, fs::path> dirs_;
  std::map<std::string, json::Value> identities_;
  std::unique_ptr<LoadedModel> loaded_;
  bool warned_temperature_ = false;
};

const KVCache& LocalModels::prefix_cache(LoadedModel& m, const std::vector<std::int64_t>& head) const {
  const std::size_t common = common_prefix(m.prefix_ids, head);
  if (common == head.size() && common == m.prefix_ids.size()) return m.prefix;
  KVCache cache = common > 0 ? truncated(m.prefix, static_cast<std::int64_t>(common)) : KVCache{};
  if (common < head.size()) {
    const std::vector<std::int64_t> rest(head.begin() + static_cast<std::ptrdiff_t>(common), head.end());
    const auto input = torch::tensor(rest, torch::kLong).unsqueeze(0).to(placement_.device);
    const auto mask = torch::ones({1, static_cast<std::int64_t>(head.size())}, input.options());
    m.lm->forward_hidden(input, mask, &cache);  // keys and values only
  }
  m.prefix_ids = head;
  m.prefix = std::move(cache);
  return m.prefix;
}

std::vector<llm::Completion> LocalModels::answer_batch(LoadedModel& m, const std::vector<llm::ChatRequest>& requests,
                                                       const std::vector<std::vector<std::int64_t>>& ids,
                                                       const std::vector<std::size_t>& rows, const KVCache& prefix,
                                                       std::int64_t reused) const {
  const double start = monotonic_seconds();
  const Tokenizer& tok = *m.tokenizer;
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(placement_.device);
  const std::int64_t b = static_cast<std::int64_t>(rows.size());
  const std::int64_t context = m.lm->config().max_position_embeddings;
  std::vector<llm::Completion> out(rows.size());
  std::vector<std::int64_t> max_new(rows.size());
  std::vector<std::vector<std::int64_t>> generated(rows.size());
  std::vector<std::optional<std::string>> cut(rows.size());  // content up to a stop string
  std::vector<bool> active(rows.size());
  std::int64_t longest = 0;
  for (std::size_t j = 0; j < rows.size(); ++j) {
    const std::int64_t length = static_cast<std::int64_t>(ids[rows[j]].size());
    max_new[j] = std::min<std::int64_t>(requests[rows[j]].max_tokens.value_or(context), context - length);
    longest = std::max(longest, length - reused);
    llm::Completion& c = out[j];
    c.ok = true;
    c.model = m.id;
    c.provider = "local";
    c.cost_source = "none";
    c.attempts = 1;
    c.finish_reason = "length";
    c.prompt_tokens = length;
    c.cached_tokens = reused;
    active[j] = max_new[j] > 0;
  }
  // The rows' own tokens, right-padded (pads masked out: they change no real token's attention).
  std::vector<std::int64_t> input_ids(static_cast<std::size_t>(b * longest), 0), real(input_ids.size(), 0);
  for (std::size_t j = 0; j < rows.size(); ++j) {
    const auto& row = ids[rows[j]];
    for (std::size_t k = static_cast<std::size_t>(reused); k < row.size(); ++k) {
      const std::size_t at = j * static_cast<std::size_t>(longest) + k - static_cast<std::size_t>(reused);
      input_ids[at] = row[k];
      real[at] = 1;
    }
  }
  torch::Tensor input = torch::tensor(input_ids, torch::kLong).view({b, longest}).to(placement_.device);
  torch::Tensor mask = torch::cat({torch::ones({b, reused}, long_opts),
                                   torch::tensor(real, torch::kLong).view({b, longest}).to(placement_.device)},
                                  1);
  KVCache cache = reused > 0 ? shared_prefix(prefix, reused) : KVCache{};
  for (std::int64_t step = 0; std::find(active.begin(), active.end(), true) != active.end(); ++step) {
    const torch::Tensor logits = m.lm->forward_last(input, mask, &cache).to(torch::kFloat32).to(torch::kCPU);
    const torch::Tensor next = logits.argmax(1);
    std::vector<std::int64_t> fed(rows.size(), 0), alive(rows.size(), 0);
    for (std::size_t j = 0; j < rows.size(); ++j) {
      if (!active[j]) continue;
      const llm::ChatRequest& r = requests[rows[j]];
      llm::Completion& c = out[j];
      const std::int64_t token = next[static_cast<std::int64_t>(j)].item<std::int64_t>();
      ++c.completion_tokens;
      if (r.logprobs) {
        const torch::Tensor logp = torch::log_softmax(logits[static_cast<std::int64_t>(j)], -1);
        llm::TokenLogprob t{tok.decode({token}, false), logp[token].item<double>(), {}};
        if (step == 0 && !m.letter_ids.empty()) {
          const torch::Tensor letters = logp.index_select(0, torch::tensor(m.letter_ids, torch::kLong)).contiguous();
          const auto* values = letters.data_ptr<float>();
          for (std::size_t i = 0; i < m.letter_ids.size(); ++i) t.top.push_back({m.letter_texts[i], values[i]});
        }
        c.logprobs.push_back(std::move(t));
      }
      if (m.stop_ids.count(token)) {
        c.finish_reason = "stop";
        active[j] = false;
        continue;
      }
      generated[j].push_back(token);
      if (!r.stop.empty()) {
        const std::string text = tok.decode(generated[j], true);
        for (const auto& s : r.stop)
          if (const auto at = text.find(s); !s.empty() && at != std::string::npos && (!cut[j] || at < cut[j]->size()))
            cut[j] = text.substr(0, at);
        if (cut[j]) {
          c.finish_reason = "stop";
          active[j] = false;
          continue;
        }
      }
      if (c.completion_tokens >= max_new[j]) {
        active[j] = false;
        continue;
      }
      fed[j] = token;
      alive[j] = 1;
    }
    input = torch::tensor(fed, torch::kLong).view({b, 1}).to(placement_.device);
    mask = torch::cat({mask, torch::tensor(alive, torch::kLong).view({b, 1}).to(placement_.device)}, 1);
  }
  const double share = (monotonic_seconds() - start) / static_cast<double>(b);
  for (std::size_t j = 0; j < rows.size(); ++j) {
    out[j].content = cut[j] ? *cut[j] : tok.decode(generated[j], true);
    out[j].latency_s = share;
  }
  return out;
}

void LocalModels::check_model(const std::string& model, const std::vector<llm::Message>& messages) {
  const fs::path dir = dir_of(model);
  try {
    const ModelConfig config = read_model_config(dir);
    for (const fs::path& file : weight_files(dir)) SafetensorsFile weights(file);  // validates the header
    const Tokenizer tok = Tokenizer::from_dir(dir);
    if (tok.vocab_size() > config.vocab_size)
      throw Error(fmt::format("the tokenizer has {} ids, the model's vocabulary {} (config.json vocab_size)",
                              tok.vocab_size(), config.vocab_size));
    const ChatTemplate chat = read_chat_template(dir);
    std::string prompt;
    try {
      prompt = render_chat(chat, messages, chat_);
    } catch (const Error& e) {
      if (chat_.fold_system_prompt || messages.empty() || messages.front().role != "system") throw;
      throw Error(std::string(e.what()) +
                  " (--fold-system-prompt puts the system prompt into the first user message, for templates that "
                  "refuse a system role)");
    }
    const auto ids = tok.encode(prompt, chat.add_special_tokens());
    if (static_cast<std::int64_t>(ids.size()) >= config.max_position_embeddings)
      throw Error(fmt::format("the experiment's longest prompt has {} tokens; the model's context is {} "
                              "(max_position_embeddings)",
                              ids.size(), config.max_position_embeddings));
    log::debug("local model {}: checked ({} tokens in the longest prompt)", model, ids.size());
  } catch (const Error& e) {
    throw Error("local model '" + model + "' (" + dir.string() + "): " + e.what());
  }
}

std::vector<llm::Completion> LocalModels::run_batch(const std::vector<llm::ChatRequest>& requests,
                                                    const llm::ResultCallback& on_result) {
  std::vector<llm::Completion> out(requests.size());
  // The progress line of the API's batches: answers so far, the rate and the ETA.
  std::unique_ptr<ProgressLine> progress;
  if (options_.progress) progress = std::make_unique<ProgressLine>(fmt::format("local {} requests", requests.size()));
  const double batch_started = monotonic_seconds();
  std::size_t finished = 0, failures = 0;
  auto progress_status = [&] {
    const double rate = static_cast<double>(finished) / std::max(1e-9, monotonic_seconds() - batch_started);
    const std::string eta =
        rate > 0 && finished < requests.size() ? format_duration(static_cast<double>(requests.size() - finished) / rate)
                                               : "-";
    return fmt::format("{}/{} done ({} failed), {:.2f} answers/s, ETA {}", finished, requests.size(), failures, rate,
                       eta);
  };
  auto deliver = [&](std::size_t i, llm::Completion c) {
    out[i] = std::move(c);
    ++finished;
    if (!out[i].ok) ++failures;
    if (progress) progress->update(progress_status());
    if (on_result) on_result(i, out[i]);
  };
  std::vector<std::string> models;
  for (const auto& r : requests) {
    if (std::find(models.begin(), models.end(), r.model) == models.end()) models.push_back(r.model);
    if (r.temperature.value_or(0.0) > 0.0 && !warned_temperature_) {
      log::warn("local models decode greedily: --temperature {} is not applied", *r.temperature);
      warned_temperature_ = true;
    }
  }
  for (const std::string& model : models) {
    LoadedModel& m = load(model);
    // Tokenized prompts, grouped by everything but their last message (in first-seen order).
    std::vector<std::string> keys;
    std::map<std::string, std::vector<std::size_t>> groups;
    std::vector<std::vector<std::int64_t>> ids(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      if (requests[i].model != model) continue;
      try {
        ids[i] = m.tokenizer->encode(render_chat(m.chat, requests[i].messages, chat_), m.chat.add_special_tokens());
        if (ids[i].empty()) throw Error("the prompt has no tokens");
      } catch (const Error& e) {
        deliver(i, failed(model, e.what()));
        continue;
      }
      const std::string key = group_key(requests[i]);
      if (!groups.count(key)) keys.push_back(key);
      groups[key].push_back(i);
    }
    std::size_t done = 0, reused_tokens = 0, prompt_tokens = 0;
    const double started = monotonic_seconds();
    const std::int64_t context = m.lm->config().max_position_embeddings;
    for (const std::string& key : keys) {
      std::vector<std::size_t> members;
      for (std::size_t i : groups[key]) {
        if (static_cast<std::int64_t>(ids[i].size()) < context) {
          members.push_back(i);
          continue;
        }
        deliver(i, failed(model, fmt::format("the prompt has {} tokens; the model's context is {} "
                                             "(max_position_embeddings)",
                                             ids[i].size(), context)));
      }
      if (members.empty()) continue;
      std::size_t shared = 0;
      if (options_.prefix_cache && members.size() > 1) {
        shared = ids[members[0]].size() - 1;  // every question keeps a token of its own
        for (std::size_t i : members) shared = std::min({shared, common_prefix(ids[members[0]], ids[i]), ids[i].size() - 1});
      }
      std::size_t longest = 0;
      for (std::size_t i : members) longest = std::max(longest, ids[i].size() - shared);
      // As many questions per batch as keep its score and MLP tensors within the forward budget
      // (at its first step, the largest: every own token of every row against the whole prompt).
      // A model whose rotary tables follow the batch (longrope) could give a question a longer
      // neighbour's factors: it answers one question at a time, each as alone.
      const std::size_t per_batch =
          m.lm->rotary_depends_on_batch()
              ? 1
              : std::max<std::size_t>(1, static_cast<std::size_t>(query_tokens_within_budget(
                                             m.lm->config(), static_cast<std::int64_t>(shared + longest), placement_.dtype)) /
                                             longest);
      try {
        torch::NoGradGuard no_grad;
        const std::vector<std::int64_t> head(ids[members[0]].begin(),
                                             ids[members[0]].begin() + static_cast<std::ptrdiff_t>(shared));
        const KVCache prefix = shared > 0 ? prefix_cache(m, head) : KVCache{};  // tensor handles, not copies
        std::vector<std::size_t> own;  // each question's tokens after the shared prefix
        for (std::size_t i : members) own.push_back(ids[i].size() - shared);
        for (const std::vector<std::size_t>& batch : batches_by_length(own, per_batch)) {
          std::vector<std::size_t> rows;
          for (std::size_t k : batch) rows.push_back(members[k]);
          std::vector<llm::Completion> answers =
              answer_batch(m, requests, ids, rows, prefix, static_cast<std::int64_t>(shared));
          for (std::size_t j = 0; j < rows.size(); ++j) {
            reused_tokens += static_cast<std::size_t>(answers[j].cached_tokens);
            prompt_tokens += static_cast<std::size_t>(answers[j].prompt_tokens);
            deliver(rows[j], std::move(answers[j]));
            ++done;
          }
        }
      } catch (const std::exception& e) {
        for (std::size_t i : members)
          if (out[i].model.empty()) deliver(i, failed(model, std::string("local model: ") + e.what()));  // not yet delivered
      }
    }
    log::info("local model {}: {} answers in {:.1f} s ({} prompt tokens, {} of them from shared prefixes)", model,
              done, monotonic_seconds() - started, prompt_tokens, reused_tokens);
  }
  if (progress) progress->finish(progress_status());
  return out;
}

}  // namespace

std::vector<std::vector<std::size_t>> batches_by_length(const std::vector<std::size_t>& lengths, std::size_t per_batch) {
  if (per_batch == 0) throw Error("batches_by_length: a batch holds at least one question");
  std::vector<std::size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t from = 0; from < order.size(); from += per_batch)
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(from),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), from + per_batch)));
  return batches;
}

std::unique_ptr<LocalProvider> make_local_provider(const LocalProviderOptions& options, ModelResolver resolve,
                                                   fs::path hash_memo) {
  return std::make_unique<LocalModels>(options, std::move(resolve), std::move(hash_memo));
}

}  // namespace w2s::model
