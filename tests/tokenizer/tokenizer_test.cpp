// Tokenizer goldens (tools/golden/make_tokenizer_goldens.py, Hugging Face tokenizers): the genuine
// GLM-4 vocabulary (tiktoken file from ../shared, skipped when absent) and a trained tokenizer.json
// fixture give identical ids on a 320-string corpus, round-trip, and stream without broken UTF-8.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer/incremental_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "util/golden.h"

namespace autoglm {
namespace {

using nlohmann::json;

const std::string kData = std::string(AUTOGLM_TEST_DATA_DIR) + "/tokenizer";
const std::string kShared = std::string(AUTOGLM_SHARED_DIR) + "/models/glm4v-tokenizer";

const json& goldens() {
    static const json g = json::parse(testing::read_text(kData + "/goldens.json"));
    return g;
}

// GLM-4 tiktoken vocabulary + tokenizer_config.json's specials + GLM-4.1V's image/video tokens.
std::unique_ptr<Tokenizer> load_glm4() {
    auto added = Tokenizer::added_tokens_from_config(
        testing::read_text(kShared + "/reference-glm-4-9b-chat/tokenizer_config.json"));
    EXPECT_TRUE(added.ok()) << added.error_message();
    auto tok =
        Tokenizer::from_tiktoken(testing::read_text(kShared + "/tokenizer.model"), added.value());
    EXPECT_TRUE(tok.ok()) << tok.error_message();
    EXPECT_TRUE(tok.value()->add_token({151343, "<|image|>", true}));
    EXPECT_TRUE(tok.value()->add_token({151344, "<|video|>", true}));
    return std::move(tok).value();
}

std::unique_ptr<Tokenizer> load_trained() {
    auto tok = Tokenizer::load(kData + "/trained");
    EXPECT_TRUE(tok.ok()) << tok.error_message();
    return std::move(tok).value();
}

bool have_vocab() {
    return std::filesystem::exists(kShared + "/tokenizer.model");
}

void expect_corpus_ids(const Tokenizer& tok, const char* ids_key, const char* text_key) {
    const json& corpus = goldens()["corpus"];
    ASSERT_GE(corpus.size(), 300u);
    size_t mismatches = 0;
    for (size_t i = 0; i < corpus.size(); ++i) {
        const std::string s = corpus[i].get<std::string>();
        const auto want = goldens()[ids_key][i].get<std::vector<int32_t>>();
        const auto got = tok.encode(s, /*allow_special=*/true);
        if (got != want && mismatches++ < 5) ADD_FAILURE() << "string " << i << ": '" << s << "'";
        EXPECT_EQ(tok.decode(got), s) << "round trip of string " << i;
    }
    EXPECT_EQ(mismatches, 0u);
    for (const auto& [row, want] : goldens()[text_key].items()) {
        const std::string s = corpus[std::stoul(row)].get<std::string>();
        EXPECT_EQ(tok.encode(s, /*allow_special=*/false), want.get<std::vector<int32_t>>())
            << "specials as text, string " << row;
    }
}

void expect_streaming_matches(const Tokenizer& tok) {
    for (const json& item : goldens()["corpus"]) {
        const std::string s = item.get<std::string>();
        const auto ids = tok.encode(s);
        IncrementalDecoder dec(tok);
        std::string streamed;
        for (int32_t id : ids) {
            const std::string delta = dec.push(id);
            ASSERT_TRUE(is_valid_utf8(delta)) << "broken UTF-8 delta in '" << s << "'";
            streamed += delta;
        }
        streamed += dec.finish();
        EXPECT_EQ(streamed, tok.decode(ids));
    }
}

TEST(Glm4Vocab, CorpusIdsMatchHuggingFace) {
    if (!have_vocab()) GTEST_SKIP() << "GLM-4 vocabulary not found at " << kShared;
    expect_corpus_ids(*load_glm4(), "glm4_ids", "glm4_ids_specials_as_text");
}

TEST(Glm4Vocab, StreamingDecodeConcatenatesToFullDecode) {
    if (!have_vocab()) GTEST_SKIP() << "GLM-4 vocabulary not found at " << kShared;
    expect_streaming_matches(*load_glm4());
}

TEST(Glm4Vocab, RealGlm41vTestVectors) {
    if (!have_vocab()) GTEST_SKIP() << "GLM-4 vocabulary not found at " << kShared;
    const auto tok = load_glm4();
    const json vectors =
        json::parse(testing::read_text(kShared + "/glm41v_tokenizer_testvectors.json"));
    ASSERT_EQ(vectors["cases"].size(), 2u);
    for (const json& c : vectors["cases"]) {
        const auto want = c["input_ids"].get<std::vector<int32_t>>();
        std::vector<int32_t> got;
        // The processor expands each <|image|> to the image's token count.
        const auto num_image = std::count(want.begin(), want.end(), 151343);
        for (int32_t id : tok->encode(c["rendered_prompt"].get<std::string>())) {
            if (id == 151343)
                got.insert(got.end(), static_cast<size_t>(num_image), id);
            else
                got.push_back(id);
        }
        EXPECT_EQ(got, want) << c["name"];
    }
}

TEST(Glm4Vocab, SpecialTokenIdsComeFromTheFiles) {
    if (!have_vocab()) GTEST_SKIP() << "GLM-4 vocabulary not found at " << kShared;
    const auto tok = load_glm4();
    EXPECT_EQ(tok->token_id("<|endoftext|>"), 151329);
    EXPECT_EQ(tok->token_id("[gMASK]"), 151331);
    EXPECT_EQ(tok->token_id("<|user|>"), 151336);
    EXPECT_EQ(tok->token_id("<|image|>"), 151343);
    EXPECT_TRUE(tok->is_special(151336));
    EXPECT_EQ(tok->vocab_size(), 151345);
    const std::vector<int32_t> ids = {151331, 151333, 151336};
    EXPECT_EQ(tok->decode(ids), "[gMASK]<sop><|user|>");
    EXPECT_EQ(tok->decode(ids, /*skip_special=*/true), "");
}

TEST(TrainedTokenizerJson, CorpusIdsMatchHuggingFace) {
    expect_corpus_ids(*load_trained(), "trained_ids", "trained_ids_specials_as_text");
}

TEST(TrainedTokenizerJson, StreamingDecodeConcatenatesToFullDecode) {
    expect_streaming_matches(*load_trained());
}

TEST(IncrementalDecoder, HoldsSplitCharactersAndRepairsInvalidBytes) {
    const auto tok = load_trained();
    // Byte tokens of "你" (e4 bd a0) one at a time: nothing until the character completes.
    std::vector<int32_t> bytes;
    for (unsigned char b : std::string("\xe4\xbd\xa0")) {
        const auto id = tok->token_id(std::string(1, static_cast<char>(b)));
        if (!id) {  // the trained alphabet maps every byte; lookups go through the raw bytes
            ADD_FAILURE() << "no byte token " << int(b);
            return;
        }
        bytes.push_back(*id);
    }
    IncrementalDecoder dec(*tok);
    EXPECT_EQ(dec.push(bytes[0]), "");
    EXPECT_EQ(dec.push(bytes[1]), "");
    EXPECT_EQ(dec.push(bytes[2]), "\xe4\xbd\xa0");
    // A lead byte followed by ASCII: the lead becomes U+FFFD, the ASCII survives.
    EXPECT_EQ(dec.push(bytes[0]), "");
    EXPECT_EQ(dec.push(*tok->token_id("a")),
              "\xef\xbf\xbd"
              "a");
    // A dangling lead byte at the end is flushed as U+FFFD.
    EXPECT_EQ(dec.push(bytes[0]), "");
    EXPECT_EQ(dec.finish(), "\xef\xbf\xbd");
}

TEST(Utf8, RepairMatchesPythonReplace) {
    EXPECT_EQ(utf8_repair("ok"), "ok");
    EXPECT_EQ(utf8_repair("\xe4\xbd"), "\xef\xbf\xbd");  // truncated: one U+FFFD
    EXPECT_EQ(utf8_repair("\xe4\xbd"
                          "A"),
              "\xef\xbf\xbd"
              "A");                                                  // maximal subpart
    EXPECT_EQ(utf8_repair("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong: per byte
    EXPECT_EQ(utf8_repair("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
    EXPECT_EQ(utf8_repair("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
}

TEST(TokenizerLoad, MalformedInputsGiveClearErrors) {
    EXPECT_NE(Tokenizer::from_hf_json("{").error_message().find("not valid JSON"),
              std::string::npos);
    EXPECT_NE(Tokenizer::from_hf_json(R"({"model":{"type":"Unigram"}})")
                  .error_message()
                  .find("model type 'Unigram' is not supported"),
              std::string::npos);
    EXPECT_NE(Tokenizer::from_hf_json(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})")
                  .error_message()
                  .find("has no token"),
              std::string::npos);
    EXPECT_NE(Tokenizer::from_tiktoken("IQ== zero\n", {}).error_message().find("line 1"),
              std::string::npos);
    EXPECT_NE(Tokenizer::from_tiktoken("!!!! 0\n", {}).error_message().find("line 1"),
              std::string::npos);
    EXPECT_NE(Tokenizer::load("/nonexistent").error_message().find("no tokenizer.json"),
              std::string::npos);
}

TEST(TokenizerEncode, InvalidUtf8InputIsRepairedNotFatal) {
    const auto tok = load_trained();
    const auto ids = tok->encode(
        "a\xff"
        "b");
    EXPECT_EQ(tok->decode(ids),
              "a\xef\xbf\xbd"
              "b");
}

}  // namespace
}  // namespace autoglm
