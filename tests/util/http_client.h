// A small blocking HTTP client for the server tests (Beast over loopback), and SSE parsing.
#pragma once

#include <utility>  // NOTE: before Asio

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace autoglm::testing {

struct HttpReply {
    int status = 0;
    std::map<std::string, std::string> headers;  // as sent (names as the server wrote them)
    std::string body;
    nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

inline HttpReply http_call(uint16_t port, const std::string& method, const std::string& target,
                           const std::string& body = "",
                           const std::map<std::string, std::string>& headers = {}) {
    namespace asio = boost::asio;
    namespace bhttp = boost::beast::http;
    asio::io_context ioc;
    boost::beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(60));
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(stream, req);
    boost::beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 30);
    boost::beast::error_code ec;
    bhttp::read(stream, buffer, parser, ec);
    HttpReply reply;
    if (ec) return reply;
    reply.status = parser.get().result_int();
    for (const auto& f : parser.get())
        reply.headers[std::string(f.name_string())] = std::string(f.value());
    reply.body = parser.get().body();
    return reply;
}

inline HttpReply post_json(uint16_t port, const std::string& target, const nlohmann::json& body,
                           const std::map<std::string, std::string>& headers = {}) {
    return http_call(port, "POST", target, body.dump(), headers);
}

// The "data: ..." payloads of an SSE body, in order.
inline std::vector<std::string> sse_events(const std::string& body) {
    std::vector<std::string> events;
    size_t pos = 0;
    while ((pos = body.find("data: ", pos)) != std::string::npos) {
        const size_t end = body.find("\n\n", pos);
        events.push_back(body.substr(pos + 6, end - pos - 6));
        pos = end == std::string::npos ? body.size() : end + 2;
    }
    return events;
}

}  // namespace autoglm::testing
