// autoglm: the command-line entry point. Subcommands parse flags and wire components; no logic.
#include <cstdio>
#include <string>
#include <vector>

#include "app/commands.h"

namespace {

constexpr const char* kUsage =
    "autoglm - inference server for AutoGLM-Phone-9B (GLM-4.1V-9B architecture)\n\n"
    "usage: autoglm <command> [flags]\n\n"
    "commands:\n"
    "  serve      OpenAI-compatible HTTP server (the demo model when no --model is given)\n"
    "  generate   generate from a text (+ image) or token-id prompt through the engine (CPU "
    "backend)\n"
    "  chat       interactive chat in the terminal (streams replies; /image PATH adds an image)\n"
    "  info       load a model and print its config, weights and memory\n"
    "  bench      'bench latency': offline GPU timings against the roofline; 'bench serve':\n"
    "             load test of a running server (phone-agent sessions, TTFT/TPOT percentiles)\n"
    "  version    print the version\n\n"
    "Run 'autoglm <command> --help' for the flags of a command.\n"
    "Models: a Hugging Face checkpoint folder (config.json + *.safetensors), or a built-in\n"
    "preset with random weights: 'demo' (tiny) or 'autoglm-phone-9b' (full size).\n";

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::fputs(kUsage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string command = args[0];
    args.erase(args.begin());
    if (command == "generate") return autoglm::run_generate(args);
    if (command == "serve") return autoglm::run_serve(args);
    if (command == "info") return autoglm::run_info(args);
    if (command == "chat") return autoglm::run_chat(args);
    if (command == "bench") return autoglm::run_bench(args);
    if (command == "version" || command == "--version") return autoglm::run_version();
    std::fprintf(stderr, "autoglm: unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return 2;
}
