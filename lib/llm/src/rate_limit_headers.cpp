#include "rate_limit_headers.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

namespace w2s::llm::retry {
namespace {

std::string trimmed(std::string_view v) {
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  return std::string(v);
}

// The whole text as a finite number.
std::optional<double> number(const std::string& v) {
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (end != v.c_str() + v.size() || !std::isfinite(x)) return std::nullopt;
  return x;
}

// A wait read from a header: finite and at most a year ("nans", "inf", 1e300 are no wait at all,
// so that a bad header can never hold a request forever).
constexpr double kLongestWaitS = 366.0 * 24 * 3600;
std::optional<double> bounded_wait(double seconds) {
  if (!std::isfinite(seconds) || seconds > kLongestWaitS) return std::nullopt;
  return std::max(0.0, seconds);
}

// "2026-11-29T15:34:31Z", "2026-11-29T15:34:31.250+01:00" -> epoch seconds.
std::optional<double> parse_rfc3339(const std::string& v) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, consumed = 0;
  double second = 0;
  if (std::sscanf(v.c_str(), "%4d-%2d-%2d%*[Tt ]%2d:%2d:%lf%n", &year, &month, &day, &hour, &minute, &second,
                  &consumed) != 6)
    return std::nullopt;
  // %lf also reads "41e30800" (infinity): a wait the header chose. Out-of-range fields are no date.
  if (!(second >= 0 && second < 61) || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  double epoch = static_cast<double>(timegm(&tm)) + second;
  const std::string zone = v.substr(static_cast<std::size_t>(consumed));
  if (zone == "Z" || zone == "z" || zone.empty()) return epoch;
  int zh = 0, zm = 0;
  if ((zone[0] == '+' || zone[0] == '-') && std::sscanf(zone.c_str() + 1, "%2d:%2d", &zh, &zm) == 2) {
    const double offset = zh * 3600.0 + zm * 60.0;
    return zone[0] == '+' ? epoch - offset : epoch + offset;
  }
  return std::nullopt;
}

std::optional<double> parse_date(const std::string& v, std::time_t now) {
  std::optional<double> when = parse_rfc3339(v);
  if (!when) {
    const std::time_t t = curl_getdate(v.c_str(), nullptr);
    if (t < 0) return std::nullopt;
    when = static_cast<double>(t);
  }
  return bounded_wait(*when - static_cast<double>(now));
}

struct Limit {
  const char* reset;
  const char* remaining;
};
constexpr Limit kPerLimitResets[] = {
    {"x-ratelimit-reset-requests", "x-ratelimit-remaining-requests"},
    {"x-ratelimit-reset-tokens", "x-ratelimit-remaining-tokens"},
    {"anthropic-ratelimit-requests-reset", "anthropic-ratelimit-requests-remaining"},
    {"anthropic-ratelimit-tokens-reset", "anthropic-ratelimit-tokens-remaining"},
    {"anthropic-ratelimit-input-tokens-reset", "anthropic-ratelimit-input-tokens-remaining"},
    {"anthropic-ratelimit-output-tokens-reset", "anthropic-ratelimit-output-tokens-remaining"},
};

const std::string* header(const HeaderMap& headers, const char* name) {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

std::optional<ServerWait> per_limit_wait(const HeaderMap& headers, std::time_t now) {
  std::optional<ServerWait> exhausted, earliest;
  for (const Limit& limit : kPerLimitResets) {
    const std::string* reset = header(headers, limit.reset);
    if (!reset) continue;
    std::string form;
    const std::optional<double> s = parse_reset(*reset, now, &form);
    if (!s) continue;
    const ServerWait wait{*s, fmt::format("{}: {} ({})", limit.reset, *reset, form)};
    const std::string* remaining = header(headers, limit.remaining);
    if (remaining && number(trimmed(*remaining)) == 0.0) {
      if (!exhausted || wait.seconds > exhausted->seconds) exhausted = wait;
    } else if (!earliest || wait.seconds < earliest->seconds) {
      earliest = wait;
    }
  }
  return exhausted ? exhausted : earliest;
}

}  // namespace

bool is_rate_limit_header(std::string_view name) {
  return name.find("retry-after") != std::string_view::npos || name.find("ratelimit") != std::string_view::npos;
}

std::optional<double> parse_retry_after(std::string_view value, std::time_t now) {
  const std::string v = trimmed(value);
  if (v.empty()) return std::nullopt;
  if (const auto seconds = number(v)) return bounded_wait(*seconds);
  return parse_date(v, now);
}

std::optional<double> parse_duration(std::string_view value) {
  const std::string v = trimmed(value);
  if (v.empty()) return std::nullopt;
  double total = 0.0;
  std::size_t i = 0;
  while (i < v.size()) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str() + i, &end);
    const std::size_t after = static_cast<std::size_t>(end - v.c_str());
    if (after == i || !std::isfinite(x) || x < 0) return std::nullopt;  // "nans", "infs", "-1s"
    i = after;
    if (v.compare(i, 2, "ms") == 0) {
      total += x / 1000.0;
      i += 2;
    } else if (i < v.size() && (v[i] == 'h' || v[i] == 'm' || v[i] == 's')) {
      total += x * (v[i] == 'h' ? 3600.0 : v[i] == 'm' ? 60.0 : 1.0);
      ++i;
    } else {
      return std::nullopt;  // a unit is required: a bare number is not a duration
    }
  }
  return bounded_wait(total);
}

std::optional<double> parse_reset(std::string_view value, std::time_t now, std::string* form) {
  const std::string v = trimmed(value);
  auto say = [&](const char* how) {
    if (form) *form = how;
  };
  if (const auto x = number(v)) {
    if (*x >= 1e12) {
      say("epoch milliseconds");
      return bounded_wait(*x / 1000.0 - static_cast<double>(now));
    }
    if (*x >= 1e9) {
      say("epoch seconds");
      return bounded_wait(*x - static_cast<double>(now));
    }
    say("seconds from now");
    return bounded_wait(*x);
  }
  if (const auto d = parse_duration(v)) {
    say("a duration");
    return *d;
  }
  if (const auto d = parse_date(v, now)) {
    say("a date");
    return *d;
  }
  return std::nullopt;
}

std::optional<ServerWait> server_wait(const HeaderMap& headers, std::time_t now) {
  if (const std::string* ms = header(headers, "retry-after-ms")) {
    if (const auto x = number(trimmed(*ms)))
      if (const auto s = bounded_wait(*x / 1000.0)) return ServerWait{*s, fmt::format("retry-after-ms: {}", *ms)};
  }
  if (const std::string* ra = header(headers, "retry-after")) {
    if (const auto s = parse_retry_after(*ra, now)) return ServerWait{*s, fmt::format("Retry-After: {}", *ra)};
  }
  for (const char* name : {"x-ratelimit-reset", "ratelimit-reset"}) {
    const std::string* reset = header(headers, name);
    if (!reset) continue;
    std::string form;
    if (const auto s = parse_reset(*reset, now, &form))
      return ServerWait{*s, fmt::format("{}: {} ({})", name == std::string_view("x-ratelimit-reset")
                                                           ? "X-RateLimit-Reset"
                                                           : "RateLimit-Reset",
                                        *reset, form)};
  }
  return per_limit_wait(headers, now);
}

}  // namespace w2s::llm::retry
