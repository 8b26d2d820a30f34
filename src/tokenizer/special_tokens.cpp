// find_special_tokens: text lookups in the tokenizer's added tokens and vocabulary.
#include "tokenizer/special_tokens.h"

namespace autoglm {

SpecialTokens find_special_tokens(const Tokenizer& t) {
    SpecialTokens s;
    s.end_of_text = t.token_id("<|endoftext|>");
    s.user = t.token_id("<|user|>");
    s.assistant = t.token_id("<|assistant|>");
    s.system = t.token_id("<|system|>");
    s.observation = t.token_id("<|observation|>");
    s.begin_of_image = t.token_id("<|begin_of_image|>");
    s.end_of_image = t.token_id("<|end_of_image|>");
    s.image = t.token_id("<|image|>");
    s.begin_of_video = t.token_id("<|begin_of_video|>");
    s.end_of_video = t.token_id("<|end_of_video|>");
    s.video = t.token_id("<|video|>");
    s.think_begin = t.token_id("<think>");
    s.think_end = t.token_id("</think>");
    s.answer_begin = t.token_id("<answer>");
    s.answer_end = t.token_id("</answer>");
    return s;
}

std::vector<int64_t> SpecialTokens::stop_ids(const std::vector<int64_t>& config_eos) const {
    if (!config_eos.empty()) return config_eos;
    std::vector<int64_t> out;
    for (const auto& id : {end_of_text, user, observation, answer_end})
        if (id) out.push_back(*id);
    return out;
}

}  // namespace autoglm
