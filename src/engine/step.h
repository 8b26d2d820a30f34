// The engine-executor contract: what the scheduler plans (StepPlan), what a backend returns
// (StepOutput), the backend-neutral flattening of a plan (FlatStep), the per-image embedding
// cache backends share, and the ModelExecutor interface itself. The CPU runner
// (executor.h / model_runner.h) and the CUDA executor implement it; the engine sees only this.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/request.h"
#include "engine/sampler.h"
#include "model/forward_batch.h"

namespace autoglm {

struct ScheduledChunk {
    Request* request = nullptr;
    int64_t num_new_tokens = 0;  // tokens [num_computed_tokens, + num_new_tokens) run this step
};

// The only contract between the scheduler and the model runner.
struct StepPlan {
    std::vector<ScheduledChunk> chunks;
};

struct StepOutput {
    // One logits row per chunk that reaches the end of its request's known tokens (it samples
    // next), in plan order; `sampling_chunks` holds those chunks' indices into the plan. A
    // backend may leave them on its device until ModelExecutor::fetch_logits.
    std::vector<float> logits;  // [sampling_chunks.size(), vocab]
    std::vector<int32_t> sampling_chunks;
    // Timings of the step: images encoded, and the seconds the encoding and the text forward
    // took when the backend knows them at return (the CPU runs both synchronously); -1 when the
    // device reports them later (ModelExecutor::collect_device_seconds).
    int32_t images_encoded = 0;
    double vision_seconds = -1;
    double forward_seconds = -1;
};

// A StepPlan flattened into the arrays of one ForwardBatch (backend-neutral), plus the image
// token ranges of the step in token order.
struct FlatStep {
    std::vector<int32_t> tokens, query_start{0}, seq_lens, tables, logits_rows;
    std::vector<Position3> positions;
    std::vector<int64_t> slots;
    int64_t max_blocks = 1;
    struct ImageSpan {
        const Request* request;
        const ImageInput* image;
        int64_t first, last;  // token indices of the request in [first, last) are this image's
        int64_t flat_first;   // index in `tokens` of the request's token `first`
    };
    std::vector<ImageSpan> images;
    std::vector<int32_t> sampling_chunks;  // plan indices of the chunks that sample next
    ForwardBatch view(int32_t image_token_id) const;
};
FlatStep flatten_plan(const StepPlan& plan, int64_t block_size);

// Encoded images by content hash, each kept while any request that used it lives. T is the
// backend's form of the embeddings (host rows on the CPU, a device allocation on the GPU).
template <typename T>
class ImageEmbeddingCache {
  public:
    // The image's embeddings, encoded with encode(image) the first time; `request` becomes a user.
    template <typename Encode>
    const T& get(const Request& request, const ImageInput& image, Encode&& encode) {
        auto [it, inserted] = entries_.try_emplace(image.content_hash);
        if (inserted) it->second.value = encode(image);
        it->second.users.insert(request.id);
        return it->second.value;
    }
    // The request is gone: images nobody else uses are dropped.
    void release(const Request& request) {
        for (const ImageInput& image : request.images) {
            const auto it = entries_.find(image.content_hash);
            if (it == entries_.end()) continue;
            it->second.users.erase(request.id);
            if (it->second.users.empty()) entries_.erase(it);
        }
    }
    size_t size() const { return entries_.size(); }

  private:
    struct Entry {
        T value;
        std::unordered_set<int64_t> users;  // ids of the requests that used it
    };
    std::unordered_map<uint64_t, Entry> entries_;
};

// One sampling row for a backend that samples on its device: the Sampler's truncation settings
// (sampler.h: samples_on_device) and the draw's uniform computed on the host, so a seeded
// request gets the same tokens on either path. Penalties, logit_bias and min_tokens come as
// LogitEdits applied to the rows before.
struct DeviceSampleRow {
    float temperature = 0.0f;  // 0 = greedy (argmax_first), else the effective temperature
    int32_t top_k = 0;
    float top_p = 1.0f;
    float min_p = 0.0f;
    double u = 0.0;  // counter_uniform(seed, number of output tokens so far)
};

class ModelExecutor {
  public:
    virtual ~ModelExecutor() = default;
    // Runs the step, advances each chunk's request.num_computed_tokens, returns sampling logits
    // (in out.logits, or kept on the device until fetch_logits).
    virtual StepOutput execute(const StepPlan& plan) = 0;
    // Makes out.logits (of the last execute) hold every sampling row on the host.
    virtual void fetch_logits(StepOutput& /*out*/) {}
    // Whether sample_on_device can ever succeed (the engine skips building its rows if not).
    virtual bool has_device_sampler() const { return false; }
    // Applies `edits` (sampler.h: apply_logit_edits; row = index in `rows`) to the last
    // execute's rows (out.sampling_chunks order) where the logits are, samples them there and
    // writes one id per row; false: not supported, the engine samples on the host.
    virtual bool sample_on_device(std::span<const DeviceSampleRow> /*rows*/,
                                  std::span<const LogitEdit> /*edits*/,
                                  std::vector<int32_t>& /*ids*/) {
        return false;
    }
    // Device seconds of past work that finished since the last call, oldest first: text
    // forwards (one per execute with tokens) and image encodes (one per image). `*_all` tells
    // whether everything so far is reported (then the last entries are the last execute's).
    // Backends that run synchronously report in StepOutput and leave these alone.
    struct DeviceSeconds {
        std::vector<double> forward, vision;
        bool forward_all = false, vision_all = false;
    };
    virtual void collect_device_seconds(DeviceSeconds& /*out*/) {}
    // Whether the request's images whose tokens reach past token `from` are encoded; asking
    // starts the encodes that have not started (backends that encode beside the steps; the
    // CPU encodes inside execute and is always ready).
    virtual bool images_ready(const Request& /*request*/, int64_t /*from*/) { return true; }
    // Blocks until those encodes are done (the engine has nothing else to run).
    virtual void wait_for_images(const Request& /*request*/, int64_t /*from*/) {}
    // The request finished or was preempted/aborted for good: drop what is kept for it.
    virtual void release(const Request& request) = 0;
    virtual int64_t vocab_size() const = 0;
};

}  // namespace autoglm
