// Phone actions out of AutoGLM's replies: `do(action="Tap", element=[x, y])`, `finish(message=...)`
// and the rest of the phone agent's action set, as structured JSON. Coordinates in a reply are
// 0-999 relative to the screen; with a screen size they are also given in pixels.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "core/result.h"

namespace autoglm {

struct ScreenSize {
    int64_t width = 0;   // pixels
    int64_t height = 0;  // pixels
};

// Where the call is looked for: the text after the first `<answer>` when there is one, else after
// `</think>`, else the whole reply; there, from the first `do(action=` or `finish(message=`.
//
// The call is read as Python keyword arguments: strings in double or single quotes with Python's
// escapes (\n, \", \u4e2d, ...), lists of numbers, numbers, True / False / None; text after the
// closing parenthesis (`</answer>`) is ignored. A Type / Type_Name text or a finish / Take_over
// message that is not a valid literal (the model wrote an unescaped quote) is taken raw, from its
// opening quote to the last `")` of the call, as the phone agent's own client does.
//
// Result: {"type": "Tap", "element": [x, y]} (Double Tap, Long Press alike), {"type": "Swipe",
// "start": [x, y], "end": [x, y]}, {"type": "Type", "text": ...}, {"type": "Launch", "app": ...},
// {"type": "Back"}, {"type": "Home"}, {"type": "Wait", "duration": "2 seconds", "seconds": 2},
// {"type": "Take_over", "message": ...}, {"type": "finish", "message": ...}, and Type_Name, Note,
// Call_API, Interact; other keyword arguments are kept as given. With `screen`, every point
// `p` also appears as `p_px` = trunc(p / 1000 * size). Errors name what is wrong: no action,
// a truncated call, an unknown action, a missing or ill-typed argument, a coordinate outside 0-999.
Result<nlohmann::ordered_json> parse_agent_action(
    std::string_view reply, const std::optional<ScreenSize>& screen = std::nullopt);

}  // namespace autoglm
