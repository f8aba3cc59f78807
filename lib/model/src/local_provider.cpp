// The local provider: chat requests answered by in-process causal LMs (docs/icl.md, "Local
// models"). Per model of a batch: render and tokenize every prompt, group the prompts that differ
// only in their last message (one evaluation point: system prompt + shots, then the question),
// compute the group's longest common token prefix once into a KV cache, and decode each question
// greedily from a copy of it. KVCache copies share tensors and the forward pass appends with
// torch::cat, so the shared prefix is never written to.
#include <torch/torch.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

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

  llm::Completion answer(LoadedModel& m, const llm::ChatRequest& r, const std::vector<std::int64_t>& ids,
                         const KVCache& prefix) const;

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

llm::Completion LocalModels::answer(LoadedModel& m, const llm::ChatRequest& r, const std::vector<std::int64_t>& ids,
                                    const KVCache& prefix) const {
  const double start = monotonic_seconds();
  torch::NoGradGuard no_grad;
  const Tokenizer& tok = *m.tokenizer;
  const auto device = placement_.device;
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  const std::int64_t context = m.lm->config().max_position_embeddings;
  const std::int64_t prompt_length = static_cast<std::int64_t>(ids.size());
  if (prompt_length >= context)
    return failed(m.id, fmt::format("the prompt has {} tokens; the model's context is {} (max_position_embeddings)",
                                    prompt_length, context));
  const std::int64_t max_new = std::min<std::int64_t>(r.max_tokens.value_or(context), context - prompt_length);

  KVCache cache = prefix;
  const std::int64_t reused = cache.length();
  std::vector<std::int64_t> rest(ids.begin() + reused, ids.end());
  torch::Tensor input = torch::tensor(rest, torch::kLong).unsqueeze(0).to(device);
  llm::Completion c;
  c.ok = true;
  c.model = m.id;
  c.provider = "local";
  c.cost_source = "none";
  c.attempts = 1;
  c.finish_reason = "length";
  std::vector<std::int64_t> generated;
  std::optional<std::string> cut;  // content up to a stop string
  std::int64_t steps = 0;
  for (; steps < max_new; ++steps) {
    const torch::Tensor mask = torch::ones({1, cache.length() + input.size(1)}, long_opts);
    const torch::Tensor logits = m.lm->forward_last(input, mask, &cache).squeeze(0).to(torch::kFloat32);
    const std::int64_t next = logits.argmax().item<std::int64_t>();
    if (r.logprobs) {
      const torch::Tensor logp = torch::log_softmax(logits, -1).to(torch::kCPU);
      llm::TokenLogprob t{tok.decode({next}, false), logp[next].item<double>(), {}};
      if (steps == 0 && !m.letter_ids.empty()) {
        const torch::Tensor letters = logp.index_select(0, torch::tensor(m.letter_ids, torch::kLong));
        const auto* values = letters.data_ptr<float>();
        for (std::size_t i = 0; i < m.letter_ids.size(); ++i) t.top.push_back({m.letter_texts[i], values[i]});
      }
      c.logprobs.push_back(std::move(t));
    }
    if (m.stop_ids.count(next)) {
      c.finish_reason = "stop";
      ++steps;
      break;
    }
    generated.push_back(next);
    if (!r.stop.empty()) {
      const std::string text = tok.decode(generated, true);
      for (const auto& s : r.stop)
        if (const auto at = text.find(s); !s.empty() && at != std::string::npos && (!cut || at < cut->size()))
          cut = text.substr(0, at);
      if (cut) {
        c.finish_reason = "stop";
        ++steps;
        break;
      }
    }
    input = torch::full({1, 1}, next, long_opts);
  }
  c.content = cut ? *cut : tok.decode(generated, true);
  c.prompt_tokens = prompt_length;
  c.cached_tokens = reused;
  c.completion_tokens = steps;
  c.latency_s = monotonic_seconds() - start;
  return c;
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
    for (const std::string& key : keys) {
      const std::vector<std::size_t>& members = groups[key];
      KVCache prefix;
      if (options_.prefix_cache && members.size() > 1) {
        std::size_t shared = ids[members[0]].size() - 1;  // every question keeps a token of its own
        for (std::size_t i : members) shared = std::min({shared, common_prefix(ids[members[0]], ids[i]), ids[i].size() - 1});
        const std::int64_t context = m.lm->config().max_position_embeddings;
        if (shared > 0 && static_cast<std::int64_t>(shared) < context) {
          torch::NoGradGuard no_grad;
          const std::vector<std::int64_t> head(ids[members[0]].begin(), ids[members[0]].begin() + shared);
          const auto input = torch::tensor(head, torch::kLong).unsqueeze(0).to(placement_.device);
          m.lm->forward_hidden(input, torch::ones_like(input), &prefix);  // keys and values only
        }
      }
      for (std::size_t i : members) {
        llm::Completion c;
        try {
          c = answer(m, requests[i], ids[i], prefix);
        } catch (const std::exception& e) {
          c = failed(model, std::string("local model: ") + e.what());
        }
        reused_tokens += static_cast<std::size_t>(c.cached_tokens);
        prompt_tokens += static_cast<std::size_t>(c.prompt_tokens);
        deliver(i, std::move(c));
        ++done;
      }
    }
    log::info("local model {}: {} answers in {:.1f} s ({} prompt tokens, {} of them from shared prefixes)", model,
              done, monotonic_seconds() - started, prompt_tokens, reused_tokens);
  }
  if (progress) progress->finish(progress_status());
  return out;
}

}  // namespace

std::unique_ptr<LocalProvider> make_local_provider(const LocalProviderOptions& options, ModelResolver resolve,
                                                   fs::path hash_memo) {
  return std::make_unique<LocalModels>(options, std::move(resolve), std::move(hash_memo));
}

}  // namespace w2s::model
