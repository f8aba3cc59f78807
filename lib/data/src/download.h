// Fetching one URL to a local file (libcurl). Internal to lib/data.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "w2s/core.h"

namespace w2s::data::detail {

// A directory given on the command line, else $<env_var>, else `fallback` (empty values are unset).
std::filesystem::path dir_from(const std::optional<std::string>& given, const char* env_var, const char* fallback);

struct DownloadOptions {
  long timeout_s = 60;       // give up after this many seconds without progress
  std::string bearer_token;  // sent as "Authorization: Bearer ..." when not empty; never logged
  std::string progress;      // label of a progress line on stderr; empty = no progress line
};

// The server answered with an HTTP status >= 400 (so callers can tell "gated" from "offline").
struct HttpStatusError : Error {
  HttpStatusError(long status, const std::string& what) : Error(what), status(status) {}
  long status;
};

// Downloads `url` (https://, http:// or file://) to `destination`, overwriting it. Follows
// redirects. Throws HttpStatusError for HTTP status >= 400 and w2s::Error with curl's reason
// for anything else (offline, timeout, unreadable file); a partial file may remain (callers
// download to a temporary name and rename only after verification).
void download_url(const std::string& url, const std::filesystem::path& destination,
                  const DownloadOptions& options = {});

}  // namespace w2s::data::detail
