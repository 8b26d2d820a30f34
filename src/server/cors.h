// CORS as vLLM (Starlette's CORSMiddleware) answers it: preflight OPTIONS requests are answered
// before routing, and responses to an allowed Origin carry Access-Control-Allow-Origin.
#pragma once

#include <string>
#include <vector>

#include "server/http_server.h"

namespace autoglm {

struct CorsOptions {
    // "*" in a list allows everything of its kind (vLLM's defaults).
    std::vector<std::string> allowed_origins = {"*"};
    std::vector<std::string> allowed_methods = {"*"};
    std::vector<std::string> allowed_headers = {"*"};
    bool allow_credentials = false;
};

// A browser's preflight: OPTIONS with Origin and Access-Control-Request-Method.
bool is_cors_preflight(const http::HttpRequest& request);

struct PreflightAnswer {
    bool allowed = false;
    http::Headers headers;  // the CORS headers (empty when refused)
    std::string reason;     // why it was refused
};
PreflightAnswer answer_cors_preflight(const CorsOptions& options, const http::HttpRequest& request);

// Headers for an ordinary response: empty without an Origin header or for a refused origin.
http::Headers cors_response_headers(const CorsOptions& options, const http::HttpRequest& request);

}  // namespace autoglm
