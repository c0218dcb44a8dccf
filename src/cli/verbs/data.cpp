// `edgeopt data`: describe a data set, or write samples of it as .npy (normalized as the model sees them).
#include <cstdio>
#include <cstring>

#include "cli/verbs/train_common.h"
#include "cli/verbs/verbs.h"
#include "core/npy.h"

namespace edgeopt::cli {

namespace {
struct DataArgs {
  std::string data, split = "test", out;
  int64_t index = 0, count = 1;
  uint64_t seed = 1;
  train::DatasetOptions data_opts;
};
}  // namespace

void add_data_verb(CLI::App& app) {
  auto a = std::make_shared<DataArgs>();
  CLI::App* cmd = app.add_subcommand("data", "Describe a data set (splits, shapes, provenance) or export samples as .npy");
  cmd->add_option("--data", a->data, dataset_spec_help())->required();
  cmd->add_option("--split", a->split, "train, val or test")->default_val("test");
  cmd->add_option("--sample-out", a->out, "Write samples [index, index+count) of the split's x to this .npy");
  cmd->add_option("--index", a->index, "First sample")->default_val(0);
  cmd->add_option("--count", a->count, "Number of samples")->default_val(1);
  cmd->add_option("--seed", a->seed, "Seed of the train/val split")->default_val(1);
  add_dataset_flags(cmd, a->data_opts);
  cmd->footer("Examples:\n  edgeopt data --data wsn-temperature\n"
              "  edgeopt data --data fashion-mnist --sample-out x.npy --index 0 --count 1");
  cmd->callback([a] {
    a->data_opts.seed = a->seed;
    train::DataSplits d = train::load_dataset(a->data, a->data_opts);
    if (a->out.empty()) {
      std::printf("%s\n", d.describe().c_str());
      return;
    }
    const train::Dataset& ds = a->split == "train" ? d.train : a->split == "val" ? d.val : d.test;
    EDGEOPT_CHECK_ARG(a->index >= 0 && a->count >= 1 && a->index + a->count <= ds.size(),
                      "samples [" + std::to_string(a->index) + ", " + std::to_string(a->index + a->count) +
                          ") are outside the " + a->split + " split of " + std::to_string(ds.size()));
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < a->count; ++i) idx.push_back(a->index + i);
    train::Dataset sub = ds.subset(idx);
    write_npy(a->out, sub.x);
    std::printf("wrote %s %s\n", a->out.c_str(), sub.x.describe().c_str());
  });
}

}  // namespace edgeopt::cli
