// Safetensors parsing: a valid file reads back exactly; a catalogue of malformed files each gives
// a clear error naming the file (and the tensor where there is one), never a crash.
#include "loader/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "util/temp_dir.h"

namespace autoglm {
namespace {

using testing::safetensors_bytes;
using testing::TempDir;
using testing::write_file;

std::string floats(std::initializer_list<float> values) {
    std::string out(values.size() * 4, '\0');
    size_t i = 0;
    for (float v : values) std::memcpy(&out[4 * i++], &v, 4);
    return out;
}

TEST(Safetensors, ReadsValidFile) {
    TempDir dir;
    const std::string header = R"({"__metadata__":{"format":"pt"},)"
                               R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                               R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},)"
                               R"("empty":{"dtype":"F32","shape":[0,4],"data_offsets":[20,20]}})";
    std::string data = floats({1, 2, 3, 4});
    data += std::string("\x80\x3f\x00\xc0", 4);  // bf16 1.0, -2.0
    write_file(dir.file("x.safetensors"), safetensors_bytes(header, data));
    auto file = SafetensorsFile::open(dir.file("x.safetensors"));
    ASSERT_TRUE(file.ok()) << file.error_message();
    EXPECT_EQ(file.value().entries().size(), 3u);
    EXPECT_EQ(file.value().metadata().at("format"), "pt");
    const TensorView a = file.value().view("a");
    EXPECT_EQ(a.shape, (Shape{2, 2}));
    float got[4];
    to_f32(a.dtype, a.data, got, 4);
    EXPECT_EQ(got[3], 4.0f);
    const TensorView b = file.value().view("b");
    to_f32(b.dtype, b.data, got, 2);
    EXPECT_EQ(got[0], 1.0f);
    EXPECT_EQ(got[1], -2.0f);
}

struct BadCase {
    const char* label;
    std::string bytes;
    const char* expected;  // substring of the error
};

std::vector<BadCase> bad_cases() {
    const std::string ok_tensor = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    const std::string data8(8, '\0');
    auto file = [](const std::string& header, const std::string& data) {
        return safetensors_bytes(header, data);
    };
    std::string huge_len(8, '\0');
    huge_len[7] = '\x7f';
    std::string short_len = safetensors_bytes("{}", "");
    short_len[0] = 100;  // claims 100 header bytes, has 2
    return {
        {"empty file", "", "shorter than the 8-byte header length"},
        {"short prefix", std::string(5, '\0'), "shorter than the 8-byte header length"},
        {"zero header", std::string(8, '\0'), "header length is 0"},
        {"header beyond cap", huge_len + "{}", "exceeds the 100 MiB cap"},
        {"header past end", short_len, "truncated: header length 100"},
        {"not json", file("{not json", data8), "not valid JSON"},
        {"not an object", file("[1,2]", data8), "not a JSON object"},
        {"deep nesting", file(std::string(40, '[') + std::string(40, ']'), ""), "nests deeper"},
        {"unknown dtype",
         file(R"({"w":{"dtype":"F8_E5M2","shape":[2],"data_offsets":[0,2]}})", "xx"),
         "tensor 'w': unsupported dtype 'F8_E5M2'"},
        {"missing dtype", file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", data8),
         "tensor 'w': missing string 'dtype'"},
        {"negative dim", file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8),
         "tensor 'w': shape entries must be non-negative"},
        {"float dim", file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", data8),
         "tensor 'w': shape entries"},
        {"size mismatch", file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
         "tensor 'w': byte range 8 does not match F32 [3]"},
        {"offsets past end (truncated data)",
         file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8),
         "tensor 'w': data_offsets end 16 is past the data section"},
        {"begin after end",
         file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data8),
         "tensor 'w': data_offsets begin > end"},
        {"one offset", file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data8),
         "'data_offsets' must be an array of two integers"},
        {"overlap",
         file("{" + ok_tensor + R"(,"v":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data8),
         "overlaps tensor"},
        {"shape overflow",
         file(R"({"w":{"dtype":"F32","shape":[1099511627775,1099511627775],"data_offsets":[0,8]}})",
              data8),
         "overflows"},
        {"bad metadata", file(R"({"__metadata__":{"k":1},)" + ok_tensor + "}", data8),
         "__metadata__ value 'k' is not a string"},
        {"entry not object", file(R"({"w":[1,2,3]})", data8), "tensor 'w': entry is not a JSON"},
    };
}

TEST(Safetensors, MalformedFilesGiveClearErrors) {
    TempDir dir;
    const auto cases = bad_cases();
    ASSERT_GE(cases.size(), 10u);
    for (const BadCase& c : cases) {
        const std::string path = dir.file("bad.safetensors");
        write_file(path, c.bytes);
        auto file = SafetensorsFile::open(path);
        ASSERT_FALSE(file.ok()) << c.label;
        EXPECT_NE(file.error_message().find(path), std::string::npos)
            << c.label << ": error must name the file: " << file.error_message();
        EXPECT_NE(file.error_message().find(c.expected), std::string::npos)
            << c.label << ": got '" << file.error_message() << "'";
    }
}

TEST(Safetensors, MissingFileIsAnError) {
    auto file = SafetensorsFile::open("/nonexistent/model.safetensors");
    ASSERT_FALSE(file.ok());
    EXPECT_NE(file.error_message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

// Deterministic mutation fuzzing of a real transformers-written file: byte flips in the header,
// the length prefix and truncations. Every outcome must be a clean error or a file whose views
// are all inside the buffer (read in full here, so ASan flags any escape).
TEST(Safetensors, MutatedRealFilesNeverCrash) {
    const std::string path = std::string(AUTOGLM_TEST_DATA_DIR) + "/tiny_f32/golden.safetensors";
    std::ifstream in(path, std::ios::binary);
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), {});
    ASSERT_GT(bytes.size(), 1000u);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[static_cast<size_t>(i)];
    std::mt19937 gen(12345);
    int num_ok = 0, num_err = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::vector<unsigned char> buf = bytes;  // vector storage: ASan sees its exact bounds
        size_t size = buf.size();
        const int kind = iter % 3;
        if (kind == 0) {  // flip a few header bytes
            for (int k = 0; k < 1 + iter % 4; ++k)
                buf[8 + gen() % header_len] = static_cast<unsigned char>(gen());
        } else if (kind == 1) {  // corrupt the length prefix
            buf[gen() % 8] = static_cast<unsigned char>(gen());
        } else {  // truncate anywhere
            size = gen() % buf.size();
        }
        auto file = SafetensorsFile::parse(buf.data(), size, "mutated");
        if (!file.ok()) {
            ++num_err;
            EXPECT_EQ(file.error_message().rfind("mutated: ", 0), 0u);
            continue;
        }
        ++num_ok;
        uint64_t checksum = 0;
        for (const auto& [name, entry] : file.value().entries()) {
            const TensorView v = file.value().view(name);
            const auto* p = static_cast<const unsigned char*>(v.data);
            for (size_t i = 0; i < v.nbytes(); ++i) checksum += p[i];
        }
        (void)checksum;
    }
    EXPECT_GT(num_err, 1000);  // the mutations do reach the validation paths
    EXPECT_GT(num_ok, 0);      // and some survive with a different but consistent header
}

}  // namespace
}  // namespace autoglm
