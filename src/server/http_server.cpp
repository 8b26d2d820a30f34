// HttpServer: accept loop, per-connection sessions (keep-alive, body cap), and Exchange.
#include "server/http_server.h"

#include <sys/socket.h>

#include <boost/asio/redirect_error.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "core/logging.h"

namespace autoglm::http {
namespace {

namespace bhttp = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
constexpr size_t kReadChunk = 64 * 1024;  // the most Beast reads a call (its own cap)
// Completion token that stores the error instead of throwing (Boost 1.74 has no as_tuple).
auto into(beast::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string fresh_request_id(uint64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "req-%016llx", static_cast<unsigned long long>(n));
    return buf;
}

}  // namespace

Exchange::Exchange(beast::tcp_stream& stream, HttpRequest request, bool keep_alive)
    : stream_(stream),
      request_(std::move(request)),
      keep_alive_(keep_alive),
      timer_(std::make_shared<asio::steady_timer>(stream.get_executor())) {}

template <typename Response>
void Exchange::set_common_headers(Response& res, const Headers& extra) const {
    res.set(bhttp::field::server, "autoglm");
    res.set("X-Request-Id", request_.request_id);
    for (const auto& [name, value] : always_) res.set(name, value);
    for (const auto& [name, value] : extra) res.set(name, value);
    res.keep_alive(keep_alive_);
}

awaitable<void> Exchange::respond(int status, const std::string& content_type, std::string body,
                                  const Headers& extra) {
    status_ = status;
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::content_type, content_type);
    set_common_headers(res, extra);
    res.body() = std::move(body);
    res.prepare_payload();
    beast::error_code ec;
    co_await bhttp::async_write(stream_, res, into(ec));
    if (ec) gone_ = true;
}

awaitable<bool> Exchange::start_events(const Headers& extra) {
    status_ = 200;
    bhttp::response<bhttp::empty_body> res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/event-stream; charset=utf-8");
    res.set(bhttp::field::cache_control, "no-cache");
    set_common_headers(res, extra);
    res.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> sr{res};
    beast::error_code ec;
    co_await bhttp::async_write_header(stream_, sr, into(ec));
    if (ec) gone_ = true;
    co_return !gone_;
}

awaitable<bool> Exchange::send_event(const std::string& payload) {
    if (gone_) co_return false;
    std::string event = "data: " + payload + "\n\n";
    beast::error_code ec;
    co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(event)), into(ec));
    if (ec) gone_ = true;
    co_return !gone_;
}

awaitable<void> Exchange::end_events() {
    if (gone_) co_return;
    beast::error_code ec;
    co_await asio::async_write(stream_, bhttp::make_chunk_last(), into(ec));
    if (ec) gone_ = true;
}

awaitable<void> Exchange::wait(std::chrono::milliseconds max) {
    timer_->expires_after(max);
    beast::error_code ec;  // cancelled by a waker: not an error
    co_await timer_->async_wait(into(ec));
}

std::function<void()> Exchange::waker() {
    // The timer lives as long as any waker: the engine thread may call it after the exchange.
    std::weak_ptr<asio::steady_timer> weak = timer_;
    auto executor = stream_.get_executor();
    return [weak, executor] {
        asio::post(executor, [weak] {
            if (auto t = weak.lock()) t->cancel();
        });
    };
}

bool Exchange::client_gone() {
    if (gone_) return true;
    char byte;
    const ssize_t n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        gone_ = true;
    return gone_;
}

HttpServer::HttpServer(ServerOptions options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)), acceptor_(ioc_) {}

HttpServer::~HttpServer() {
    stop();
}

uint16_t HttpServer::start() {
    const auto address = asio::ip::make_address(options_.host);
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    const uint16_t port = acceptor_.local_endpoint().port();
    work_.emplace(ioc_.get_executor());
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    for (int i = 0; i < std::max(1, options_.num_threads); ++i)
        threads_.emplace_back([this] { ioc_.run(); });
    return port;
}

void HttpServer::stop_accepting() {
    asio::post(ioc_, [this] {
        beast::error_code ec;
        acceptor_.close(ec);
    });
}

void HttpServer::stop() {
    if (threads_.empty()) return;
    stop_accepting();
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
}

awaitable<void> HttpServer::accept_loop() {
    for (;;) {
        beast::error_code ec;
        tcp::socket socket = co_await acceptor_.async_accept(asio::make_strand(ioc_), into(ec));
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) continue;  // e.g. out of file descriptors: keep serving the open ones
        // Every SSE event is a small write: without TCP_NODELAY, Nagle's algorithm holds one
        // back until the client's (delayed, up to 40 ms) ACK of the previous one arrives.
        socket.set_option(tcp::no_delay(true), ec);
        auto executor = socket.get_executor();
        asio::co_spawn(executor, session(std::move(socket)), asio::detached);
    }
}

awaitable<void> HttpServer::session(tcp::socket socket) {
    ++num_connections_;
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        bhttp::request_parser<bhttp::string_body> parser;
        parser.body_limit(options_.max_body_bytes);
        parser.header_limit(64 * 1024);
        stream.expires_after(options_.keep_alive_timeout);
        beast::error_code ec;
        co_await bhttp::async_read_header(stream, buffer, parser, into(ec));
        // curl sends "Expect: 100-continue" before bodies over 1 MiB (screenshots) and waits a
        // second for this answer; give it at once.
        if (!ec && !parser.is_done() &&
            beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
            bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
            co_await bhttp::async_write(stream, go_on, into(ec));
        }
        // Beast reads at most the buffer's free capacity (at least 512 bytes, at most 64 KiB) a
        // call, and the parser empties it after each: without room a 1.4 MB screenshot body
        // takes ~2,700 reads, each a timer re-arm and a hop between the io threads (~20 ms on a
        // small machine).
        if (!ec && !parser.is_done() && parser.content_length().value_or(0) > buffer.capacity())
            buffer.reserve(std::min<uint64_t>(*parser.content_length(), kReadChunk));
        if (!ec && !parser.is_done()) co_await bhttp::async_read(stream, buffer, parser, into(ec));
        stream.expires_never();
        if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit || ec) {
            if (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
                ec == asio::error::eof || ec == beast::error::timeout ||
                ec == asio::error::operation_aborted)
                break;
            // A malformed or oversized request: answer it, then close the connection.
            HttpRequest bad;
            bad.request_id = fresh_request_id(next_request_id_++);
            const bool too_large = ec == bhttp::error::body_limit;
            bad.method = parser.is_header_done() ? std::string(parser.get().method_string()) : "";
            bad.path = too_large ? std::string(parser.get().target()) : "";
            bad.parse_error = too_large ? 413 : 400;
            Exchange ex(stream, std::move(bad), /*keep_alive=*/false);
            co_await handler_(ex);
            break;
        }
        auto& msg = parser.get();
        HttpRequest req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        req.path = req.target.substr(0, req.target.find('?'));
        for (const auto& field : msg)
            req.headers[lower(std::string(field.name_string()))] = std::string(field.value());
        req.body = std::move(msg.body());
        req.request_id = req.header("x-request-id");
        if (req.request_id.empty() || req.request_id.size() > 256)
            req.request_id = fresh_request_id(next_request_id_++);
        Exchange ex(stream, std::move(req), msg.keep_alive());
        co_await handler_(ex);
        if (!ex.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    --num_connections_;
}

}  // namespace autoglm::http
