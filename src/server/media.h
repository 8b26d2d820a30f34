// Image URLs of chat requests -> encoded image bytes: data: URLs (base64), file:// paths under
// --allowed-local-media-path, and http:// / https:// URLs when --allow-remote-media is set
// (libcurl: certificates verified, bounded redirects, time and size caps, vLLM's
// --allowed-media-domains, private and loopback addresses refused unless allowed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/result.h"

namespace autoglm {

struct MediaOptions {
    std::string allowed_local_media_path;  // "" = file:// refused
    bool allow_remote_media = false;
    uint64_t max_bytes = uint64_t{64} << 20;  // one image's encoded size at most
    int remote_timeout_seconds = 10;
    int max_redirects = 3;
    // Hosts remote URLs (and every redirect) may name; empty = any. A name matches itself and
    // its subdomains ("example.com" admits "img.example.com").
    std::vector<std::string> allowed_domains;
    // Loopback, private (RFC 1918 / ULA), link-local and unspecified addresses are refused unless
    // this is set (a request must not make the server reach into its own network).
    bool allow_private_addresses = false;
    std::string ca_file;  // PEM bundle to verify https peers with ("" = the system's)
};

// True when the URL needs the network (http:// or https://): the caller runs it off the I/O
// threads.
bool is_remote_url(const std::string& url);
// The image's encoded bytes; errors say why in words a client can act on.
Result<std::string> fetch_image_bytes(const std::string& url, const MediaOptions& options);
// libcurl's one-time set-up; call before starting threads (the first fetch calls it too).
bool init_remote_media();
// Whether `ip` (text form, v4 or v6) is loopback, private, link-local, unspecified, multicast or
// reserved, IPv4 inside IPv6 (mapped, compatible, NAT64, 6to4) judged as IPv4.
bool is_private_address(const std::string& ip);
// Whether `host` is one of `domains` or a subdomain of one (case-insensitive); true when empty.
bool domain_allowed(const std::string& host, const std::vector<std::string>& domains);

}  // namespace autoglm
