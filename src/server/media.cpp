// fetch_image_bytes: data: URLs, file:// under a root, http(s) through libcurl.
#include "server/media.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <utility>

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

struct Transfer {
    std::string body;
    uint64_t max_bytes = 0;
    bool too_large = false;
    std::string refused;  // why the pre-request check stopped a hop
    const MediaOptions* options = nullptr;
    CURL* curl = nullptr;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const size_t n = size * count;
    if (t.body.size() + n > t.max_bytes) {
        t.too_large = true;
        return 0;  // aborts the transfer
    }
    t.body.append(data, n);
    return n;
}

// Before each connection of the transfer (every redirect hop included), so nothing connects to
// a refused place: the hop's host must be an allowed domain and its address public unless
// private ones are allowed.
curl_socket_t open_socket(void* user, curlsocktype /*purpose*/, curl_sockaddr* address) {
    auto& t = *static_cast<Transfer*>(user);
    char* url = nullptr;
    curl_easy_getinfo(t.curl, CURLINFO_EFFECTIVE_URL, &url);
    std::string host;
    if (CURLU* u = curl_url()) {
        char* h = nullptr;
        if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
            host = h;
            curl_free(h);
        }
        curl_url_cleanup(u);
    }
    if (!host.empty() && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (!domain_allowed(host, t.options->allowed_domains)) {
        t.refused = "the host " + host + " is not in --allowed-media-domains";
        return CURL_SOCKET_BAD;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (address->family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address->addr)->sin_addr, ip,
                  sizeof ip);
    else if (address->family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&address->addr)->sin6_addr, ip,
                  sizeof ip);
    if (!t.options->allow_private_addresses && is_private_address(ip)) {
        t.refused = "the host " + host + " resolves to a private or loopback address (" + ip +
                    "); start the server with --allow-private-media-addresses";
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

// GET over http(s) through libcurl: https peers verified, redirects bounded (http(s) only),
// a deadline for the whole transfer and the size cap while the body streams in.
Result<std::string> from_remote_url(const std::string& url, const MediaOptions& options) {
    if (!init_remote_media()) return Error{"the HTTP client could not start"};
    CURL* curl = curl_easy_init();
    if (!curl) return Error{"the HTTP client could not start"};
    Transfer t;
    t.max_bytes = options.max_bytes;
    t.options = &options;
    t.curl = curl;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    // No proxy from the environment: the address checks below must see the target itself.
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, static_cast<long>(options.max_redirects));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(options.remote_timeout_seconds));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "autoglm");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &t);
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    // A refused address among several may be followed by an allowed one that worked.
    if (rc != CURLE_OK && !t.refused.empty()) return Error{"fetching " + url + ": " + t.refused};
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) return Error{"the image is too large"};
    if (rc == CURLE_TOO_MANY_REDIRECTS)
        return Error{"fetching " + url + ": more than " + std::to_string(options.max_redirects) +
                     " redirects"};
    if (rc != CURLE_OK)
        return Error{"fetching " + url + " failed: " + (error[0] ? error : curl_easy_strerror(rc))};
    if (status != 200) return Error{"fetching " + url + " gave HTTP " + std::to_string(status)};
    return std::move(t.body);
}

}  // namespace

bool is_remote_url(const std::string& url) {
    return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

namespace {

bool private_v4(const unsigned char* a) {
    return a[0] == 0 || a[0] == 10 || a[0] == 127 ||   // this, private, loopback
           (a[0] == 169 && a[1] == 254) ||             // link-local
           (a[0] == 172 && (a[1] & 0xf0) == 16) ||     // private
           (a[0] == 192 && a[1] == 168) ||             // private
           (a[0] == 192 && a[1] == 0 && a[2] == 0) ||  // IETF protocol assignments
           (a[0] == 198 && (a[1] & 0xfe) == 18) ||     // benchmarking
           (a[0] == 100 && (a[1] & 0xc0) == 64) ||     // carrier-grade NAT
           a[0] >= 224;                                // multicast, reserved
}

}  // namespace

bool is_private_address(const std::string& ip) {
    unsigned char a[16];
    if (inet_pton(AF_INET, ip.c_str(), a) == 1) return private_v4(a);
    if (inet_pton(AF_INET6, ip.c_str(), a) == 1) {
        static const unsigned char zero[16] = {};
        if (std::memcmp(a, zero, 12) == 0) return true;  // ::, ::1, IPv4-compatible ::a.b.c.d
        if (std::memcmp(a, zero, 10) == 0 && a[10] == 0xff && a[11] == 0xff)
            return private_v4(a + 12);  // IPv4-mapped
        static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
        if (std::memcmp(a, nat64, 12) == 0) return private_v4(a + 12);  // 64:ff9b::/96
        if (a[0] == 0x20 && a[1] == 0x02) return private_v4(a + 2);     // 6to4 2002::/16
        return (a[0] & 0xfe) == 0xfc ||                                 // unique local fc00::/7
               (a[0] == 0xfe && (a[1] & 0x80) == 0x80) ||  // link-local fe80::/10, site fec0::/10
               a[0] == 0xff;                               // multicast
    }
    return true;  // not an address we can classify: refuse
}

bool init_remote_media() {
    static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == 0;
    return ok;
}

bool domain_allowed(const std::string& host, const std::vector<std::string>& domains) {
    if (domains.empty()) return true;
    std::string h = host;
    for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!h.empty() && h.back() == '.') h.pop_back();
    for (std::string d : domains) {
        for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        while (!d.empty() && d.back() == '.') d.pop_back();
        if (d.empty()) continue;
        if (h == d) return true;
        if (h.size() > d.size() && h.compare(h.size() - d.size(), d.size(), d) == 0 &&
            h[h.size() - d.size() - 1] == '.')
            return true;
    }
    return false;
}

Result<std::string> fetch_image_bytes(const std::string& url, const MediaOptions& options) {
    if (url.rfind("data:", 0) == 0) return from_data_url(url, options.max_bytes);
    if (url.rfind("file://", 0) == 0) return from_file_url(url, options);
    if (is_remote_url(url)) {
        if (!options.allow_remote_media)
            return Error{
                "remote image URLs are disabled; start the server with "
                "--allow-remote-media, or send the image as a data: URL"};
        return from_remote_url(url, options);
    }
    return Error{"unsupported image URL (use data:, file://, http:// or https://)"};
}

}  // namespace autoglm
