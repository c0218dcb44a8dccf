// Properties every recurrent op (RNN, GRU, LSTM) must satisfy, checked against its own forward
// direction/layout-0 path (which the ONNX node tests pin to the ONNX reference):
// reverse == forward on the time-reversed input, bidirectional == forward and reverse side by
// side, layout 1 == layout 0 transposed, sequence_lens == running each entry on its prefix.
#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

struct RecurrentOp {
  const char* name;
  int64_t gates;
  bool has_c;  // LSTM's cell state (input initial_c, output Y_c)
};
constexpr RecurrentOp kOps[] = {{"RNN", 1, false}, {"GRU", 3, false}, {"LSTM", 4, true}};

constexpr int64_t S = 4, B = 3, I = 3, H = 2;

// Inputs in ONNX order (X, W, R, B, sequence_lens, initial_h[, initial_c]) for `dirs` directions,
// layout 0.
std::vector<Tensor> make_inputs(const RecurrentOp& op, int64_t dirs, std::vector<int32_t> lens, uint64_t seed) {
  std::vector<Tensor> in = {random_f32({S, B, I}, seed), random_f32({dirs, op.gates * H, I}, seed + 1),
                            random_f32({dirs, op.gates * H, H}, seed + 2), random_f32({dirs, 2 * op.gates * H}, seed + 3),
                            lens.empty() ? Tensor() : Tensor::from_vector<int32_t>({B}, lens),
                            random_f32({dirs, B, H}, seed + 4)};
  if (op.has_c) in.push_back(random_f32({dirs, B, H}, seed + 5));
  return in;
}

std::vector<Tensor> run(const RecurrentOp& op, const std::vector<Tensor>& in, const std::string& direction,
                        int64_t layout = 0) {
  Node n = make_node(op.name, in.size(), op.has_c ? 3 : 2);
  for (size_t i = 0; i < in.size(); ++i)
    if (!in[i].defined()) n.inputs[i] = "";
  n.set_attr("hidden_size", H);
  n.set_attr("direction", direction);
  if (layout) n.set_attr("layout", layout);
  return run_op(n, in);
}

// out[idx with dims permuted]: a plain transpose for the layout tests.
Tensor permute(const Tensor& t, const std::vector<size_t>& perm) {
  std::vector<int64_t> dims;
  for (size_t p : perm) dims.push_back(t.shape()[p]);
  Tensor out(DType::kF32, Shape(dims));
  const auto in_strides = t.shape().strides();
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t k = 0; k < out.numel(); ++k) {
    int64_t src = 0;
    for (size_t d = 0; d < dims.size(); ++d) src += idx[d] * in_strides[perm[d]];
    out.data<float>()[k] = t.data<float>()[src];
    for (size_t d = dims.size(); d-- > 0;)
      if (++idx[d] < dims[d]) break;
      else idx[d] = 0;
  }
  return out;
}

// t[start:start+len] along axis 0.
Tensor slice0(const Tensor& t, int64_t start, int64_t len = 1) {
  Shape s = t.shape();
  const int64_t row = t.numel() / s[0];
  s[0] = len;
  Tensor out(DType::kF32, s);
  std::copy(t.data<float>() + start * row, t.data<float>() + (start + len) * row, out.data<float>());
  return out;
}

// Element [t, d, b, :] of Y [S, D, B, H] as a vector.
std::vector<float> y_row(const Tensor& y, int64_t t, int64_t d, int64_t b) {
  const int64_t D = y.shape()[1], Bn = y.shape()[2], Hn = y.shape()[3];
  const float* p = y.data<float>() + ((t * D + d) * Bn + b) * Hn;
  return {p, p + Hn};
}
std::vector<float> state_row(const Tensor& s, int64_t d, int64_t b) {
  const float* p = s.data<float>() + (d * s.shape()[1] + b) * s.shape()[2];
  return {p, p + s.shape()[2]};
}
void expect_rows_near(const std::vector<float>& want, const std::vector<float>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t j = 0; j < want.size(); ++j) EXPECT_NEAR(want[j], got[j], 1e-6) << what << " [" << j << "]";
}

TEST(RecurrentProperties, ReverseIsForwardOnReversedTime) {
  for (const auto& op : kOps) {
    auto in = make_inputs(op, 1, {}, 10);
    auto rev = run(op, in, "reverse");
    auto in_flipped = in;
    in_flipped[0] = Tensor(DType::kF32, in[0].shape());
    for (int64_t t = 0; t < S; ++t)
      std::copy(in[0].data<float>() + (S - 1 - t) * B * I, in[0].data<float>() + (S - t) * B * I,
                in_flipped[0].data<float>() + t * B * I);
    auto fwd = run(op, in_flipped, "forward");
    for (int64_t t = 0; t < S; ++t)
      for (int64_t b = 0; b < B; ++b)
        expect_rows_near(y_row(fwd[0], S - 1 - t, 0, b), y_row(rev[0], t, 0, b), std::string(op.name) + " Y");
    expect_close(fwd[1], rev[1], 1e-6, 0, std::string(op.name) + " Y_h");
  }
}

TEST(RecurrentProperties, BidirectionalIsForwardAndReverseWithSequenceLens) {
  for (const auto& op : kOps) {
    auto in = make_inputs(op, 2, {4, 2, 3}, 20);
    auto bi = run(op, in, "bidirectional");
    ASSERT_EQ(bi[0].shape(), Shape({S, 2, B, H})) << op.name;
    for (int64_t d = 0; d < 2; ++d) {
      auto one = in;
      for (size_t i : {1, 2, 3, 5, 6})
        if (i < in.size()) one[i] = slice0(in[i], d);
      auto y = run(op, one, d == 0 ? "forward" : "reverse");
      for (int64_t t = 0; t < S; ++t)
        for (int64_t b = 0; b < B; ++b)
          expect_rows_near(y_row(y[0], t, 0, b), y_row(bi[0], t, d, b), std::string(op.name) + " Y dir " + std::to_string(d));
      for (size_t k = 1; k < y.size(); ++k)
        for (int64_t b = 0; b < B; ++b)
          expect_rows_near(state_row(y[k], 0, b), state_row(bi[k], d, b),
                           std::string(op.name) + " output " + std::to_string(k) + " dir " + std::to_string(d));
    }
  }
}

TEST(RecurrentProperties, Layout1IsLayout0Transposed) {
  for (const auto& op : kOps) {
    auto in = make_inputs(op, 2, {3, 4, 1}, 30);
    auto y0 = run(op, in, "bidirectional", 0);
    auto in1 = in;
    in1[0] = permute(in[0], {1, 0, 2});
    in1[5] = permute(in[5], {1, 0, 2});
    if (op.has_c) in1[6] = permute(in[6], {1, 0, 2});
    auto y1 = run(op, in1, "bidirectional", 1);
    expect_close(permute(y0[0], {2, 0, 1, 3}), y1[0], 1e-6, 0, std::string(op.name) + " Y layout 1");
    for (size_t k = 1; k < y0.size(); ++k)
      expect_close(permute(y0[k], {1, 0, 2}), y1[k], 1e-6, 0, std::string(op.name) + " state layout 1");
  }
}

TEST(RecurrentProperties, SequenceLensStopsEachEntryAtItsLength) {
  const std::vector<int32_t> lens = {2, 0, 4};
  for (const auto& op : kOps)
    for (const std::string dir : {"forward", "reverse"}) {
      auto in = make_inputs(op, 1, lens, 40);
      auto y = run(op, in, dir);
      const std::string what = std::string(op.name) + " " + dir;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t L = lens[b];
        if (L == 0) {  // nothing ran: zero Y, the initial state as Y_h / Y_c
          for (size_t k = 1; k < y.size(); ++k)
            expect_rows_near(state_row(in[4 + k], 0, b), state_row(y[k], 0, b), what + " empty sequence state");
          for (int64_t t = 0; t < S; ++t) expect_rows_near({0.f, 0.f}, y_row(y[0], t, 0, b), what + " empty Y");
          continue;
        }
        // Entry b alone, its first L steps.
        std::vector<Tensor> one = {Tensor(DType::kF32, {L, 1, I}), in[1], in[2], in[3], Tensor()};
        for (int64_t t = 0; t < L; ++t)
          std::copy(in[0].data<float>() + (t * B + b) * I, in[0].data<float>() + (t * B + b + 1) * I,
                    one[0].data<float>() + t * I);
        for (size_t i = 5; i < in.size(); ++i) {
          one.push_back(Tensor(DType::kF32, {1, 1, H}));
          auto row = state_row(in[i], 0, b);
          std::copy(row.begin(), row.end(), one.back().data<float>());
        }
        auto ref = run(op, one, dir);
        for (int64_t t = 0; t < S; ++t)
          expect_rows_near(t < L ? y_row(ref[0], t, 0, 0) : std::vector<float>{0.f, 0.f}, y_row(y[0], t, 0, b),
                           what + " Y t=" + std::to_string(t) + " b=" + std::to_string(b));
        for (size_t k = 1; k < y.size(); ++k)
          expect_rows_near(state_row(ref[k], 0, 0), state_row(y[k], 0, b), what + " state b=" + std::to_string(b));
      }
    }
}

TEST(RecurrentProperties, ActivationsAttributeIsUsed) {
  // All-Relu activations give a different result than the defaults (RNN, LSTM: and Y >= 0); a
  // one-direction list is accepted for a bidirectional op (repeated), a wrong count and an unknown
  // name are errors.
  for (const auto& op : kOps) {
    auto in = make_inputs(op, 2, {}, 50);
    Node n = make_node(op.name, in.size(), 2);
    n.inputs[4] = "";
    n.set_attr("direction", std::string("bidirectional"));
    auto base = run_op(n, in);
    const size_t per_dir = op.gates == 1 ? 1 : op.gates == 3 ? 2 : 3;
    n.set_attr("activations", std::vector<std::string>(per_dir, "Relu"));
    auto relu = run_op(n, in);
    if (op.gates != 3) {  // GRU's h mixes in (1 - z) with z = Relu(...) > 1 possible: not sign-bounded
      for (int64_t i = 0; i < relu[0].numel(); ++i) ASSERT_GE(relu[0].data<float>()[i], 0.f) << op.name;
    }
    bool differs = false;
    for (int64_t i = 0; i < base[0].numel(); ++i) differs |= base[0].data<float>()[i] != relu[0].data<float>()[i];
    EXPECT_TRUE(differs) << op.name;
    n.set_attr("activations", std::vector<std::string>(2 * per_dir + 1, "Tanh"));
    EXPECT_THROW(run_op(n, in), Error) << op.name;
    n.set_attr("activations", std::vector<std::string>(2 * per_dir, "Gelu"));
    EXPECT_THROW(run_op(n, in), Error) << op.name;
  }
}

TEST(RecurrentProperties, Errors) {
  for (const auto& op : kOps) {
    const std::string what = op.name;
    auto in = make_inputs(op, 1, {4, 4, 4}, 60);
    auto bad = [&](auto edit, const char* attr = nullptr, Attribute::Value v = int64_t{0}) {
      auto x = in;
      edit(x);
      Node n = make_node(op.name, x.size(), 2);
      for (size_t i = 0; i < x.size(); ++i)
        if (!x[i].defined()) n.inputs[i] = "";
      if (attr) n.set_attr(attr, v);
      EXPECT_THROW(run_op(n, x), Error) << what << " " << (attr ? attr : "");
    };
    auto none = [](std::vector<Tensor>&) {};
    bad([](std::vector<Tensor>& x) { x[0] = random_f32({S, B}, 1); });                       // X rank 2
    bad([&](std::vector<Tensor>& x) { x[1] = random_f32({1, op.gates * H, I + 1}, 1); });     // W input size
    bad([&](std::vector<Tensor>& x) { x[2] = random_f32({1, op.gates * H, H + 1}, 1); });     // R hidden
    bad([&](std::vector<Tensor>& x) { x[3] = random_f32({1, op.gates * H}, 1); });            // B half size
    bad([](std::vector<Tensor>& x) { x[4] = Tensor::from_vector<int32_t>({B}, {1, 5, 2}); }); // len > seq
    bad([](std::vector<Tensor>& x) { x[4] = Tensor::from_vector<int32_t>({B}, {1, -1, 2}); });
    bad([](std::vector<Tensor>& x) { x[4] = Tensor::from_vector<int32_t>({2}, {1, 2}); });
    bad([](std::vector<Tensor>& x) { x[5] = random_f32({1, B + 1, H}, 1); });                 // initial_h
    bad([](std::vector<Tensor>& x) { x[2] = Tensor(); });                                      // R missing
    bad([](std::vector<Tensor>& x) { x[0] = x[0].cast(DType::kI32); });
    bad(none, "direction", std::string("sideways"));
    bad(none, "direction", std::string("bidirectional"));  // W has 1 direction
    bad(none, "layout", int64_t{2});
    bad(none, "hidden_size", int64_t{H + 1});
    bad(none, "clip", 0.f);
  }
}

}  // namespace
}  // namespace edgeopt::kernels::testing
