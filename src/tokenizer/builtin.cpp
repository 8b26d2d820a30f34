// Demo tokenizer and template.
#include "tokenizer/builtin.h"

#include "core/check.h"

namespace autoglm {
namespace {

constexpr int32_t kDemoBpeTokens = 151329;  // ids below the first special token, as in GLM-4

// Ids 0..255 are the bytes; every later id is a distinct pseudo-word (" ka", " tebo", ...) built
// from its digits in base 100 syllables, so a random-weight model still streams readable text.
std::vector<std::string> demo_vocabulary() {
    static const char* kConsonants = "bdfghjklmnprstvwyzcx";
    static const char* kVowels = "aeiou";
    std::vector<std::string> tokens;
    tokens.reserve(kDemoBpeTokens);
    for (int b = 0; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
    for (int32_t id = 256; id < kDemoBpeTokens; ++id) {
        std::string word = " ";
        for (int32_t n = id - 256;; n = n / 100 - 1) {
            word += kConsonants[n % 100 / 5];
            word += kVowels[n % 5];
            if (n < 100) break;
        }
        tokens.push_back(std::move(word));
    }
    return tokens;
}

}  // namespace

std::unique_ptr<Tokenizer> make_demo_tokenizer() {
    std::vector<AddedToken> added;
    const char* specials[] = {"<|endoftext|>",
                              "[MASK]",
                              "[gMASK]",
                              "[sMASK]",
                              "<sop>",
                              "<eop>",
                              "<|system|>",
                              "<|user|>",
                              "<|assistant|>",
                              "<|observation|>",
                              "<|begin_of_image|>",
                              "<|end_of_image|>",
                              "<|begin_of_video|>",
                              "<|end_of_video|>",
                              "<|image|>",
                              "<|video|>"};
    int32_t id = 151329;  // GLM-4 / GLM-4.1V ids of these tokens
    for (const char* s : specials) added.push_back({id++, s, true});
    // NOTE: demo-only ids for the reasoning tags (a real checkpoint's tokenizer.json has its own);
    // </answer> = 151348 matches the GLM-4.1V eos list.
    added.push_back({151348, "</answer>", false});
    added.push_back({151349, "<answer>", false});
    added.push_back({151350, "<think>", false});
    added.push_back({151351, "</think>", false});
    auto tok = Tokenizer::from_ranked_tokens(demo_vocabulary(), std::move(added));
    CHECK(tok.ok()) << tok.error_message();
    return std::move(tok).value();
}

const std::string& demo_chat_template() {
    static const std::string kTemplate =
        "[gMASK]<sop>"
        "{%- for m in messages -%}"
        "<|{{ m.role }}|>{{ '\\n' }}"
        "{%- if m.content is string -%}{{ m.content }}"
        "{%- else -%}{%- for part in m.content -%}"
        "{%- if part.type == 'image' or part.type == 'image_url' -%}"
        "<|begin_of_image|><|image|><|end_of_image|>"
        "{%- elif part.type == 'text' -%}{{ part.text }}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}<|assistant|>{{ '\\n' }}{%- endif -%}";
    return kTemplate;
}

}  // namespace autoglm
