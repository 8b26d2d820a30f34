// libFuzzer target: arbitrary bytes as chat and completion request bodies must parse or fail
// cleanly (never crash, never hang), and the fast body parse (long strings cut out and put back)
// must give exactly what nlohmann's parse gives, value or failure (threshold 8 bytes here, so
// small inputs exercise the cut-out path). The same bytes as a model reply go through the phone
// action parser (with and without a screen size).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "protocol/agent_action.h"
#include "protocol/json_body.h"
#include "protocol/openai_protocol.h"
#include "protocol/reasoning.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto whole = autoglm::OrderedJson::parse(text, nullptr, false);
    const auto fast = autoglm::parse_json_fast(text, 8);
    if (whole.is_discarded() != fast.is_discarded() || (!whole.is_discarded() && whole != fast))
        std::abort();  // the two parses disagree
    const auto body = autoglm::parse_json_body(text);
    std::string param;
    if (body) {
        (void)autoglm::parse_chat_request(body.value(), &param);
        (void)autoglm::parse_completion_request(body.value(), &param);
        (void)autoglm::parse_agent_action_request(body.value(), &param);
    }
    (void)autoglm::parse_agent_action(text);
    (void)autoglm::parse_agent_action(text, autoglm::ScreenSize{1080, 2400});
    autoglm::ReasoningSplitter splitter;
    (void)splitter.push(text);
    (void)splitter.finish();
    return 0;
}
