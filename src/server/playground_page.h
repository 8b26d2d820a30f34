// The playground page (server/ui/playground.html), built into the binary at compile time.
#pragma once

#include <string_view>

namespace autoglm {

std::string_view playground_page();

}  // namespace autoglm
