#include "train/loop/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "runtime/session.h"
#include "train/autograd/autograd.h"
#include "train/losses/losses.h"
#include "train/loop/checkpoint.h"
#include "train/loop/progress.h"
#include "train/optim/optim.h"

namespace edgeopt::train {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Concatenates batch outputs along dim 0.
Tensor concat_rows(const std::vector<Tensor>& parts) {
  if (parts.empty()) return {};
  std::vector<int64_t> dims = parts[0].shape().dims();
  int64_t rows = 0;
  for (const auto& p : parts) rows += p.shape()[0];
  dims[0] = rows;
  Tensor out(parts[0].dtype(), Shape(dims));
  size_t off = 0;
  for (const auto& p : parts) {
    std::memcpy(static_cast<uint8_t*>(out.raw()) + off, p.raw(), p.nbytes());
    off += p.nbytes();
  }
  return out;
}

double val_metric(const Tensor& pred, const Dataset& ds, bool classification) {
  const int64_t n = ds.size();
  if (n == 0) return 0;
  if (classification) {
    const int64_t c = pred.numel() / n;
    auto y = ds.y.to_i64_vector();
    int64_t correct = 0;
    const float* p = pred.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t arg = 0;
      for (int64_t j = 1; j < c; ++j)
        if (p[i * c + j] > p[i * c + arg]) arg = j;
      correct += arg == y[i];
    }
    return static_cast<double>(correct) / static_cast<double>(n);
  }
  double s = 0;
  const float* p = pred.data<float>();
  const float* y = ds.y.data<float>();
  for (int64_t i = 0; i < ds.y.numel(); ++i) s += (p[i] - y[i]) * static_cast<double>(p[i] - y[i]);
  return std::sqrt(s / static_cast<double>(ds.y.numel()));
}

void check_output_fits(const Tensor& out, const Tensor& y, bool classification, int num_classes) {
  if (classification) {
    EDGEOPT_CHECK_ARG(out.rank() == 2 && out.shape()[1] == num_classes,
                      "the model output " + out.describe() + " does not fit a " + std::to_string(num_classes) +
                          "-class cross-entropy loss (needs [N, " + std::to_string(num_classes) + "])");
  } else {
    EDGEOPT_CHECK_ARG(out.numel() == y.numel(), "the model output " + out.describe() +
                                                    " does not fit the regression targets " + y.describe());
  }
}

}  // namespace

Tensor predict(const Graph& g, const Dataset& ds, int64_t batch, const runtime::SessionOptions& so) {
  EDGEOPT_CHECK_ARG(!g.inputs.empty() && !g.outputs.empty(), "the model has no inputs or outputs");
  runtime::Session s(g, so);
  std::vector<Tensor> parts;
  BatchIterator it(ds, batch, false, 0);
  Batch b;
  while (it.next(b)) parts.push_back(s.run({{g.inputs[0].name, b.x}}).at(g.outputs[0].name));
  return concat_rows(parts);
}

TrainReport train_model(Graph& g, const DataSplits& d, const TrainOptions& o) {
  EDGEOPT_CHECK_ARG(!g.inputs.empty() && !g.outputs.empty(), "the model has no inputs or outputs");
  EDGEOPT_CHECK_ARG(d.train.size() > 0, "the training split of '" + d.name + "' is empty");
  EDGEOPT_CHECK_ARG(o.epochs >= 1 && o.batch >= 1, "epochs and batch must be >= 1");
  const bool classification = d.task == "classification";
  std::string loss = o.loss == "auto" ? (classification ? "cross_entropy" : "mse") : o.loss;
  const std::string in_name = g.inputs[0].name, out_name = g.outputs[0].name;

  Autograd ag(g);
  Optimizer opt({.kind = optimizer_kind_from_name(o.optimizer), .lr = o.lr, .weight_decay = o.weight_decay});
  opt.frozen = o.frozen;
  opt.masks = o.masks;
  BatchIterator it(d.train, o.batch, true, o.seed, /*drop_last=*/d.train.size() > o.batch);
  if (o.augment.enabled()) it.set_augment(o.augment);
  int64_t steps_per_epoch = it.num_batches();
  if (o.max_steps_per_epoch > 0) steps_per_epoch = std::min(steps_per_epoch, o.max_steps_per_epoch);
  LrSchedule sched;
  sched.kind = o.schedule == "step" ? ScheduleKind::kStep
               : o.schedule == "constant" ? ScheduleKind::kConstant
                                          : ScheduleKind::kCosine;
  EDGEOPT_CHECK_ARG(o.schedule == "step" || o.schedule == "constant" || o.schedule == "cosine",
                    "unknown schedule '" + o.schedule + "' (cosine, step or constant)");
  sched.base_lr = o.lr;
  sched.total_steps = steps_per_epoch * o.epochs;
  sched.warmup_steps = o.warmup_steps >= 0 ? o.warmup_steps : std::min<int64_t>(steps_per_epoch, 500);
  sched.step_size = std::max<int64_t>(1, sched.total_steps / 3);

  TrainReport rep;
  rep.val_metric_name = classification ? "accuracy" : "rmse_std";
  int start_epoch = 0;
  std::unordered_map<std::string, Tensor> best;
  if (o.resume && !o.checkpoint.empty() && std::filesystem::exists(o.checkpoint)) {
    Checkpoint c = load_checkpoint(o.checkpoint);
    for (auto& [k, t] : c.tensors) {
      if (k.rfind("param:", 0) == 0) {
        auto p = g.initializers.find(k.substr(6));
        EDGEOPT_CHECK_ARG(p != g.initializers.end() && p->second.shape() == t.shape(),
                          "checkpoint '" + o.checkpoint + "' does not match the model (tensor " + k.substr(6) + ")");
        std::memcpy(p->second.raw(), t.raw(), t.nbytes());
      } else if (k.rfind("opt:", 0) == 0) {
        opt.state()[k.substr(4)] = t;
      } else if (k.rfind("best:", 0) == 0) {
        best[k.substr(5)] = t;
      }
    }
    start_epoch = std::stoi(c.meta.at("epoch"));
    opt.set_steps(std::stoll(c.meta.at("opt_steps")));
    rep.best_epoch = std::stoi(c.meta.at("best_epoch"));
    rep.best_val_metric = std::stod(c.meta.at("best_val"));
    std::fprintf(stderr, "resumed from %s at epoch %d\n", o.checkpoint.c_str(), start_epoch);
  }

  auto t_all = std::chrono::steady_clock::now();
  int64_t step = static_cast<int64_t>(start_epoch) * steps_per_epoch;
  for (int epoch = start_epoch; epoch < o.epochs; ++epoch) {
    auto t_epoch = std::chrono::steady_clock::now();
    it.start_epoch(epoch);
    Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs), steps_per_epoch,
                 static_cast<double>(o.batch), o.progress);
    double loss_sum = 0;
    int64_t samples = 0, done = 0;
    Batch b;
    while (done < steps_per_epoch && it.next(b)) {
      opt.set_lr(sched.lr(step));
      auto out = ag.forward({{in_name, b.x}}, true, static_cast<uint64_t>(step) + o.seed * 1000003ull);
      const Tensor& pred = out.at(out_name);
      if (done == 0 && epoch == start_epoch) check_output_fits(pred, b.y, classification, d.num_classes);
      LossResult lr;
      if (loss == "cross_entropy") lr = cross_entropy(pred, b.y, o.label_smoothing);
      else if (loss == "mse") lr = mse(pred, b.y);
      else if (loss == "mae") lr = mae(pred, b.y);
      else if (loss == "huber") lr = huber(pred, b.y);
      else throw_error(ErrorCode::kInvalidArgument, "unknown loss '" + loss + "'");
      if (o.teacher) {
        Tensor t = o.teacher(b.x);
        LossResult soft = classification ? kl_divergence(pred, t, o.distill_temperature) : mse(pred, t);
        float* gp = lr.grad.data<float>();
        const float* sp = soft.grad.data<float>();
        for (int64_t i = 0; i < lr.grad.numel(); ++i) gp[i] = o.distill_alpha * gp[i] + (1 - o.distill_alpha) * sp[i];
        lr.loss = o.distill_alpha * lr.loss + (1 - o.distill_alpha) * soft.loss;
      }
      EDGEOPT_CHECK(std::isfinite(lr.loss), ErrorCode::kFailedPrecondition,
                    "training diverged at epoch " + std::to_string(epoch + 1) + " step " + std::to_string(done) +
                        " (loss is not finite); lower --lr");
      auto grads = ag.backward({{out_name, lr.grad}});
      if (o.clip_norm > 0) clip_grad_norm(grads, o.clip_norm);
      opt.step(g.initializers, grads);
      loss_sum += lr.loss * static_cast<double>(b.x.shape()[0]);
      samples += b.x.shape()[0];
      ++done;
      ++step;
      char info[64];
      std::snprintf(info, sizeof info, "loss %.4f", loss_sum / static_cast<double>(samples));
      bar.update(done, info);
    }
    EpochLog log;
    log.epoch = epoch + 1;
    log.train_loss = samples ? loss_sum / static_cast<double>(samples) : 0;
    log.seconds = seconds_since(t_epoch);
    log.samples_per_s = static_cast<double>(samples) / std::max(log.seconds, 1e-9);
    log.lr = opt.lr();
    const Dataset& val = d.val.size() > 0 ? d.val : d.test;
    log.val_metric = val_metric(predict(g, val), val, classification);
    bool better = rep.best_epoch < 0 || (classification ? log.val_metric > rep.best_val_metric
                                                        : log.val_metric < rep.best_val_metric);
    if (better) {
      rep.best_epoch = log.epoch;
      rep.best_val_metric = log.val_metric;
      best.clear();
      for (const auto& [k, t] : g.initializers) best[k] = t.clone();
    }
    char info[96];
    std::snprintf(info, sizeof info, "loss %.4f  val %s %.4f", log.train_loss, rep.val_metric_name.c_str(),
                  log.val_metric);
    bar.finish(info);
    rep.epochs.push_back(log);
    if (!o.checkpoint.empty()) {
      Checkpoint c;
      c.meta = {{"epoch", std::to_string(epoch + 1)},
                {"opt_steps", std::to_string(opt.steps())},
                {"best_epoch", std::to_string(rep.best_epoch)},
                {"best_val", std::to_string(rep.best_val_metric)}};
      for (const auto& [k, t] : g.initializers) c.tensors["param:" + k] = t;
      for (const auto& [k, t] : opt.state()) c.tensors["opt:" + k] = t;
      for (const auto& [k, t] : best) c.tensors["best:" + k] = t;
      save_checkpoint(c, o.checkpoint);
    }
  }
  // Keep the weights of the best validation epoch (early stopping without a patience knob).
  for (const auto& [k, t] : best) {
    auto p = g.initializers.find(k);
    if (p != g.initializers.end() && p->second.nbytes() == t.nbytes()) std::memcpy(p->second.raw(), t.raw(), t.nbytes());
  }
  rep.seconds = seconds_since(t_all);
  rep.steps = step;
  return rep;
}

}  // namespace edgeopt::train
