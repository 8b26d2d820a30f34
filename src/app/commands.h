// Subcommands of the autoglm binary; each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace autoglm {

int run_generate(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_chat(const std::vector<std::string>& args);
int run_serve(const std::vector<std::string>& args);
int run_version();
int run_bench(const std::vector<std::string>& args);
int run_bench_serve(const std::vector<std::string>& args);

}  // namespace autoglm
