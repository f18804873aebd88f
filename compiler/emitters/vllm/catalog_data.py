"""vLLM's Prometheus metrics, in the format make_catalog.py writes.

vLLM version: v0.10.1 (the image tag pinned in compiler/emitters/vllm/image.py)
commit: 005a810bc40f (the stored snapshot of vllm-project/vllm this was read from; the
        repository was too large to mirror here, so the tag-to-commit match is not verified
        and the rows were written from the file as read. Regenerate from a checkout of the tag:
        python -m compiler.emitters.vllm.make_catalog <vllm tree> v0.10.1 <commit>)
path: vllm/v1/metrics/loggers.py (PrometheusStatLogger)
"""

from compiler.emitters.vllm.metric import Metric

VERSION = 'v0.10.1'
COMMIT = '005a810bc40f'
SOURCE = 'vllm/v1/metrics/loggers.py'

_L = ('model_name', 'engine')
_LATENCY = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
            480.0, 960.0, 1920.0, 7680.0)

METRICS = (
    Metric('vllm:cache_config_info', 'gauge', (), None),
    Metric('vllm:e2e_request_latency_seconds', 'histogram', _L, _LATENCY),
    Metric('vllm:generation_tokens', 'counter', _L, None),
    Metric('vllm:gpu_cache_usage_perc', 'gauge', _L, None),
    Metric('vllm:gpu_prefix_cache_hits', 'counter', _L, None),
    Metric('vllm:gpu_prefix_cache_queries', 'counter', _L, None),
    Metric('vllm:iteration_tokens_total', 'histogram', _L,
           (1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0)),
    Metric('vllm:kv_cache_usage_perc', 'gauge', _L, None),
    Metric('vllm:lora_requests_info', 'gauge', (), None),  # labels named through attributes: not read
    Metric('vllm:num_preemptions', 'counter', _L, None),
    Metric('vllm:num_requests_running', 'gauge', _L, None),
    Metric('vllm:num_requests_waiting', 'gauge', _L, None),
    Metric('vllm:prefix_cache_hits', 'counter', _L, None),
    Metric('vllm:prefix_cache_queries', 'counter', _L, None),
    Metric('vllm:prompt_tokens', 'counter', _L, None),
    Metric('vllm:request_decode_time_seconds', 'histogram', _L, _LATENCY),
    Metric('vllm:request_generation_tokens', 'histogram', _L, None),
    Metric('vllm:request_inference_time_seconds', 'histogram', _L, _LATENCY),
    Metric('vllm:request_max_num_generation_tokens', 'histogram', _L, None),
    Metric('vllm:request_params_max_tokens', 'histogram', _L, None),
    Metric('vllm:request_params_n', 'histogram', _L, (1.0, 2.0, 5.0, 10.0, 20.0)),
    Metric('vllm:request_prefill_time_seconds', 'histogram', _L, _LATENCY),
    Metric('vllm:request_prompt_tokens', 'histogram', _L, None),
    Metric('vllm:request_queue_time_seconds', 'histogram', _L, _LATENCY),
    Metric('vllm:request_success', 'counter', _L + ('finished_reason',), None),
    Metric('vllm:time_per_output_token_seconds', 'histogram', _L,
           (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0)),
    Metric('vllm:time_per_prefill_token_request_seconds', 'histogram', _L,
           (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)),
    Metric('vllm:time_to_first_token_seconds', 'histogram', _L,
           (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
            160.0, 640.0, 2560.0)),
)
