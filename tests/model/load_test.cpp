// Glm4vModel::load: fixtures, presets with dummy weights, dummy over a folder's config, and the
// fail-fast memory check for full-size dummy weights.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "model/glm4v/model.h"

namespace autoglm {
namespace {

const std::string kData = AUTOGLM_TEST_DATA_DIR;

TEST(Load, DemoPresetIsDeterministicPerSeed) {
    LoadOptions options;
    options.model = "demo";
    auto a = Glm4vModel::load(options);
    auto b = Glm4vModel::load(options);
    options.seed = 1;
    auto c = Glm4vModel::load(options);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.error_message();
    EXPECT_EQ(a.value()->config().text.vocab_size, 151552);
    const std::vector<int32_t> prompt = {151331, 151333, 151336, 198, 100, 200};
    const auto ids_a = generate_greedy(a.value()->text(), prompt, 6);
    EXPECT_EQ(ids_a.size(), 6u);
    EXPECT_EQ(ids_a, generate_greedy(b.value()->text(), prompt, 6));
    EXPECT_NE(ids_a, generate_greedy(c.value()->text(), prompt, 6));
}

TEST(Load, DummyWeightsOverACheckpointConfig) {
    LoadOptions options;
    options.model = kData + "/tiny_bf16_sharded/model";
    options.format = LoadFormat::kDummy;
    auto m = Glm4vModel::load(options);
    ASSERT_TRUE(m.ok()) << m.error_message();
    EXPECT_EQ(m.value()->config().text.num_hidden_layers, 3);
    EXPECT_NE(m.value()->source_description().find("dummy"), std::string::npos);
}

// Lines of /proc/self/maps that map a file under `dir`.
int count_mappings_under(const std::string& dir) {
    std::ifstream maps("/proc/self/maps");
    int n = 0;
    for (std::string line; std::getline(maps, line);) n += line.find(dir) != std::string::npos;
    return n;
}

TEST(Load, ReleasingHostWeightsUnmapsTheCheckpointAndKeepsTheDescription) {
    LoadOptions options;
    options.model = kData + "/tiny_bf16_sharded/model";
    auto m = Glm4vModel::load(options);
    ASSERT_TRUE(m.ok()) << m.error_message();
    Glm4vModel& model = *m.value();
    EXPECT_GE(count_mappings_under(options.model), 2) << "the shards are mapped";
    const int64_t tensors = model.report().num_tensors;
    model.release_host_weights();
    EXPECT_FALSE(model.has_host_weights());
    EXPECT_EQ(count_mappings_under(options.model), 0);
    EXPECT_EQ(model.config().text.num_hidden_layers, 3);
    EXPECT_EQ(model.report().num_tensors, tensors);
    EXPECT_DEATH((void)model.text(), "released");
}

TEST(Load, FullSizeDummyFailsFastWithoutEnoughMemory) {
    LoadOptions options;
    options.model = "autoglm-phone-9b";
    options.host_memory_limit = uint64_t{4} << 30;
    auto m = Glm4vModel::load(options);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error_message().find("need 19."), std::string::npos) << m.error_message();
    EXPECT_NE(m.error_message().find("only 4 GiB is available"), std::string::npos)
        << m.error_message();
}

TEST(Load, ErrorsNameTheProblem) {
    LoadOptions options;
    options.model = "/nonexistent/checkpoint";
    auto m = Glm4vModel::load(options);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error_message().find("config.json: cannot open"), std::string::npos)
        << m.error_message();
    options.model = "demo";
    options.format = LoadFormat::kSafetensors;
    EXPECT_FALSE(Glm4vModel::load(options).ok());
    EXPECT_FALSE(parse_load_format("pt").ok());
}

}  // namespace
}  // namespace autoglm
