// The logging facade over spdlog: one stderr logger, a global level, redaction of secrets.
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "w2s/core.h"

namespace w2s::log {
namespace {

std::atomic<Level> g_level{Level::Info};

std::mutex g_secrets_mutex;
std::vector<std::string> g_secrets;  // guarded by g_secrets_mutex

spdlog::logger& logger() {
  // Not in spdlog's registry: nothing else can replace or drop it. Colours only on a terminal.
  static const std::shared_ptr<spdlog::logger> instance = [] {
    auto l = std::make_shared<spdlog::logger>("w2s", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    l->set_pattern("[%H:%M:%S] %^%l%$ %v");
    l->set_level(spdlog::level::trace);  // filtering is ours (enabled())
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *instance;
}

spdlog::level::level_enum spdlog_level(Level level) {
  switch (level) {
    case Level::Debug: return spdlog::level::debug;
    case Level::Info: return spdlog::level::info;
    case Level::Warn: return spdlog::level::warn;
    case Level::Error: return spdlog::level::err;
    case Level::Off: break;
  }
  return spdlog::level::off;
}

}  // namespace

void set_level(Level level) { g_level.store(level); }
Level level() { return g_level.load(); }
bool enabled(Level l) { return l != Level::Off && static_cast<int>(l) >= static_cast<int>(level()); }

void redact(std::string secret) {
  if (secret.empty()) return;
  const std::lock_guard lock(g_secrets_mutex);
  g_secrets.push_back(std::move(secret));
}

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  std::string text(message);
  {
    const std::lock_guard lock(g_secrets_mutex);
    static constexpr std::string_view kRedacted = "[redacted]";
    for (const auto& secret : g_secrets)
      for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + kRedacted.size()))
        text.replace(at, secret.size(), kRedacted);
  }
  logger().log(spdlog_level(level), "{}", text);
}

}  // namespace w2s::log
