// Image URLs of chat requests -> encoded image bytes: data: URLs (base64), file:// paths under
// --allowed-local-media-path, and http:// URLs when --allow-remote-media is set.
#pragma once

#include <cstdint>
#include <string>

#include "core/base64.h"
#include "core/result.h"

namespace autoglm {

struct MediaOptions {
    std::string allowed_local_media_path;  // "" = file:// refused
    bool allow_remote_media = false;
    uint64_t max_bytes = uint64_t{64} << 20;  // one image's encoded size at most
    int remote_timeout_seconds = 10;
};

Result<std::string> fetch_image_bytes(const std::string& url, const MediaOptions& options);

}  // namespace autoglm
