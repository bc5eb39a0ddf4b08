"""What decides a PyTorch engine's speed, set and reported the same way by both of
inferbench's PyTorch scripts (``pytorch_server.py`` for API mode, ``generate.py`` for CLI
mode): device, dtype, attention implementation, ``torch.compile`` and the KV cache.

Each knob is asked for on the command line and the scripts report back what was really
used (``effective``) next to what was asked (``asked``), since transformers may fall back
(e.g. an attention implementation the model does not support):

  --device    auto | cpu | cuda[:N] | mps      auto: cuda, then mps, then cpu
  --dtype     auto | bfloat16 | float16 | float32
              auto: bfloat16 on CUDA when the GPU supports it (else float16), float16 on
              MPS, bfloat16 on CPU (half the bytes per token of float32; decodes ~2.5x
              faster than float32 on the 2-core AVX-512 test host)
  --attn-implementation  auto | eager | sdpa | flash_attention_2
              auto: transformers' own choice; flash_attention_2 needs the flash_attn
              package (a clear failure at start otherwise)
  --compile   off | default | max-autotune-no-cudagraphs | reduce-overhead | max-autotune
              torch.compile(model.forward, mode=...). transformers' own automatic
              compilation of static-cache decoding (CUDA) is always switched off, so that
              "off" means off and a mode is the one given here. On a GPU, reduce-overhead
              and max-autotune also capture CUDA graphs (CUDA_GRAPH_MODES); default
              (Inductor kernels, quickest to compile) and max-autotune-no-cudagraphs
              (autotuned kernels, minutes to compile) do not. reduce-overhead with a static
              cache crashed the server (SIGSEGV in CUDA graphs; torch 2.11, transformers
              5.17, H100): compile without CUDA graphs there. Shapes: dynamic left to
              torch (a decode step's length 1 is always its own static graph; prefill
              turns dynamic once a second prompt length is seen), not dynamic=False, which
              would recompile for every prompt length
  --cache-implementation  dynamic | static
              HF generate's KV cache; a static cache keeps shapes fixed, which is what
              lets torch.compile (and CUDA graphs) help decoding
  --device-map  none | auto | balanced | balanced_low_0 | sequential
              none: the whole model on --device; otherwise from_pretrained's device_map
              spreads its layers over the GPUs the process sees (CUDA_VISIBLE_DEVICES,
              which inferbench sets from the engine's `gpus`); the layers run in turn

Nothing here is timed: the scripts time loading, compile warm-up and generation.
"""

import importlib.util
import sys

DTYPES = ("auto", "bfloat16", "float16", "float32")
ATTN = ("auto", "eager", "sdpa", "flash_attention_2")
COMPILE = ("off", "default", "max-autotune-no-cudagraphs", "reduce-overhead", "max-autotune")
# The compile modes that capture CUDA graphs on a GPU (Inductor's cudagraph trees).
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
CACHE = ("dynamic", "static")
DEVICE_MAPS = ("none", "auto", "balanced", "balanced_low_0", "sequential")


def add_arguments(p):
    """The knobs as argparse options (shared by both scripts)."""
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda[:N], mps")
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument("--attn-implementation", default="auto", choices=ATTN)
    p.add_argument("--compile", default="off", choices=COMPILE)
    p.add_argument("--cache-implementation", default="dynamic", choices=CACHE)
    p.add_argument("--device-map", default="none", choices=DEVICE_MAPS)


def pick_device(torch, name):
    """The device to load on; exits with a message when the asked one is not there."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if has_mps else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(f"--device {name}: CUDA is not available in this torch build or machine")
    if name == "mps" and not has_mps:
        sys.exit("--device mps: MPS is not available on this machine")
    return name


def pick_dtype(torch, name, device):
    """The torch dtype for `name` on `device` (see the module doc for `auto`)."""
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device == "mps":
            return torch.float16
        return torch.bfloat16
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in table:
        sys.exit(f"--dtype {name}: use one of {', '.join(DTYPES)}")
    return table[name]


def model_kwargs(args):
    """Keyword arguments for `from_pretrained` from the asked attention implementation;
    exits when flash_attention_2 is asked and the package is not importable."""
    kw = {}
    attn = args.attn_implementation
    if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        sys.exit(
            "--attn-implementation flash_attention_2: the flash_attn package is not installed "
            "in this Python (pip install flash-attn, on a CUDA machine), or choose sdpa or eager"
        )
    if attn != "auto":
        kw["attn_implementation"] = attn
    if getattr(args, "device_map", "none") != "none":
        kw["device_map"] = args.device_map
    return kw


def place(model, args, device):
    """Put the model on `device` unless a device map placed it already; returns the
    device its inputs go to (the first layer's)."""
    if getattr(args, "device_map", "none") == "none":
        model.to(device)
        return device
    return str(model.device)


def devices_in_use(model):
    """The devices a dispatched model's layers sit on, e.g. "cuda:0,cuda:1"; None when
    it was not spread by a device map."""
    dm = getattr(model, "hf_device_map", None)
    if not dm:
        return None
    names = set()
    for v in dm.values():
        names.add(f"cuda:{v}" if isinstance(v, int) else str(v))
    return ",".join(sorted(names))


def apply_compile(torch, model, mode):
    """Wrap the model's forward in torch.compile (lazily: the first calls compile).
    Only `CUDA_GRAPH_MODES` capture CUDA graphs; `default` is torch's default mode."""
    if mode == "off":
        return
    if mode not in COMPILE:
        sys.exit(f"--compile {mode}: use one of {', '.join(COMPILE)}")
    model.forward = torch.compile(model.forward, mode=None if mode == "default" else mode)


def generate_kwargs(args, generation_config):
    """Keyword arguments every `generate` call gets from the knobs."""
    kw = {"return_dict_in_generate": True}
    if args.cache_implementation == "static":
        kw["cache_implementation"] = "static"
    # transformers compiles static-cache decoding by itself on CUDA unless told not to:
    # the compile knob alone decides.
    if hasattr(generation_config, "disable_compile"):
        kw["disable_compile"] = True
    return kw


def cache_kind(out):
    """`static` or `dynamic` from the cache a `generate` returned, else its class name."""
    cache = getattr(out, "past_key_values", None)
    if cache is None:
        return None
    name = type(cache).__name__
    if name == "StaticCache":
        return "static"
    if name == "DynamicCache":
        return "dynamic"
    return name


def weights_format(model):
    """How the weights are held: a GGUF kept in its quantized blocks, or dequantized to
    the torch dtype (newer transformers keep blocks where a GGUF kernel exists)."""
    q = getattr(model, "hf_quantizer", None)
    packed = getattr(q, "packed_modules", None) or {}
    if q is not None and packed:
        return f"gguf packed ({len(packed)} modules kept in quantized blocks)"
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    return f"dense {dtype}"


def attn_in_use(model):
    cfg = getattr(model, "config", None)
    return getattr(cfg, "_attn_implementation", None) or getattr(cfg, "attn_implementation", None)


def report(torch, transformers, args, model, cache=None, compile_ms=None):
    """What was asked and what is in effect, as the scripts print it: a dict of
    {"asked", "effective"} per knob, plus versions and the compile warm-up time."""
    param = next(model.parameters())
    # Known only from a cache generate returned: null until one has run.
    effective_cache = cache
    settings = {
        "device": {"asked": args.device, "effective": str(param.device)},
        "dtype": {"asked": args.dtype, "effective": str(param.dtype).replace("torch.", "")},
        "attn_implementation": {"asked": args.attn_implementation, "effective": attn_in_use(model)},
        "compile": {"asked": args.compile, "effective": args.compile},
        "cache_implementation": {"asked": args.cache_implementation, "effective": effective_cache},
        "device_map": {"asked": getattr(args, "device_map", "none"),
                       "effective": getattr(args, "device_map", "none") if devices_in_use(model) else "none"},
        "devices_in_use": {"effective": devices_in_use(model) or str(param.device)},
        "weights": {"effective": weights_format(model)},
        "torch_version": {"effective": torch.__version__},
        "transformers_version": {"effective": transformers.__version__},
    }
    if compile_ms is not None:
        settings["compile_warmup_ms"] = {"effective": f"{compile_ms:.0f}"}
    return settings
