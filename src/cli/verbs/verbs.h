// Every verb of the `edgeopt` CLI: one add_<verb>_verb per file in cli/verbs/, called from main.cpp.
//
// A verb adds a CLI11 subcommand with its options, a description, an example in the footer, and a
// callback that calls library functions. Callbacks report failure by throwing edgeopt::Error (or
// any std::exception); main prints it as one line "edgeopt: error: <what>" and exits 1.
#pragma once
#include <CLI/CLI.hpp>

namespace edgeopt::cli {

void add_inspect_verb(CLI::App& app);  // verbs/inspect.cpp
void add_run_verb(CLI::App& app);      // verbs/run.cpp
void add_train_verb(CLI::App& app);    // verbs/train.cpp
void add_eval_verb(CLI::App& app);     // verbs/eval.cpp
void add_data_verb(CLI::App& app);     // verbs/data.cpp
void add_bench_verb(CLI::App& app);    // verbs/bench.cpp
void add_quantize_verb(CLI::App& app); // verbs/quantize.cpp
void add_prune_verb(CLI::App& app);      // verbs/prune.cpp
void add_factorize_verb(CLI::App& app);  // verbs/factorize.cpp
void add_distill_verb(CLI::App& app);    // verbs/distill.cpp
void add_optimize_verb(CLI::App& app);   // verbs/optimize.cpp
void add_partition_verb(CLI::App& app);  // verbs/partition.cpp
void add_offload_verb(CLI::App& app);    // verbs/offload.cpp
void add_serve_verb(CLI::App& app);      // verbs/serve.cpp
void add_ingest_verb(CLI::App& app);     // verbs/ingest.cpp

}  // namespace edgeopt::cli
