// The benchmark's HTTP client: Beast over plain TCP with Asio coroutines, one connection per
// request (as vLLM's and SGLang's benchmark clients open them), SSE parsed as it arrives so every
// token's arrival time is known, and an optional hang-up after some tokens (soak aborts).
#pragma once

#include <utility>  // NOTE: before Asio (Boost 1.74 + GCC 12 coroutines)

#include <boost/asio.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace autoglm::loadgen {

namespace asio = boost::asio;

struct Endpoint {
    std::string host = "127.0.0.1";
    uint16_t port = 8000;
    std::string base_path;  // "" or "/prefix" (a base URL with a path)
    std::string api_key;    // sent as "Authorization: Bearer KEY" when not empty
};

// "http://host:port[/path]" (a trailing "/v1" is dropped: routes are added per request).
Result<Endpoint> parse_base_url(const std::string& url);

// Seconds on the steady clock (every timestamp of a run uses it).
double now_seconds();

// What one request saw.
struct RequestResult {
    int status = 0;          // HTTP status; 0 = no answer (connection failed or hung up)
    std::string error;       // transport error or the error body's message
    bool aborted = false;    // the client hung up on purpose
    double start = 0;        // request started: before connecting (steady seconds)
    double written = 0;      // the whole request written to the socket (0 = never)
    double headers = 0;      // the response's headers read (0 = never)
    double first_token = 0;  // first content or reasoning delta (0 = none)
    double end = 0;
    std::vector<double> token_times;  // arrival of every chunk that carried text
    int64_t prompt_tokens = 0;        // from usage (0 when the server sent none)
    int64_t completion_tokens = 0;    // from usage, else the number of text chunks
    std::string text;                 // reasoning + content, as streamed
    bool ok() const { return status == 200 && error.empty() && !aborted; }
};

struct RequestOptions {
    bool stream = true;
    // Hang up after this many text chunks (nullopt: read to the end).
    std::optional<int64_t> abort_after_chunks;
    double timeout_seconds = 600;
};

// POSTs `body` (JSON text) to `path` and reads the answer (SSE when streaming).
asio::awaitable<RequestResult> post_request(Endpoint endpoint, std::string path, std::string body,
                                            RequestOptions options);

// A GET, returning the status and the body ("" and status 0 on a transport error).
struct GetResult {
    int status = 0;
    std::string body;
};
asio::awaitable<GetResult> get(Endpoint endpoint, std::string path);

}  // namespace autoglm::loadgen
