// libFuzzer target: arbitrary bytes as chat and completion request bodies must parse or fail
// cleanly (never crash, never hang).
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/openai_protocol.h"
#include "server/reasoning.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto body = autoglm::OrderedJson::parse(text, nullptr, false);
    std::string param;
    if (!body.is_discarded()) {
        (void)autoglm::parse_chat_request(body, &param);
        (void)autoglm::parse_completion_request(body, &param);
    }
    autoglm::ReasoningSplitter splitter;
    (void)splitter.push(text);
    (void)splitter.finish();
    return 0;
}
