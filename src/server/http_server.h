// HTTP/1.1 server on Boost.Beast + Asio C++20 coroutines: one coroutine per connection on its own
// strand (idle keep-alive connections and SSE streams cost no thread), a body size cap, and an
// Exchange per request that answers in one piece or streams server-sent events.
#pragma once

#include <utility>  // NOTE: before Asio (Boost 1.74 + GCC 12 coroutines)

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace autoglm::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

struct HttpRequest {
    std::string method;                          // "GET", "POST", ...
    std::string target;                          // as sent, with the query
    std::string path;                            // without the query
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string request_id;  // X-Request-Id as sent, or a fresh one
    int parse_error = 0;     // 400 (malformed) or 413 (too large): answer it, nothing else
    std::string header(const std::string& lower_name) const {
        const auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// One request's answer. Not thread-safe: used from the connection's coroutine only, except
// waker(), whose function may be called from any thread.
class Exchange {
  public:
    Exchange(beast::tcp_stream& stream, HttpRequest request, bool keep_alive);

    const HttpRequest& request() const { return request_; }
    asio::awaitable<void> respond(int status, const std::string& content_type, std::string body,
                                  const Headers& extra = {});
    // Server-sent events: the header, then one "data: <payload>\n\n" event per call (false once
    // the client is gone), then the end of the chunked body.
    asio::awaitable<bool> start_events(const Headers& extra = {});
    asio::awaitable<bool> send_event(const std::string& payload);
    asio::awaitable<void> end_events();

    // Waits until woken, `max` passes, or the client disconnects, whichever is first.
    asio::awaitable<void> wait(std::chrono::milliseconds max);
    std::function<void()> waker();
    // True once the peer closed its side (checked without reading: recv with MSG_PEEK).
    bool client_gone();

    // Headers every response of this exchange carries (CORS), set before it responds.
    void add_response_headers(const Headers& headers) {
        always_.insert(always_.end(), headers.begin(), headers.end());
    }

    int status() const { return status_; }
    bool responded() const { return status_ != 0; }
    bool keep_alive() const { return keep_alive_ && !gone_; }

  private:
    template <typename Response>
    void set_common_headers(Response& res, const Headers& extra) const;

    beast::tcp_stream& stream_;
    HttpRequest request_;
    bool keep_alive_;
    int status_ = 0;
    bool gone_ = false;
    std::shared_ptr<asio::steady_timer> timer_;
    Headers always_;
};

using Handler = std::function<asio::awaitable<void>(Exchange&)>;

struct ServerOptions {
    std::string host = "0.0.0.0";
    uint16_t port = 8000;
    uint64_t max_body_bytes = uint64_t{64} << 20;
    int num_threads = 4;
    std::chrono::seconds keep_alive_timeout{300};  // idle time before a connection is closed
};

class HttpServer {
  public:
    HttpServer(ServerOptions options, Handler handler);
    ~HttpServer();
    // Binds and starts the I/O threads; returns the bound port (useful with port 0).
    uint16_t start();
    // Stops accepting new connections (open ones keep working).
    void stop_accepting();
    // Stops everything; open connections are closed.
    void stop();
    asio::io_context& io_context() { return ioc_; }
    uint64_t num_open_connections() const { return num_connections_.load(); }

  private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> session(asio::ip::tcp::socket socket);

    ServerOptions options_;
    Handler handler_;
    asio::io_context ioc_;
    asio::ip::tcp::acceptor acceptor_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;
    std::atomic<uint64_t> num_connections_{0};
    std::atomic<uint64_t> next_request_id_{1};
};

}  // namespace autoglm::http
