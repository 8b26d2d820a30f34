// CORS: origin / method / header checks and the headers of answers.
#include "server/cors.h"

#include <algorithm>
#include <cctype>

namespace autoglm {
namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

bool allows_all(const std::vector<std::string>& list) {
    return std::find(list.begin(), list.end(), "*") != list.end();
}

bool origin_allowed(const CorsOptions& o, const std::string& origin) {
    return allows_all(o.allowed_origins) ||
           std::find(o.allowed_origins.begin(), o.allowed_origins.end(), origin) !=
               o.allowed_origins.end();
}

bool method_allowed(const CorsOptions& o, const std::string& method) {
    if (allows_all(o.allowed_methods)) return true;
    for (const std::string& m : o.allowed_methods)
        if (lower(m) == lower(method)) return true;
    return false;
}

// Headers browsers may always send (the CORS-safelisted request headers).
bool safelisted(const std::string& name) {
    return name == "accept" || name == "accept-language" || name == "content-language" ||
           name == "content-type";
}

bool headers_allowed(const CorsOptions& o, const std::string& requested) {
    if (allows_all(o.allowed_headers)) return true;
    size_t pos = 0;
    while (pos <= requested.size()) {
        const size_t end = std::min(requested.find(',', pos), requested.size());
        const std::string name = lower(trim(requested.substr(pos, end - pos)));
        pos = end + 1;
        if (name.empty() || safelisted(name)) continue;
        const bool listed = std::any_of(o.allowed_headers.begin(), o.allowed_headers.end(),
                                        [&](const std::string& h) { return lower(h) == name; });
        if (!listed) return false;
    }
    return true;
}

std::string join(const std::vector<std::string>& list) {
    std::string out;
    for (const std::string& s : list) out += (out.empty() ? "" : ", ") + s;
    return out;
}

// Allow-Origin (and Vary, Allow-Credentials) for an allowed origin.
void add_origin_headers(const CorsOptions& o, const std::string& origin, http::Headers& h) {
    if (allows_all(o.allowed_origins) && !o.allow_credentials) {
        h.emplace_back("Access-Control-Allow-Origin", "*");
    } else {
        h.emplace_back("Access-Control-Allow-Origin", origin);
        h.emplace_back("Vary", "Origin");
    }
    if (o.allow_credentials) h.emplace_back("Access-Control-Allow-Credentials", "true");
}

}  // namespace

bool is_cors_preflight(const http::HttpRequest& request) {
    return request.method == "OPTIONS" && !request.header("origin").empty() &&
           !request.header("access-control-request-method").empty();
}

PreflightAnswer answer_cors_preflight(const CorsOptions& o, const http::HttpRequest& request) {
    PreflightAnswer a;
    const std::string origin = request.header("origin");
    const std::string method = request.header("access-control-request-method");
    const std::string requested = request.header("access-control-request-headers");
    if (!origin_allowed(o, origin)) {
        a.reason = "Disallowed CORS origin";
    } else if (!method_allowed(o, method)) {
        a.reason = "Disallowed CORS method";
    } else if (!headers_allowed(o, requested)) {
        a.reason = "Disallowed CORS headers";
    } else {
        a.allowed = true;
        add_origin_headers(o, origin, a.headers);
        a.headers.emplace_back("Access-Control-Allow-Methods",
                               allows_all(o.allowed_methods)
                                   ? "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
                                   : join(o.allowed_methods));
        const std::string allow_headers =
            allows_all(o.allowed_headers) ? requested : join(o.allowed_headers);
        if (!allow_headers.empty())
            a.headers.emplace_back("Access-Control-Allow-Headers", allow_headers);
        a.headers.emplace_back("Access-Control-Max-Age", "600");
    }
    return a;
}

http::Headers cors_response_headers(const CorsOptions& o, const http::HttpRequest& request) {
    http::Headers h;
    const std::string origin = request.header("origin");
    if (!origin.empty() && origin_allowed(o, origin)) add_origin_headers(o, origin, h);
    return h;
}

}  // namespace autoglm
