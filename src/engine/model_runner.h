// ModelRunner: turns a StepPlan (which requests advance by how many tokens) into one batched
// forward over the paged KV cache. Images are encoded by the vision tower once and kept, by
// content hash, while any request that uses them lives.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/request.h"
#include "model/glm4v/model.h"
#include "model/kv_cache.h"

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

class ModelRunner {
  public:
    ModelRunner(const Glm4vModel& model, PagedKvCache& cache);

    // Runs the step and advances each chunk's request.num_computed_tokens.
    StepOutput run(const StepPlan& plan);
    // Drops cached vision embeddings no live request needs (call when a request finishes).
    void release_images(const Request& request);
    size_t num_cached_images() const { return vision_cache_.size(); }

  private:
    const std::vector<float>& image_embeddings(const Request& request, const ImageInput& image,
                                               StepOutput& out);

    const Glm4vModel& model_;
    PagedKvCache& cache_;
    ImageEmbeddingCache<std::vector<float>> vision_cache_;
};

}  // namespace autoglm
