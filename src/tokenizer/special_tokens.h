// Special token ids the engine and server need, looked up by their text in the loaded tokenizer
// (never hard-coded): role markers, image/video markers, think/answer tags, end-of-text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace autoglm {

struct SpecialTokens {
    std::optional<int32_t> end_of_text;  // <|endoftext|>
    std::optional<int32_t> user, assistant, system, observation;
    std::optional<int32_t> begin_of_image, end_of_image, image;
    std::optional<int32_t> begin_of_video, end_of_video, video;
    std::optional<int32_t> think_begin, think_end;    // <think>, </think>
    std::optional<int32_t> answer_begin, answer_end;  // <answer>, </answer>

    // Stop ids: the model config's eos list when given, else those of the tokens above that
    // exist among <|endoftext|>, <|user|>, <|observation|>, </answer>.
    std::vector<int64_t> stop_ids(const std::vector<int64_t>& config_eos) const;
};

SpecialTokens find_special_tokens(const Tokenizer& tokenizer);

}  // namespace autoglm
