// Test helper: a GLM-4.1V config for fake backends — only the vocabulary and the six image/video
// special ids, which sit at first_special .. first_special + 5.
#pragma once

#include <cstdint>

#include "model/glm4v/config.h"

namespace autoglm::testing {

inline Glm4vConfig fake_glm4v_config(int64_t vocab, int32_t first_special) {
    Glm4vConfig c;
    c.text.vocab_size = vocab;
    c.image_start_token_id = first_special;
    c.image_token_id = first_special + 1;
    c.image_end_token_id = first_special + 2;
    c.video_start_token_id = first_special + 3;
    c.video_end_token_id = first_special + 4;
    c.video_token_id = first_special + 5;
    return c;
}

}  // namespace autoglm::testing
