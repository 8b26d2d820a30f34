# Writes a C++ source that defines autoglm::playground_page() as the bytes of IN (run with
# cmake -DIN=page.html -DOUT=page.cpp -P embed_page.cmake at build time).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp" "// Generated from ${IN}; do not edit.\n#include \"server/playground_page.h\"\n\nnamespace autoglm {\nnamespace {\nconst unsigned char kPage[] = {\n${bytes}};\n}  // namespace\n\nstd::string_view playground_page() {\n    return {reinterpret_cast<const char*>(kPage), ${size}};\n}\n\n}  // namespace autoglm\n")
file(RENAME "${OUT}.tmp" "${OUT}")
