// Engine: one thread owns the scheduler, the KV cache and the model executor. Callers submit a
// prompt (images as one placeholder each) with sampling parameters and read incremental outputs
// from the request's channel; cancel frees everything at the next step. Each step reads
// schedule -> execute -> update.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/metrics.h"
#include "engine/output_channel.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/sampling_params.h"
#include "engine/scheduler.h"
#include "engine/step.h"
#include "engine/stop_checker.h"
#include "model/glm4v/config.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

struct EngineConfig {
    SchedulerConfig scheduler;
    int32_t num_blocks = 0;  // KV pool, from plan_kv_cache
    int32_t block_size = 16;
    int64_t max_model_len = 0;  // prompt + output tokens of one sequence at most
    // Waiting + running requests at most; submit fails beyond it (the server answers 429).
    int64_t max_queued_requests = 0;  // 0 = unbounded
    // Log every step's plan and phase timings (one INFO line a step).
    bool profile_steps = false;
};

struct EngineImage {
    std::shared_ptr<const Glm4vProcessedImage> pixels;
    uint64_t content_hash = 0;  // 0: computed from the pixels
};

struct GenerationInput {
    std::vector<int32_t> prompt_ids;  // each image is ONE image_token_id placeholder, in order
    std::vector<EngineImage> images;
    SamplingParams params;
};

struct EngineUsage {
    int64_t prompt_tokens = 0;      // images expanded
    int64_t completion_tokens = 0;  // over all n sequences
    int64_t cached_tokens = 0;      // prompt tokens found in the prefix cache (first sequence)
};

// One sequence's news from one step (or its end). Texts concatenate to the final output.
struct EngineOutput {
    int32_t index = 0;                          // which of the n sequences
    std::vector<int32_t> token_ids;             // new tokens
    std::string text;                           // new text (never splits a UTF-8 character)
    std::vector<SampleResult> logprobs;         // one per new token, when params.logprobs is set
    std::optional<FinishReason> finish_reason;  // set on the sequence's last output
    StopReason stop_reason;
    bool request_finished = false;  // the last output of the whole request; usage is set
    EngineUsage usage;
};

enum class SubmitError { kInvalid, kTooLong, kQueueFull, kShutdown };

struct SubmitFailure {
    SubmitError kind = SubmitError::kInvalid;
    std::string message;
};

struct EngineInbox;
struct EngineGroup;
struct EngineSequence;

// The caller's side of one request. Outputs arrive until one has request_finished set; the
// channel is then closed. Dropping the handle does not cancel; cancel() does.
class RequestHandle {
  public:
    int64_t id() const { return id_; }
    int64_t num_prompt_tokens() const { return num_prompt_tokens_; }
    OutputChannel<EngineOutput>& outputs() { return outputs_; }
    void cancel();
    bool cancel_requested() const { return cancelled_.load(std::memory_order_acquire); }

  private:
    friend class Engine;
    int64_t id_ = 0;
    int64_t num_prompt_tokens_ = 0;
    OutputChannel<EngineOutput> outputs_;
    std::atomic<bool> cancelled_{false};
    std::shared_ptr<EngineInbox> inbox_;
};

class Engine {
  public:
    // `tokenizer` may be null: outputs then carry ids only and stop strings never match.
    Engine(const EngineConfig& config, const Glm4vConfig& model_config, ModelExecutor& executor,
           const Tokenizer* tokenizer, std::vector<int32_t> eos_token_ids);
    ~Engine();  // stops the thread; unfinished requests end with finish_reason "abort"
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Any thread. Validates, expands image placeholders, computes positions and queues it.
    std::variant<std::shared_ptr<RequestHandle>, SubmitFailure> submit(GenerationInput input);
    // Any thread. The prompt as submit() would run it (images expanded), or why it is invalid.
    Result<std::vector<int32_t>> prompt_token_ids(GenerationInput input) const;

    void start();  // the engine thread
    // Stops the thread after aborting every unfinished request. Idempotent.
    void stop();

    // Without the thread (tests): admit what was submitted, handle cancellations, run one step.
    // Returns false when there was nothing to do.
    bool step();
    int64_t num_unfinished() const { return num_unfinished_.load(); }

    const EngineMetrics& metrics() const { return metrics_; }
    const EngineConfig& config() const { return config_; }
    // Engine-thread state; read only while no step runs (tests, after stop).
    const KvCacheManager& kv_cache() const { return kv_; }

  private:
    Result<Request> prepare(GenerationInput& input) const;
    void admit_inbox();
    void start_sequence(EngineSequence& seq);
    void abort_groups(bool only_cancelled);
    void record_first_schedules(const StepPlan& plan);
    void update(const StepPlan& plan, StepOutput& out);
    // The step's rows through ModelExecutor::sample_on_device when every one of them allows it.
    bool sample_on_device(const std::vector<EngineSequence*>& seqs);
    void append_token(EngineSequence& seq, const SampleResult& sample);
    void finish_sequence(EngineSequence& seq, EngineOutput& out);
    void deliver(EngineGroup& group, EngineOutput out);
    void update_gauges();
    void run_loop();

    EngineConfig config_;
    const Glm4vConfig model_config_;
    ModelExecutor& executor_;
    const Tokenizer* tokenizer_;
    std::vector<int32_t> eos_token_ids_;
    KvCacheManager kv_;
    Scheduler scheduler_;
    Sampler sampler_;
    EngineMetrics metrics_;
    std::shared_ptr<EngineInbox> inbox_;
    std::unordered_map<int64_t, std::unique_ptr<EngineGroup>> groups_;  // engine thread only
    std::unordered_map<int64_t, EngineSequence*> sequences_;  // running or waiting, by Request::id
    int64_t next_sequence_id_ = 0;
    std::atomic<int64_t> next_request_id_{1};
    std::atomic<int64_t> num_unfinished_{0};
    int64_t num_steps_ = 0;    // steps run (engine thread)
    int64_t empty_plans_ = 0;  // consecutive steps that waited for image encodes
    std::thread thread_;
};

}  // namespace autoglm
