// `lectern-cli bench --shape NAME`: a random-weight model of a released shape (Model::random, no
// file) on the chosen backend: decode tokens/s at batch 1 against the weight-bandwidth roofline,
// prefill tokens/s against the bf16 matrix roofline (both ceilings measured in this process on
// the GPU: lectern::measure_gpu_roofline), and for RWKV-X shapes prefill time and decode latency
// after each --contexts length (on the GPU also the sparse attention core alone, for the dense
// baseline of tools/dense_attention_baseline.py), and decode latency after each
// --synthetic-contexts length (lectern/synthetic_context.h: no prefill). Prints one short table.
#include <QCommandLineParser>
#include <QElapsedTimer>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "benchgpu.h"
#include "clicommon.h"
#include "lectern/inference.h"
#include "lectern/synthetic_context.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda_backend.h"
#include "lectern/cuda/wkv7.h"
#endif

namespace Cli {
namespace {

std::vector<lectern::token_id> randomTokens(int n, int vocab, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::vector<lectern::token_id> ids(static_cast<std::size_t>(n));
    for (auto& id : ids)
        id = lectern::token_id(rng() % std::uint32_t(vocab));
    return ids;
}

// Bytes of matrix weights one decode token reads (every matrix once; the head's whole table;
// one embedding row): the numerator of the bandwidth roofline.
double weightBytesPerToken(const lectern::ModelConfig& c, double es)
{
    const double C = c.n_embd, F = c.ffn_dim, V = c.vocab;
    double n = V * C + C;  // head + one embedding row
    for (int i = 0; i < c.n_rwkv; ++i)
        n += 4 * C * C + 2 * C * F +
             2 * C * (c.lora_decay + c.lora_iclr + c.lora_gate + (i > 0 ? c.lora_value : 0));
    n += c.n_attn * (4 * C * C + 2 * C * F);
    return n * es;
}

// Multiply-add FLOPs per prefill token (matrix products only; the head for the last row only is
// negligible over a long prompt).
double flopsPerToken(const lectern::ModelConfig& c, double bytesPerToken, double es)
{
    const double head = double(c.vocab) * c.n_embd + c.n_embd;
    return 2.0 * (bytesPerToken / es - head);
}

#ifdef LECTERN_HAVE_CUDA
// The op-kind breakdown recorded since gpu_profile_enable(true) (bench --profile), and the
// wall-clock milliseconds of the same calls: the difference is time outside GPU ops (host work,
// waits, launch gaps).
void printProfile(const std::string& what, double wallMs) {
    const auto entries = lectern::gpu_profile_report();
    double total = 0;
    for (const auto& e : entries) total += e.ms;
    std::printf("profile %s: %.1f ms in ops, %.1f ms wall\n", what.c_str(), total, wallMs);
    for (const auto& e : entries)
        std::printf("  %-12s %9.2f ms %5.1f%% %8lld ops\n", e.op.c_str(), e.ms,
                    total > 0 ? 100.0 * e.ms / total : 0.0, e.calls);
    // The same kinds by op (a kind's kernels: "elementwise: time-mix prepare"), slowest first.
    for (const auto& e : lectern::gpu_profile_op_names())
        std::printf("    %-40s %8.2f ms %8lld ops\n", e.op.c_str(), e.ms, e.calls);
    // The host's waits and work in the same calls (wall time; not part of the ops' total).
    for (const auto& e : lectern::gpu_profile_host_steps())
        std::printf("  host %-15s %9.2f ms %8lld times\n", e.op.c_str(), e.ms, e.calls);
    std::fflush(stdout);
}
#endif

// Seconds of one forward call.
lectern::Result<double> timedForward(lectern::State& state, std::span<const lectern::token_id> ids)
{
    std::vector<float> logits;
    QElapsedTimer t;
    t.start();
    if (auto ok = lectern::forward(state, ids, false, logits); !ok)
        return ok.error();
    return double(t.nsecsElapsed()) / 1e9;
}

// Mean seconds per token of `n` one-token calls.
lectern::Result<double> decodeSeconds(lectern::State& state, int n, int vocab)
{
    const auto ids = randomTokens(n, vocab, 7);
    std::vector<float> logits;
    QElapsedTimer t;
    t.start();
    for (int i = 0; i < n; ++i)
        if (auto ok = lectern::forward(state, std::span(&ids[std::size_t(i)], 1), false, logits); !ok)
            return ok.error();
    return double(t.nsecsElapsed()) / 1e9 / n;
}

}  // namespace

ModelBenchOptions modelBenchOptions()
{
    return {
        QCommandLineOption(QStringLiteral("threads"),
                           QStringLiteral("matmul, model: threads (1); extract: page threads "
                                          "(default: all cores)."),
                           QStringLiteral("N"), QStringLiteral("1")),
        QCommandLineOption(QStringLiteral("prefill"),
                           QStringLiteral("model: prompt tokens to prefill (2048)."),
                           QStringLiteral("N"), QStringLiteral("2048")),
        QCommandLineOption(QStringLiteral("decode"),
                           QStringLiteral("model: tokens to decode one by one (128)."),
                           QStringLiteral("N"), QStringLiteral("128")),
        QCommandLineOption(QStringLiteral("kv-dtype"),
                           QStringLiteral("model, shape: KV-cache type of attention blocks "
                                          "f32|f16|int8 (f32; a document store's is f16)."),
                           QStringLiteral("TYPE"), QStringLiteral("f32")),
    };
}

void addGpuBenchOptions(QCommandLineParser& parser)
{
    addOption(parser, "shape",
              "Random-weight model of a released shape (rwkv7-0.4b, rwkv7-1.5b, rwkv7-2.9b, "
              "rwkvx-3.6b; rwkvx-tiny for a quick check), bf16 matrices, on --backend: decode "
              "and prefill against the GPU's rooflines; with --prefill, --decode, --contexts.",
              "NAME");
    addOption(parser, "contexts",
              "shape (RWKV-X): context lengths for prefill time and decode latency "
              "(default 1024,65536,131072).",
              "N,N,...");
    addOption(parser, "profile",
              "shape, cuda: after the figures, one prefill and the decode run again with CUDA "
              "events around every op, and where their time went by kind of op.");
    addOption(parser, "gemv",
              "shape, cuda: the decode GEMV launches alone at the shape (a block's batches and "
              "the head), each walk of the kernel in turn, against the copy roofline.");
    addOption(parser, "synthetic-contexts",
              "shape (RWKV-X): decode latency after contexts of these lengths filled with "
              "random KV chunks instead of a prefill (default none).",
              "N,N,...");
}

int runShapeBench(const QCommandLineParser& parser)
{
    QString error;
    auto config = lectern::model_shape(parser.value(QStringLiteral("shape")).toStdString());
    if (!config)
        return fail(config.error().message, UsageError);
    bool ok = false;
    const int prefill = parser.value(QStringLiteral("prefill")).toInt(&ok);
    if (!ok || prefill < 1)
        return fail(QStringLiteral("--prefill must be a positive integer"), UsageError);
    const int decode = parser.value(QStringLiteral("decode")).toInt(&ok);
    if (!ok || decode < 1)
        return fail(QStringLiteral("--decode must be a positive integer"), UsageError);
    std::vector<int> contexts, synthetic;
    const auto parseList = [&](const char* option, const QString& fallback,
                               std::vector<int>& out) {
        const QString name = QLatin1String(option);
        const QString list = parser.isSet(name) ? parser.value(name) : fallback;
        for (const QString& item : list.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
            bool good = false;
            const int n = item.trimmed().toInt(&good);
            if (!good || n < 1)
                return false;
            out.push_back(n);
        }
        return true;
    };
    if (!parseList("contexts", QStringLiteral("1024,65536,131072"), contexts))
        return fail(QStringLiteral("--contexts: a list of positive integers"), UsageError);
    if (!parseList("synthetic-contexts", QString(), synthetic))
        return fail(QStringLiteral("--synthetic-contexts: a list of positive integers"),
                    UsageError);
    lectern::RuntimeOptions runtime;
    runtime.threads = parser.isSet(QStringLiteral("threads"))
                          ? parser.value(QStringLiteral("threads")).toInt()
                          : 0;
    if (!applyBackend(parser, runtime, &error))
        return fail(error);
    const lectern::DType dtype = lectern::DType::bf16;
    const double es = 2.0;

    double copyGbS = 0, tflops = 0;
    std::string device = "cpu";
#ifdef LECTERN_HAVE_CUDA
    if (runtime.backend == lectern::Backend::cuda) {
        auto roof = lectern::measure_gpu_roofline();
        if (!roof)
            return fail(roof.error().message);
        copyGbS = roof->copy_gb_s;
        tflops = roof->bf16_tflops;
        device = roof->device;
    }
#endif
    QElapsedTimer loadTimer;
    loadTimer.start();
    auto model = lectern::Model::random(*config, dtype, 1234, runtime);
    if (!model)
        return fail(model.error().message);
    const double loadS = double(loadTimer.nsecsElapsed()) / 1e9;
    const lectern::ModelConfig& c = (*model)->config();
    lectern::AttentionOptions attention;  // native, chunk 2048, top-k 3 (the released config)
    // --kv-dtype f16 is a document store's cache: on the GPU each completed chunk is then sealed
    // (rounded on the device, kv_seal.cu), which the RWKV-X rows include.
    const auto kv = parseKvDType(parser.value(QStringLiteral("kv-dtype")));
    if (!kv)
        return fail(QStringLiteral("--kv-dtype must be f32, f16 or int8"), UsageError);
    attention.kv_dtype = *kv;

    const double bytes = weightBytesPerToken(c, es);
    const double flops = flopsPerToken(c, bytes, es);
    std::printf("shape: %s  device: %s  backend: %s  kv: %s  weights/token: %.2f GB  load: "
                "%.1f s\n",
                qPrintable(parser.value(QStringLiteral("shape"))), device.c_str(),
                lectern::backend_name(runtime.backend), kvDTypeName(attention.kv_dtype),
                bytes / 1e9, loadS);
    // What the model holds on the GPU: the weights, the scratch and its segment length (wider
    // for RWKV-7 where memory allows, cuda_model.h), the KV budget.
    if (const std::string note = lectern::device_model_note(**model); !note.empty())
        std::printf("device model: %s\n", note.c_str());
    if (copyGbS > 0)
        std::printf("roofline: copy %.0f GB/s -> decode %.1f tok/s; bf16 GEMM %.0f TFLOP/s -> "
                    "prefill %.0f tok/s\n",
                    copyGbS, copyGbS * 1e9 / bytes, tflops, tflops * 1e12 / flops);
    std::fflush(stdout);

    // Warm-up (first-use allocations, cuBLAS heuristics).
    {
        lectern::State warm(*model, attention);
        const auto ids = randomTokens(64, c.vocab, 1);
        if (auto t = timedForward(warm, ids); !t)
            return fail(t.error().message);
        if (auto d = decodeSeconds(warm, 2, c.vocab); !d)
            return fail(d.error().message);
    }
    std::printf("%-28s %12s %12s %9s\n", "measure", "value", "roofline", "of roof");
    const auto row = [](const char* what, double value, double roof, const char* unit) {
        if (roof > 0 && value != 0.0 && std::abs(value) < 0.01)  // the emulator's GB/s
            std::printf("%-28s %9.3g %-3s %9.1f %-3s %8.3g%%\n", what, value, unit, roof, unit,
                        100.0 * value / roof);
        else if (roof > 0)
            std::printf("%-28s %9.2f %-3s %9.1f %-3s %8.1f%%\n", what, value, unit, roof, unit,
                        100.0 * value / roof);
        else if (value != 0.0 && std::abs(value) < 0.01)  // a ratio far below 1: not "0.00"
            std::printf("%-28s %9.3g %-3s %12s %9s\n", what, value, unit, "-", "-");
        else
            std::printf("%-28s %9.2f %-3s %12s %9s\n", what, value, unit, "-", "-");
        std::fflush(stdout);
    };
    {
        lectern::State s(*model, attention);
        if (auto t = timedForward(s, randomTokens(16, c.vocab, 2)); !t)
            return fail(t.error().message);
        auto d = decodeSeconds(s, decode, c.vocab);
        if (!d)
            return fail(d.error().message);
        row("decode tok/s (batch 1)", 1.0 / *d, copyGbS * 1e9 / bytes, "t/s");
    }
    if (runtime.backend == lectern::Backend::cuda) {
        // The same decode replayed from CUDA graphs (RuntimeOptions::cuda_graphs): a second
        // model, since the option is fixed at load. RWKV-X: the runs of RWKV blocks between
        // attention blocks from graphs, the attention blocks launched as usual. (The environment
        // variable LECTERN_CUDA_GRAPHS overrides the option for both models.)
        lectern::RuntimeOptions graphs = runtime;
        graphs.cuda_graphs = true;
        auto graphed = lectern::Model::random(*config, dtype, 1234, graphs);
        if (!graphed)
            return fail(graphed.error().message);
        lectern::State s(*graphed, attention);
        if (auto t = timedForward(s, randomTokens(16, c.vocab, 2)); !t)
            return fail(t.error().message);
        if (auto w = decodeSeconds(s, 2, c.vocab); !w)  // captures both graphs
            return fail(w.error().message);
        auto d = decodeSeconds(s, decode, c.vocab);
        if (!d)
            return fail(d.error().message);
        row("decode tok/s (CUDA graphs)", 1.0 / *d, copyGbS * 1e9 / bytes, "t/s");
    }
#ifdef LECTERN_HAVE_CUDA
    if (parser.isSet(QStringLiteral("gemv")) && runtime.backend == lectern::Backend::cuda) {
        // Each decode GEMV launch alone, every walk in turn (LECTERN_CUDA_GEMV's A/B per matrix).
        auto gemvs = lectern::measure_decode_gemv(c, dtype);
        if (!gemvs)
            return fail(gemvs.error().message);
        for (const auto& g : *gemvs) {
            const std::string what = "gemv GB/s " + g.batch + " " + g.walk;
            row(what.c_str(), g.bytes / g.us / 1e3, copyGbS, "GB/s");
        }
    }
#endif
    {
        lectern::State s(*model, attention);
        auto t = timedForward(s, randomTokens(prefill, c.vocab, 3));
        if (!t)
            return fail(t.error().message);
        const std::string what = "prefill tok/s (" + std::to_string(prefill) + ")";
        row(what.c_str(), prefill / *t, tflops * 1e12 / flops, "t/s");
        // The same length again on the same state, as the app reads a document's next piece:
        // without the first call's one-time costs (a fresh state's buffers, the first use of
        // kernels for this many rows).
        auto next = timedForward(s, randomTokens(prefill, c.vocab, 6));
        if (!next)
            return fail(next.error().message);
        const std::string again = "prefill tok/s (" + std::to_string(prefill) + ", next call)";
        row(again.c_str(), prefill / *next, tflops * 1e12 / flops, "t/s");
    }
#ifdef LECTERN_HAVE_CUDA
    if (runtime.backend == lectern::Backend::cuda && c.n_attn > 0) {
        // The same prefill with each segment's KV rows appended to the host caches before the
        // next segment runs (the order before they overlapped; the same for one segment, up to
        // 1,024 tokens), same process.
        qputenv("LECTERN_CUDA_KV_APPEND", "sync");
        lectern::State s(*model, attention);
        auto t = timedForward(s, randomTokens(prefill, c.vocab, 3));
        qunsetenv("LECTERN_CUDA_KV_APPEND");
        if (!t) return fail(t.error().message);
        const std::string what =
            "prefill tok/s (" + std::to_string(prefill) + ", KV append in turn)";
        row(what.c_str(), prefill / *t, tflops * 1e12 / flops, "t/s");
    }
#endif
#ifdef LECTERN_HAVE_CUDA
    if (runtime.backend == lectern::Backend::cuda && c.n_embd % 64 == 0) {
        // The WKV-7 kernels alone on one prefill segment (1024 tokens, as the model feeds
        // them): the chunked form the engine uses against the sequential kernel, same process.
        auto wkv = lectern::cuda::wkv7_bench(std::min(prefill, 1024), c.n_embd / 64, 64, 5);
        if (!wkv)
            return fail(wkv.error().message);
        row("wkv7 chunked / sequential", wkv->prefill_tokens_per_s /
                                             wkv->sequential_prefill_tokens_per_s, 0, "x");
        // The chunked kernel's pre-pass (decays and matrices of every chunk at once) against
        // the same kernel computing them chunk after chunk.
        if (wkv->inline_prefill_tokens_per_s > 0 && wkv->prepass_prefill_tokens_per_s > 0)
            row("wkv7 pre-pass / without", wkv->prepass_prefill_tokens_per_s /
                                               wkv->inline_prefill_tokens_per_s, 0, "x");
        // The scan over chunks (LECTERN_CUDA_WKV=scan) against the chunked kernel's default.
        if (wkv->scan_prefill_tokens_per_s > 0 && wkv->prepass_prefill_tokens_per_s > 0)
            row("wkv7 scan / chunked", wkv->scan_prefill_tokens_per_s /
                                           wkv->prepass_prefill_tokens_per_s, 0, "x");
    }
    if (parser.isSet(QStringLiteral("profile")) && runtime.backend == lectern::Backend::cuda) {
        lectern::State s(*model, attention);
        lectern::gpu_profile_enable(true);
        auto t = timedForward(s, randomTokens(prefill, c.vocab, 3));
        if (!t)
            return fail(t.error().message);
        // The prefill's matmul time by weight shape (output x input features).
        const auto shapes = lectern::gpu_profile_matmul_shapes();
        printProfile("prefill " + std::to_string(prefill), *t * 1e3);
        for (const auto& e : shapes)
            std::printf("    matmul %-14s %8.2f ms %8lld ops\n", e.op.c_str(), e.ms, e.calls);
        lectern::gpu_profile_enable(true);
        auto d = decodeSeconds(s, decode, c.vocab);
        if (!d)
            return fail(d.error().message);
        printProfile("decode x" + std::to_string(decode), *d * decode * 1e3);
        lectern::gpu_profile_enable(false);
    }
#endif
    if (c.n_attn > 0) {
        for (int ctx : contexts) {
            lectern::State s(*model, attention);
            auto t = timedForward(s, randomTokens(ctx, c.vocab, 4));
            if (!t)
                return fail(t.error().message);
            const std::string p = "prefill s at " + std::to_string(ctx);
            row(p.c_str(), *t, 0, "s");
            // The first token after the prefill apart (as after a synthetic context): it pays
            // what a first call pays once (a decode graph captured when graphs are on; until
            // session 20 also the prefill's page-locked KV row buffers freed). Until session 19
            // the decode row below averaged it in.
            auto afterPrefill = decodeSeconds(s, 1, c.vocab);
            if (!afterPrefill)
                return fail(afterPrefill.error().message);
            const std::string firstRow = "first token ms after " + std::to_string(ctx);
            row(firstRow.c_str(), *afterPrefill * 1e3, 0, "ms");
            auto d = decodeSeconds(s, decode, c.vocab);
            if (!d)
                return fail(d.error().message);
            const std::string q = "decode ms/tok after " + std::to_string(ctx);
            row(q.c_str(), *d * 1e3, 0, "ms");
            // A question's start as the app makes it: fork the document's state (on the GPU:
            // copied on the device when the budget has room, else its rows borrowed, which the
            // row's label then says) and decode one token. Twice, the first question gone before
            // the second: what the second does not pay, the first paid once (kernels launched
            // for the first time, first allocations). Session 16: 158-293 ms after 1K against
            // 59-71 ms after 64K and 128K, unexplained.
            for (const char* again : {"", " (again)"}) {
                QElapsedTimer clock;
                clock.start();
                lectern::State question = s.fork();
                const double forkMs = double(clock.nsecsElapsed()) / 1e6;
                if (auto first = decodeSeconds(question, 1, c.vocab); !first)
                    return fail(first.error().message);
                const double bothMs = double(clock.nsecsElapsed()) / 1e6;
                const bool borrowed =
                    lectern::device_memory_note(question).find("in place") != std::string::npos;
                const std::string after = " after " + std::to_string(ctx);
                row(("fork ms" + after + again).c_str(), forkMs, 0, "ms");
                row(("fork + 1 token ms" + after + again + (borrowed ? " (borrowed)" : "")).c_str(),
                    bothMs, 0, "ms");
            }
#ifdef LECTERN_HAVE_CUDA
            if (runtime.backend == lectern::Backend::cuda) {
                // The same prefill's attention core alone, every attention block (after the
                // state above is gone, so its KV memory is free again).
                s = lectern::State(*model, attention);
                auto core = lectern::measure_sparse_attention_prefill(
                    ctx, c.n_embd / 64, attention.chunk_size, attention.top_k);
                if (!core)
                    return fail(core.error().message);
                const std::string a = "attention core s at " + std::to_string(ctx);
                row(a.c_str(), *core * c.n_attn, 0, "s");
                // The float32 kernels the tensor-core path replaced, same process, where they
                // take seconds rather than minutes (8.5 s at 64K on an H200).
                if (ctx <= 65536) {
                    auto float32_core = lectern::measure_sparse_attention_prefill(
                        ctx, c.n_embd / 64, attention.chunk_size, attention.top_k, false);
                    if (!float32_core)
                        return fail(float32_core.error().message);
                    const std::string b =
                        "attention core (float32 kernels) s at " + std::to_string(ctx);
                    row(b.c_str(), *float32_core * c.n_attn, 0, "s");
                }
            }
#endif
        }
        for (int ctx : synthetic) {
            lectern::State s(*model, attention);
            if (auto filled = lectern::fill_synthetic_context(s, ctx, 16, 5); !filled)
                return fail(filled.error().message);
            // The first token uploads the context's KV rows (dense), or pages in what it
            // selects (paged): what a reopened document's first question waits for.
            auto uploaded = decodeSeconds(s, 1, c.vocab);
            if (!uploaded)
                return fail(uploaded.error().message);
            const std::string u = "first token ms synth " + std::to_string(ctx);
            row(u.c_str(), *uploaded * 1e3, 0, "ms");
            auto d = decodeSeconds(s, decode, c.vocab);
            if (!d)
                return fail(d.error().message);
            const std::string q = "decode ms/tok synth " + std::to_string(ctx);
            row(q.c_str(), *d * 1e3, 0, "ms");
            {
                // A question's start on that context: the fork alone, then its first token
                // (the fork's first append; the host cache's partial chunk is what a fork of a
                // synthetic context and of a read one have in common).
                QElapsedTimer clock;
                clock.start();
                lectern::State question = s.fork();
                const double fork_ms = double(clock.nsecsElapsed()) / 1e6;
                if (auto first = decodeSeconds(question, 1, c.vocab); !first)
                    return fail(first.error().message);
                const double both_ms = double(clock.nsecsElapsed()) / 1e6;
                const std::string f = "fork ms synth " + std::to_string(ctx);
                row(f.c_str(), fork_ms, 0, "ms");
                const std::string g = "fork + 1 token ms synth " + std::to_string(ctx);
                row(g.c_str(), both_ms, 0, "ms");
            }
#ifdef LECTERN_HAVE_CUDA
            // Where that decode's time goes (at 1M tokens the paged cache serves it).
            if (parser.isSet(QStringLiteral("profile")) &&
                runtime.backend == lectern::Backend::cuda) {
                lectern::gpu_profile_enable(true);
                auto p = decodeSeconds(s, decode, c.vocab);
                if (!p) return fail(p.error().message);
                printProfile("decode synth " + std::to_string(ctx) + " x" + std::to_string(decode),
                             *p * decode * 1e3);
                lectern::gpu_profile_enable(false);
            }
            // The attention core of one decode token, every attention block, on random rows of
            // that length: each query's keys split among blocks (the device's own count), then
            // one block per (query, head), same rows, same minute. Up to 128K (it needs its own
            // float32 rows; the core's work hardly grows with the context).
            if (runtime.backend == lectern::Backend::cuda && ctx <= 131072) {
                const int splits[] = {0, 1};
                auto core = lectern::measure_sparse_attention_decode(
                    ctx, c.n_embd / 64, attention.chunk_size, attention.top_k, splits);
                if (!core)
                    return fail(core.error().message);
                const std::string a = "decode attention us synth " + std::to_string(ctx);
                row(a.c_str(), (*core)[0] * 1e6 * c.n_attn, 0, "us");
                const std::string b = a + " (block per pair)";
                row(b.c_str(), (*core)[1] * 1e6 * c.n_attn, 0, "us");
            }
#endif
        }
    }
    return Success;
}

}  // namespace Cli
