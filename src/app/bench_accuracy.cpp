// `autoglm bench latency --only accuracy`: the FP8 model beside the bf16 one on the same GPU, a
// 1,024-token random prompt's layers and logits, 8 greedy decode steps, and with FP8 vision
// blocks (the default with --quantization fp8) a screenshot through both vision towers, each as max
// / rms relative error against bf16.
#include "app/bench_accuracy.h"

#ifdef AUTOGLM_HAS_CUDA

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "app/bench_batches.h"

namespace autoglm {

Status compare_fp8_with_bf16(const Glm4vModel& host, const CudaModelOptions& opt,
                             CudaGlm4vModel& gpu, int64_t blocks,
                             const Glm4vProcessedImage& shot_image, std::ostream& json,
                             std::vector<AccuracyRow>& rows) {
    const auto& tc = host.config().text;
    const auto& vc = host.config().vision;
    char buf[256];
    CudaModelOptions other_opt = opt;
    other_opt.fp8_weights = !opt.fp8_weights;
    other_opt.fp8_vision = false;  // this run's FP8 model has --fp8-vision, or neither has
    auto other_created = CudaGlm4vModel::create(host, other_opt);
    if (!other_created) return Error{other_created.error_message()};
    CudaGlm4vModel& other = *other_created.value();
    if (Status s = other.allocate_kv_pool(blocks); !s) return s;
    CudaGlm4vModel& bf16_model = opt.fp8_weights ? other : gpu;
    CudaGlm4vModel& fp8_model = opt.fp8_weights ? gpu : other;
    struct Taps : LayerObserver {
        std::vector<std::pair<std::string, std::vector<float> > > t;
        void on_tensor(const char* name, const float* data, int64_t r, int64_t c) override {
            t.emplace_back(name, std::vector<float>(data, data + r * c));
        }
    };
    // max |a - b| / max |b| and ||a - b|| / ||b|| (b: bf16)
    auto errors = [](const std::vector<float>& a, const std::vector<float>& b) {
        double dmax = 0, bmax = 0, d2 = 0, b2 = 0;
        for (size_t i = 0; i < a.size(); ++i) {
            const double d = static_cast<double>(a[i]) - b[i];
            dmax = std::max(dmax, std::fabs(d)), bmax = std::max(bmax, std::fabs(double{b[i]}));
            d2 += d * d, b2 += static_cast<double>(b[i]) * b[i];
        }
        return std::pair{dmax / std::max(bmax, 1e-30), std::sqrt(d2 / std::max(b2, 1e-30))};
    };
    const int64_t L = 1024;
    SeqBatch b = one_sequence(random_tokens(L, tc.vocab_size, 17), 0, opt.block_size, L + 16);
    Taps tb, tf;
    ForwardBatch vb = b.view(), vf = b.view();
    vb.observer = &tb, vf.observer = &tf;
    bf16_model.forward(vb);
    fp8_model.forward(vf);
    json << "  \"fp8_vs_bf16_prefill\": {";
    std::string summary;
    for (size_t i = 0; i < tb.t.size() && i < tf.t.size(); ++i) {
        const auto [mx, rms] = errors(tf.t[i].second, tb.t[i].second);
        json << (i ? ", " : "") << "\"" << tb.t[i].first << "\": [" << mx << ", " << rms << "]";
        const std::string& name = tb.t[i].first;
        if (name == "layer.0" || name == "layer.19" || name == "final_norm" || name == "logits" ||
            name == "layer." + std::to_string(tc.num_hidden_layers - 1)) {
            std::snprintf(buf, sizeof buf, "%s%s %.3f/%.3f", summary.empty() ? "" : ", ",
                          name.c_str(), mx, rms);
            summary += buf;
        }
    }
    json << "},\n";
    rows.push_back({"FP8 vs bf16, 1024-token prefill (max/rms rel)", summary});
    // Decode steps (the FP8 GEMV path) on the same context, both fed bf16's greedy ids.
    int32_t next = bf16_model.argmax()[0];
    std::vector<float> lb(static_cast<size_t>(tc.vocab_size)), lf(lb.size());
    double worst_max = 0, worst_rms = 0;
    int64_t same = 0;
    const int64_t decode_steps = 8;
    for (int64_t i = 0; i < decode_steps; ++i) {
        SeqBatch d = one_sequence({next}, L + i, opt.block_size, L + 16);
        bf16_model.forward(d.view());
        fp8_model.forward(d.view());
        const int32_t nb = bf16_model.argmax()[0], nf = fp8_model.argmax()[0];
        bf16_model.copy_logits(lb.data());
        fp8_model.copy_logits(lf.data());
        const auto [mx, rms] = errors(lf, lb);
        worst_max = std::max(worst_max, mx), worst_rms = std::max(worst_rms, rms);
        same += nb == nf;
        next = nb;
    }
    std::snprintf(buf, sizeof buf, "logits worst %.3f/%.3f, argmax equal %lld of %lld", worst_max,
                  worst_rms, static_cast<long long>(same), static_cast<long long>(decode_steps));
    rows.push_back({"FP8 vs bf16, decode steps (max/rms rel)", buf});
    json << "  \"fp8_vs_bf16_decode\": {\"max\": " << worst_max << ", \"rms\": " << worst_rms
         << ", \"argmax_equal\": " << same << "},\n";
    if (opt.fp8_vision) {  // the screenshot through both towers, block by block
        Taps vb, vf;
        bf16_model.encode_image(shot_image, &vb);
        fp8_model.encode_image(shot_image, &vf);
        std::string vsummary;
        json << "  \"fp8_vs_bf16_vision\": {";
        const std::string mid = "vision.block." + std::to_string(vc.depth / 2 - 1),
                          last = "vision.block." + std::to_string(vc.depth - 1);
        for (size_t i = 0; i < vb.t.size() && i < vf.t.size(); ++i) {
            const auto [mx, rms] = errors(vf.t[i].second, vb.t[i].second);
            const std::string& name = vb.t[i].first;
            json << (i ? ", " : "") << "\"" << name << "\": [" << mx << ", " << rms << "]";
            if (name == "vision.block.0" || name == mid || name == last ||
                name == "vision.merger") {
                std::snprintf(buf, sizeof buf, "%s%s %.3f/%.3f", vsummary.empty() ? "" : ", ",
                              name.c_str(), mx, rms);
                vsummary += buf;
            }
        }
        json << "},\n";
        rows.push_back({"FP8 vs bf16 vision tower, one screenshot (max/rms rel)", vsummary});
    }
    return {};
}

}  // namespace autoglm

#endif
