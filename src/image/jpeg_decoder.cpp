// JPEG decoding with libjpeg(-turbo) into 8-bit RGB (islow IDCT and fancy upsampling, the library
// defaults PIL uses too). libjpeg reports errors through error_exit, which longjmps back into
// two small functions that own no C++ objects; the decoder itself is freed by a guard above them.
#include <csetjmp>
#include <cstdio>
#include <cstring>
// clang-format off: jpeglib.h needs FILE and size_t declared first
#include <jerror.h>
#include <jpeglib.h>
// clang-format on

#include "image/image.h"

namespace autoglm {
namespace {

constexpr int kMaxScans = 500;  // progressive files with endless scans are a known CPU bomb

struct JpegState {
    jpeg_decompress_struct cinfo;
    jpeg_error_mgr err;
    jpeg_progress_mgr progress;
    std::jmp_buf jmp;
    char message[JMSG_LENGTH_MAX] = {};
    bool created = false;
    bool truncated = false;
    uint8_t* out = nullptr;  // [height, width, 3], owned by decode_jpeg
};

JpegState* state_of(j_common_ptr cinfo) {
    return static_cast<JpegState*>(cinfo->client_data);
}

[[noreturn]] void on_error_exit(j_common_ptr cinfo) {
    JpegState* s = state_of(cinfo);
    (*cinfo->err->format_message)(cinfo, s->message);
    std::longjmp(s->jmp, 1);
}

// Warnings are tolerated (as PIL does), except running out of data: the file is truncated.
void on_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) state_of(cinfo)->truncated = true;
}

void on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    const auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
    if (d->input_scan_number > kMaxScans) {
        JpegState* s = state_of(cinfo);
        std::snprintf(s->message, sizeof(s->message), "more than %d scans", kMaxScans);
        std::longjmp(s->jmp, 1);
    }
}

bool read_header(JpegState* s, const uint8_t* data, size_t size) {
    if (setjmp(s->jmp)) return false;
    jpeg_create_decompress(&s->cinfo);
    s->created = true;
    s->cinfo.mem->max_memory_to_use = 1L << 30;
    s->cinfo.progress = &s->progress;
    jpeg_mem_src(&s->cinfo, data, static_cast<unsigned long>(size));
    jpeg_read_header(&s->cinfo, TRUE);
    return true;
}

bool read_rows(JpegState* s) {
    if (setjmp(s->jmp)) return false;
    s->cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&s->cinfo);
    if (s->cinfo.output_components != 3 || s->cinfo.output_width != s->cinfo.image_width ||
        s->cinfo.output_height != s->cinfo.image_height) {
        std::snprintf(s->message, sizeof(s->message), "unexpected output layout");
        return false;
    }
    const size_t stride = size_t{s->cinfo.output_width} * 3;
    while (s->cinfo.output_scanline < s->cinfo.output_height && !s->truncated) {
        JSAMPROW row = s->out + size_t{s->cinfo.output_scanline} * stride;
        jpeg_read_scanlines(&s->cinfo, &row, 1);
    }
    return true;
}

struct JpegGuard {
    JpegState* s;
    ~JpegGuard() {
        if (s->created) jpeg_destroy_decompress(&s->cinfo);
    }
};

Error jpeg_error_of(const JpegState& s) {
    std::string msg = "JPEG: ";
    return Error{msg.append(s.message[0] ? s.message : "decoding failed")};
}

}  // namespace

Status decode_jpeg_into(const uint8_t* data, size_t size, const DecodeOptions& options,
                        RgbImage& image) {
    auto info = read_image_info(data, size);
    if (!info.ok()) return info.error();
    if (info.value().format != ImageFormat::kJpeg) return Error{"not a JPEG file"};
    if (Status st = check_image_size(info.value().width, info.value().height, options); !st.ok())
        return st;
    JpegState s;
    std::memset(&s.cinfo, 0, sizeof(s.cinfo));
    s.cinfo.err = jpeg_std_error(&s.err);
    s.err.error_exit = on_error_exit;
    s.err.emit_message = on_emit_message;
    s.progress.progress_monitor = on_progress;
    s.cinfo.client_data = &s;
    JpegGuard guard{&s};
    if (!read_header(&s, data, size)) return jpeg_error_of(s);
    if (s.truncated) return Error{"JPEG: truncated file"};
    if (Status st = check_image_size(s.cinfo.image_width, s.cinfo.image_height, options); !st.ok())
        return st;
    const J_COLOR_SPACE cs = s.cinfo.jpeg_color_space;
    if (cs == JCS_CMYK || cs == JCS_YCCK) return Error{"JPEG: CMYK/YCCK images are not supported"};
    image.reshape(s.cinfo.image_width, s.cinfo.image_height);
    s.out = image.pixels.data();
    if (!read_rows(&s)) return jpeg_error_of(s);
    if (s.truncated) return Error{"JPEG: truncated file"};
    return {};
}

}  // namespace autoglm
