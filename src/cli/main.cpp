// edgeopt: the command-line front end. Each verb lives in verbs/<verb>.cpp; adding one is a file
// plus a line in verbs.h and in kVerbs below.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/verbs/verbs.h"
#include "core/error.h"

namespace {

// One line, whatever the message: scripts grep for "edgeopt: error:".
void print_error(const std::string& what) {
  std::string line;
  for (char c : what) line += (c == '\n' || c == '\r') ? ' ' : c;
  std::fprintf(stderr, "edgeopt: error: %s\n", line.c_str());
}

constexpr void (*kVerbs[])(CLI::App&) = {
    edgeopt::cli::add_inspect_verb,
    edgeopt::cli::add_run_verb,
    edgeopt::cli::add_train_verb,
    edgeopt::cli::add_eval_verb,
    edgeopt::cli::add_data_verb,
    edgeopt::cli::add_bench_verb,
    edgeopt::cli::add_quantize_verb,
    edgeopt::cli::add_prune_verb,
    edgeopt::cli::add_factorize_verb,
    edgeopt::cli::add_distill_verb,
    edgeopt::cli::add_optimize_verb,
    edgeopt::cli::add_partition_verb,
    edgeopt::cli::add_offload_verb,
    edgeopt::cli::add_serve_verb,
    edgeopt::cli::add_ingest_verb,
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edgeopt: optimize and run deep-learning models (ONNX in, ONNX out) on edge devices.", "edgeopt"};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  edgeopt inspect model.onnx                 # inputs, outputs, ops, parameters, FLOPs\n"
      "  edgeopt run model.onnx --input x=x.npy --output-dir out\n"
      "Run 'edgeopt <verb> --help' for a verb's options and an example.");
  for (auto add : kVerbs) add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    print_error(std::string(e.what()) + " (run 'edgeopt --help' for usage)");
    return 2;
  } catch (const edgeopt::Error& e) {
    print_error(e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    print_error("ResourceExhausted: out of memory");
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
  return 0;
}
