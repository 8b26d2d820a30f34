// post_request / get: Beast client coroutines, SSE parsing with per-token arrival times.
#include "loadgen/client.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>

namespace autoglm::loadgen {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using tcp = asio::ip::tcp;

auto into(beast::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

// Text and usage of one SSE payload (chat delta content/reasoning, or completion text).
void take_event(const std::string& payload, RequestResult& r, double t) {
    if (payload == "[DONE]") return;
    const auto j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    if (j.contains("error") && j["error"].is_object()) {
        r.error = j["error"].value("message", "error event");
        return;
    }
    if (j.contains("usage") && j["usage"].is_object()) {
        r.prompt_tokens = j["usage"].value("prompt_tokens", int64_t{0});
        r.completion_tokens = j["usage"].value("completion_tokens", int64_t{0});
    }
    if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return;
    const auto& c = j["choices"][0];
    std::string text;
    if (c.contains("delta") && c["delta"].is_object()) {
        const auto& d = c["delta"];
        for (const char* key : {"reasoning_content", "content"})
            if (d.contains(key) && d[key].is_string()) text += d[key].get<std::string>();
    } else if (c.contains("text") && c["text"].is_string()) {
        text = c["text"].get<std::string>();
    }
    if (text.empty()) return;
    if (r.first_token == 0) r.first_token = t;
    r.token_times.push_back(t);
    r.text += text;
}

// Splits complete events off `pending` ("\n\n" or "\r\n\r\n" separated).
void take_events(std::string& pending, RequestResult& r, double t) {
    for (;;) {
        size_t end = pending.find("\n\n");
        size_t skip = 2;
        if (const size_t crlf = pending.find("\r\n\r\n"); crlf < end) end = crlf, skip = 4;
        if (end == std::string::npos) return;
        const std::string event = pending.substr(0, end);
        pending.erase(0, end + skip);
        size_t pos = 0;
        while (pos < event.size()) {
            size_t eol = event.find('\n', pos);
            if (eol == std::string::npos) eol = event.size();
            std::string line = event.substr(pos, eol - pos);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.rfind("data:", 0) == 0)
                take_event(line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5), r, t);
            pos = eol + 1;
        }
    }
}

void take_whole_body(const std::string& body, RequestResult& r) {
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    if (r.status != 200) {
        if (j.contains("error") && j["error"].is_object())
            r.error = j["error"].value("message", "error");
        return;
    }
    if (j.contains("usage") && j["usage"].is_object()) {
        r.prompt_tokens = j["usage"].value("prompt_tokens", int64_t{0});
        r.completion_tokens = j["usage"].value("completion_tokens", int64_t{0});
    }
    if (j.contains("choices") && j["choices"].is_array() && !j["choices"].empty()) {
        const auto& c = j["choices"][0];
        if (c.contains("message") && c["message"].is_object()) {
            const auto& m = c["message"];
            for (const char* key : {"reasoning_content", "content"})
                if (m.contains(key) && m[key].is_string()) r.text += m[key].get<std::string>();
        } else if (c.contains("text") && c["text"].is_string()) {
            r.text = c["text"].get<std::string>();
        }
    }
    r.first_token = r.end;
}

awaitable<bool> connect(beast::tcp_stream& stream, const Endpoint& e, RequestResult& r) {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    beast::error_code ec;
    const auto hosts = co_await resolver.async_resolve(e.host, std::to_string(e.port), into(ec));
    if (!ec) co_await stream.async_connect(hosts, into(ec));
    // The request's last segment goes out at once instead of waiting for an ACK (Nagle).
    if (!ec) stream.socket().set_option(tcp::no_delay(true), ec);
    if (ec) r.error = "connect: " + ec.message();
    co_return !ec;
}

bhttp::request<bhttp::string_body> make_request(bhttp::verb verb, const Endpoint& e,
                                                const std::string& path, std::string body) {
    bhttp::request<bhttp::string_body> req{verb, e.base_path + path, 11};
    req.set(bhttp::field::host, e.host);
    req.set(bhttp::field::user_agent, "autoglm-bench");
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    if (!e.api_key.empty()) req.set(bhttp::field::authorization, "Bearer " + e.api_key);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
}

}  // namespace

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

Result<Endpoint> parse_base_url(const std::string& url) {
    const std::string scheme = "http://";
    if (url.rfind(scheme, 0) != 0)
        return Error{"--base-url must start with http:// (got '" + url + "')"};
    std::string rest = url.substr(scheme.size());
    Endpoint e;
    if (const size_t slash = rest.find('/'); slash != std::string::npos) {
        e.base_path = rest.substr(slash);
        rest = rest.substr(0, slash);
    }
    while (!e.base_path.empty() && e.base_path.back() == '/') e.base_path.pop_back();
    if (e.base_path.size() >= 3 && e.base_path.compare(e.base_path.size() - 3, 3, "/v1") == 0)
        e.base_path.resize(e.base_path.size() - 3);
    const size_t colon = rest.rfind(':');
    e.host = colon == std::string::npos ? rest : rest.substr(0, colon);
    if (colon != std::string::npos) {
        char* end = nullptr;
        const long port = std::strtol(rest.c_str() + colon + 1, &end, 10);
        if (*end != '\0' || port <= 0 || port > 65535)
            return Error{"--base-url: bad port in '" + url + "'"};
        e.port = static_cast<uint16_t>(port);
    } else {
        e.port = 80;
    }
    if (e.host.empty()) return Error{"--base-url: no host in '" + url + "'"};
    return e;
}

awaitable<RequestResult> post_request(Endpoint e, std::string path, std::string body,
                                      RequestOptions options) {
    RequestResult r;
    beast::tcp_stream stream(co_await asio::this_coro::executor);
    stream.expires_after(
        std::chrono::milliseconds(static_cast<int64_t>(options.timeout_seconds * 1e3)));
    r.start = now_seconds();
    if (!co_await connect(stream, e, r)) {
        r.end = now_seconds();
        co_return r;
    }
    auto req = make_request(bhttp::verb::post, e, path, std::move(body));
    beast::error_code ec;
    co_await bhttp::async_write(stream, req, into(ec));
    if (!ec) r.written = now_seconds();
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::buffer_body> parser;
    // Not boost::none: Boost 1.74 compares a Content-Length against an empty limit as "over"
    // (every non-chunked answer, such as a 400, would fail to parse).
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (!ec) co_await bhttp::async_read_header(stream, buffer, parser, into(ec));
    if (ec) {
        r.error = "request: " + ec.message();
        r.end = now_seconds();
        co_return r;
    }
    r.status = parser.get().result_int();
    r.headers = now_seconds();
    std::string pending, whole;
    char chunk[16384];
    while (!parser.is_done()) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof(chunk);
        co_await bhttp::async_read_some(stream, buffer, parser, into(ec));
        if (ec == bhttp::error::need_buffer) ec = {};
        const size_t n = sizeof(chunk) - parser.get().body().size;
        const double t = now_seconds();
        if (options.stream && r.status == 200) {
            pending.append(chunk, n);
            take_events(pending, r, t);
        } else {
            whole.append(chunk, n);
        }
        if (ec) {
            r.error = "response: " + ec.message();
            break;
        }
        if (options.abort_after_chunks &&
            static_cast<int64_t>(r.token_times.size()) >= *options.abort_after_chunks) {
            r.aborted = true;
            beast::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream.socket().close(ignored);
            break;
        }
    }
    r.end = now_seconds();
    if (!options.stream || r.status != 200) take_whole_body(whole, r);
    if (r.status != 200 && r.error.empty()) r.error = "HTTP " + std::to_string(r.status);
    if (r.completion_tokens == 0) r.completion_tokens = static_cast<int64_t>(r.token_times.size());
    co_return r;
}

awaitable<GetResult> get(Endpoint e, std::string path) {
    GetResult out;
    RequestResult r;
    beast::tcp_stream stream(co_await asio::this_coro::executor);
    stream.expires_after(std::chrono::seconds(30));
    if (!co_await connect(stream, e, r)) co_return out;
    auto req = make_request(bhttp::verb::get, e, path, "");
    beast::error_code ec;
    co_await bhttp::async_write(stream, req, into(ec));
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    if (!ec) co_await bhttp::async_read(stream, buffer, res, into(ec));
    if (ec) co_return out;
    out.status = res.result_int();
    out.body = std::move(res.body());
    co_return out;
}

}  // namespace autoglm::loadgen
