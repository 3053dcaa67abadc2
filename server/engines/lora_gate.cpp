// The compiled LoRA model's adapter op, ragtune::lora_delta, as a C++ kernel that returns at once while the
// batch has no adapter token and otherwise calls its Python body (ragtune::lora_delta_python). The compiled
// model calls the op once per LoRA layer and step; a call into Python costs base traffic even when it does
// nothing (docs/decisions/lora-tax.md). The gate is set whenever vLLM writes a new batch's adapter mapping.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <atomic>

static std::atomic<bool> adapters_in_batch{true};

extern "C" void ragtune_set_adapters_in_batch(int on) { adapters_in_batch.store(on != 0); }

static void lora_delta(at::Tensor& output, const at::Tensor& x, int64_t layer) {
  if (!adapters_in_batch.load(std::memory_order_relaxed)) return;
  static auto python = c10::Dispatcher::singleton()
                           .findSchemaOrThrow("ragtune::lora_delta_python", "")
                           .typed<void(at::Tensor&, const at::Tensor&, int64_t)>();
  python.call(output, x, layer);
}

TORCH_LIBRARY_IMPL(ragtune, CPU, m) { m.impl("lora_delta", &lora_delta); }
