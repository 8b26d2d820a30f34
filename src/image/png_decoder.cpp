// PNG decoding into 8-bit RGB, with PIL's conversions (see image.h): well-formed 8-bit RGB / RGBA
// through the fast path (png_fast.h), everything else with libpng. libpng reports
// errors by longjmp; the jumps only cross libpng's C frames and the trivial callbacks below, and
// land in two small functions that own no C++ objects, so no destructor is ever skipped.
#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "image/image.h"
#include "image/png_fast.h"

namespace autoglm {
namespace {

// Everything the setjmp functions touch lives here, owned by decode_png's frame.
struct PngState {
    const uint8_t* data = nullptr;
    size_t size = 0;
    size_t pos = 0;
    std::jmp_buf jmp;
    char message[200] = {};
    png_structp png = nullptr;
    png_infop info = nullptr;
    // From the header.
    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, passes = 1;
    // After the transformations: what one row of libpng's output holds.
    size_t row_bytes = 0;
    int channels = 0, out_depth = 0;
    // Buffers owned by decode_png.
    uint8_t* rows = nullptr;  // one row, or every row when interlaced
    uint8_t* out = nullptr;   // [height, width, 3]
    bool composite = false;
    bool grey16_clip = true;
};

[[noreturn]] void on_error(png_structp png, png_const_charp msg) {
    auto* s = static_cast<PngState*>(png_get_error_ptr(png));
    std::snprintf(s->message, sizeof(s->message), "%s", msg);
    std::longjmp(s->jmp, 1);
}

void on_warning(png_structp, png_const_charp) {}

void on_read(png_structp png, png_bytep dst, size_t length) {
    auto* s = static_cast<PngState*>(png_get_io_ptr(png));
    if (s->size - s->pos < length) png_error(png, "truncated file");
    std::memcpy(dst, s->data + s->pos, length);
    s->pos += length;
}

// One libpng output row -> one RGB row.
void convert_row(const PngState& s, const uint8_t* src, uint8_t* dst) {
    const int n = s.channels;
    const int step = s.out_depth == 16 ? 2 : 1;  // samples are big-endian; [0] is the high byte
    for (png_uint_32 x = 0; x < s.width; ++x, src += n * step, dst += 3) {
        if (n <= 2) {  // grey or grey+alpha
            uint8_t v = src[0];
            if (step == 2 && n == 1 && s.grey16_clip) v = src[0] != 0 ? 255 : src[1];
            if (n == 2 && s.composite) v = composite_on_white(v, src[step]);
            dst[0] = dst[1] = dst[2] = v;
            continue;
        }
        for (int c = 0; c < 3; ++c) dst[c] = src[c * step];
        if (n == 4 && s.composite)
            for (int c = 0; c < 3; ++c) dst[c] = composite_on_white(dst[c], src[3 * step]);
    }
}

// Reads up to the first IDAT and sets the transformations. False on a libpng error.
bool read_header(PngState* s, png_uint_32 max_width, png_uint_32 max_height) {
    if (setjmp(s->jmp)) return false;
    png_set_user_limits(s->png, max_width, max_height);
    png_set_chunk_malloc_max(s->png, 8u << 20);
    png_set_chunk_cache_max(s->png, 1000);
    png_set_keep_unknown_chunks(s->png, PNG_HANDLE_CHUNK_NEVER, nullptr, 0);
    png_read_info(s->png, s->info);
    s->width = png_get_image_width(s->png, s->info);
    s->height = png_get_image_height(s->png, s->info);
    s->bit_depth = png_get_bit_depth(s->png, s->info);
    s->color_type = png_get_color_type(s->png, s->info);
    if (s->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s->png);
    if (s->color_type == PNG_COLOR_TYPE_GRAY && s->bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(s->png);
    s->passes = png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    s->row_bytes = png_get_rowbytes(s->png, s->info);
    s->channels = png_get_channels(s->png, s->info);
    s->out_depth = png_get_bit_depth(s->png, s->info);
    return true;
}

// Reads every row into s->out. False on a libpng error (truncated or corrupt data).
bool read_rows(PngState* s) {
    if (setjmp(s->jmp)) return false;
    if (s->passes == 1) {
        for (png_uint_32 y = 0; y < s->height; ++y) {
            png_read_row(s->png, s->rows, nullptr);
            convert_row(*s, s->rows, s->out + size_t{y} * s->width * 3);
        }
        return true;
    }
    for (int pass = 0; pass < s->passes; ++pass)
        for (png_uint_32 y = 0; y < s->height; ++y)
            png_read_row(s->png, s->rows + size_t{y} * s->row_bytes, nullptr);
    for (png_uint_32 y = 0; y < s->height; ++y)
        convert_row(*s, s->rows + size_t{y} * s->row_bytes, s->out + size_t{y} * s->width * 3);
    return true;
}

struct PngGuard {
    PngState* s;
    ~PngGuard() {
        if (s->png) png_destroy_read_struct(&s->png, s->info ? &s->info : nullptr, nullptr);
    }
};

Error png_error_of(const PngState& s) {
    std::string msg = "PNG: ";
    return Error{msg.append(s.message[0] ? s.message : "decoding failed")};
}

bool layout_ok(const PngState& s) {
    const int n = s.channels;
    return n >= 1 && n <= 4 && (s.out_depth == 8 || s.out_depth == 16) &&
           s.row_bytes == size_t{s.width} * n * (s.out_depth / 8);
}

}  // namespace

Status decode_png_into(const uint8_t* data, size_t size, const DecodeOptions& options,
                       RgbImage& image) {
    auto info = read_image_info(data, size);
    if (!info.ok()) return info.error();
    if (info.value().format != ImageFormat::kPng) return Error{"not a PNG file"};
    if (Status st = check_image_size(info.value().width, info.value().height, options); !st.ok())
        return st;
    if (decode_png_fast(data, size, options, image)) return {};
    return decode_png_libpng_into(data, size, options, image);
}

Status decode_png_libpng_into(const uint8_t* data, size_t size, const DecodeOptions& options,
                              RgbImage& image) {
    auto info = read_image_info(data, size);
    if (!info.ok()) return info.error();
    if (info.value().format != ImageFormat::kPng) return Error{"not a PNG file"};
    if (Status st = check_image_size(info.value().width, info.value().height, options); !st.ok())
        return st;
    PngState s;
    s.data = data;
    s.size = size;
    PngGuard guard{&s};
    s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    if (!s.png) return Error{"PNG: cannot create the decoder"};
    s.info = png_create_info_struct(s.png);
    if (!s.info) return Error{"PNG: cannot create the decoder"};
    png_set_read_fn(s.png, &s, on_read);
    const auto cap = [](int64_t v) {
        return static_cast<png_uint_32>(std::min<int64_t>(v, 1 << 30));
    };
    if (!read_header(&s, cap(options.max_width), cap(options.max_height))) return png_error_of(s);
    if (Status st = check_image_size(s.width, s.height, options); !st.ok()) return st;
    if (!layout_ok(s)) return Error{"PNG: unexpected row layout after conversion"};
    s.composite = options.alpha == AlphaMode::kCompositeOnWhite &&
                  (s.color_type == PNG_COLOR_TYPE_RGB_ALPHA ||
                   (s.color_type == PNG_COLOR_TYPE_GRAY_ALPHA && s.bit_depth == 16));
    s.grey16_clip = options.grey16_clip_like_pil;
    std::vector<uint8_t> rows(s.passes == 1 ? s.row_bytes : s.row_bytes * s.height);
    image.reshape(s.width, s.height);
    s.rows = rows.data();
    s.out = image.pixels.data();
    if (!read_rows(&s)) return png_error_of(s);
    return {};
}

}  // namespace autoglm
