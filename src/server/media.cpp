// fetch_image_bytes.
#include "server/media.h"

#include <utility>  // NOTE: before Asio

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <climits>
#include <cstdlib>
#include <filesystem>

#include "core/file.h"

namespace autoglm {
namespace {

Result<std::string> from_data_url(const std::string& url, uint64_t max_bytes) {
    const size_t comma = url.find(',');
    if (comma == std::string::npos) return Error{"malformed data: URL (no comma)"};
    const std::string meta = url.substr(5, comma - 5);
    if (meta.size() < 7 || meta.compare(meta.size() - 7, 7, ";base64") != 0)
        return Error{"data: URLs must be base64-encoded (data:image/png;base64,...)"};
    if ((url.size() - comma) / 4 * 3 > max_bytes) return Error{"the image is too large"};
    auto bytes = base64_decode(std::string_view(url).substr(comma + 1));
    if (!bytes) return Error{bytes.error_message() + " in the data: URL"};
    return bytes;
}

Result<std::string> from_file_url(const std::string& url, const MediaOptions& options) {
    if (options.allowed_local_media_path.empty())
        return Error{"file:// URLs are disabled; start the server with --allowed-local-media-path"};
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path root = fs::weakly_canonical(options.allowed_local_media_path, ec);
    const fs::path path = fs::weakly_canonical(fs::path(url.substr(7)), ec);
    if (ec) return Error{"cannot resolve " + url};
    const auto rel = path.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..")
        return Error{"the file is outside --allowed-local-media-path"};
    if (fs::file_size(path, ec) > options.max_bytes || ec)
        return Error{ec ? "cannot read " + url : "the image is too large"};
    return read_file(path.string());
}

// A plain HTTP GET with a deadline (no TLS in this build).
Result<std::string> from_http_url(const std::string& url, const MediaOptions& options) {
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    const std::string rest = url.substr(7);
    const size_t slash = rest.find('/');
    const std::string hostport = rest.substr(0, slash);
    const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
    const size_t colon = hostport.rfind(':');
    const std::string host = hostport.substr(0, colon);
    const std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
    try {
        asio::io_context ioc;
        asio::ip::tcp::resolver resolver(ioc);
        beast::tcp_stream stream(ioc);
        stream.expires_after(std::chrono::seconds(options.remote_timeout_seconds));
        stream.connect(resolver.resolve(host, port));
        beast::http::request<beast::http::empty_body> req{beast::http::verb::get, target, 11};
        req.set(beast::http::field::host, hostport);
        req.set(beast::http::field::user_agent, "autoglm");
        beast::http::write(stream, req);
        beast::flat_buffer buffer;
        beast::http::response_parser<beast::http::string_body> parser;
        parser.body_limit(options.max_bytes);
        beast::http::read(stream, buffer, parser);
        if (parser.get().result_int() != 200)
            return Error{"fetching " + url + " gave HTTP " +
                         std::to_string(parser.get().result_int())};
        return std::move(parser.get().body());
    } catch (const std::exception& e) {
        return Error{"fetching " + url + " failed: " + e.what()};
    }
}

}  // namespace

Result<std::string> fetch_image_bytes(const std::string& url, const MediaOptions& options) {
    if (url.rfind("data:", 0) == 0) return from_data_url(url, options.max_bytes);
    if (url.rfind("file://", 0) == 0) return from_file_url(url, options);
    const bool http = url.rfind("http://", 0) == 0, https = url.rfind("https://", 0) == 0;
    if (http || https) {
        if (!options.allow_remote_media)
            return Error{
                "remote image URLs are disabled; start the server with "
                "--allow-remote-media, or send the image as a data: URL"};
        if (https) return Error{"https:// image URLs are not supported; send a data: URL"};
        return from_http_url(url, options);
    }
    return Error{"unsupported image URL (use data:, file:// or http://)"};
}

}  // namespace autoglm
