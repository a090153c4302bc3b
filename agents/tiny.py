"""Tiny random-weight Qwen-VL checkpoints for offline tests and CPU benchmarks.

``build_tiny_model(arch, out_dir, seed)`` writes a standard Hugging Face folder (config, safetensors
weights, tokenizer, processor with image and video sections, generation config) that
``AutoModelForImageTextToText.from_pretrained`` and ``AutoProcessor.from_pretrained`` load under
``HF_HUB_OFFLINE=1``. The tokenizer is a byte-level BPE trained here on a few KB of protocol-like
text, with Qwen's special tokens in Qwen2.5-VL order and ``<tool_call>`` / ``</tool_call>`` as
ordinary added tokens (they survive ``skip_special_tokens=True``). Same seed, same bytes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from vr_env.config import EnvConfig
from vr_env.protocol import prompts
from vr_env.protocol.labels import LABEL_KEYS, VIDEOGEN_DIMENSIONS
from vr_env.protocol.writers import final_turn, tool_turn

Arch = Literal["qwen2_5_vl", "qwen3_vl"]
ARCHS: tuple[str, ...] = ("qwen2_5_vl", "qwen3_vl")

#: Qwen2.5-VL's special tokens, in the order of their ids (151643...).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
#: Added (not special) tokens following the special ones, as in Qwen2.5-VL.
TOOL_TOKENS: tuple[str, ...] = ("<tool_call>", "</tool_call>")

#: Qwen2's pre-tokenization regex (the split before byte-level mapping).
_PRETOKENIZE_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

_IMAGE_BLOCK = (
    "{% if content['type'] == 'image' or content['type'] == 'image_url' %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
)
_CONTENT = (
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}" + _IMAGE_BLOCK + "{% endfor %}{% endif %}"
)
#: Qwen2.5-VL's chat template (default system prompt), images as vision_start/image_pad/vision_end.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n" + _CONTENT + "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
#: Qwen3-VL's layout: no default system prompt, otherwise the same rendering.
QWEN3_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n" + _CONTENT + "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Pixel budgets of the tiny processor: the paper's initial-frame budget, Qwen's minimum.
TINY_MAX_PIXELS = 512 * 28 * 28
TINY_MIN_PIXELS = 4 * 28 * 28


def _protocol_texts() -> list[str]:
    """Every kind of text the environment writes, from the protocol's own functions (no hand copy)."""
    config = EnvConfig()
    spec = config.protocol
    return [
        prompts.system_prompt(config),
        prompts.initial_user_text("a red car drives along a coastal road at sunset.", VIDEOGEN_DIMENSIONS, config),
        *(prompts.frame_label(f, config) for f in spec.initial_frame_ids()),
        prompts.tool_result_text([12, 24, 60, 72], 1, 2),
        prompts.error_text(prompts.out_of_range_reason([0, 97], spec.total_frames), 2, 3),
        prompts.error_text(prompts.too_many_reason(9, spec.max_frames_per_call), 1, 2),
        prompts.EVICTED_IMAGE_TEXT,
        prompts.FINAL_TEXT,
        prompts.TRUNCATED_TEXT,
    ]


def protocol_corpus() -> list[str]:
    """A few KB of text shaped like the judging protocol: the environment's real texts, plus turns
    written with the protocol's writers."""
    words = [
        "video",
        "frame",
        "frames",
        "prompt",
        "motion",
        "quality",
        "visual",
        "text",
        "alignment",
        "overall",
        "better",
        "tie",
        "the",
        "a",
        "of",
        "in",
        "is",
        "shows",
        "sharper",
        "blurry",
        "smooth",
        "jitter",
        "object",
        "person",
        "cat",
        "dog",
        "car",
        "walks",
        "runs",
        "red",
        "blue",
        "sky",
        "water",
        "light",
        "first",
        "second",
        "compare",
        "select",
        "look",
        "closer",
        "detail",
        "artifact",
        "consistent",
        "flicker",
        "face",
        "hand",
        "background",
    ]
    lines = _protocol_texts()
    for i in range(48):
        a, b, c = words[i % len(words)], words[(7 * i + 3) % len(words)], words[(13 * i + 5) % len(words)]
        frames = [(i * 5 + k * 11) % 96 + 1 for k in range(4)]
        values = dict(zip(LABEL_KEYS, [(i + k) % 3 for k in range(4)], strict=True))
        snapshot = f"Frame {frames[0]} {a} {b}; frame {frames[1]} {c}."
        think = f"Video {1 + i % 2} looks {a} and {c} in frame {frames[2]}."
        lines.append(tool_turn(snapshot, think, values, 1 + i % 3, frames))
        lines.append(final_turn(snapshot, think, values))
    return lines


def build_tokenizer(vocab_size: int = 1024) -> Any:
    """Train the byte-level BPE on :func:`protocol_corpus` and wrap it as ``Qwen2Tokenizer``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS) - len(TOOL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(protocol_corpus(), trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    for token in (*SPECIAL_TOKENS, *TOOL_TOKENS):
        vocab[token] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]
        unk_token=None,  # type: ignore[arg-type]
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TOOL_TOKENS])
    return tokenizer


def width_scaled_std(width: int) -> float:
    """Initializer std ``1 / sqrt(width)``: unit-scale pre-activations, as 0.02 gives a model thousands wide.

    Hugging Face's default ``initializer_range=0.02`` suits widths of a few thousand (0.02 * sqrt(3584)
    is about 1.2 for Qwen2.5-VL-7B's text model); at width 32 it gives pre-activations of std 0.11,
    where every SiLU / GELU is nearly linear, so a random-init tiny tower is a linear map that cannot
    tell zero-mean pixel noise from a clean frame, and training through the language model never
    teaches it to (``benchmarks/results/perception_probe.md``).

    >>> round(width_scaled_std(32), 4), round(width_scaled_std(128), 4)
    (0.1768, 0.0884)
    """
    return 1.0 / math.sqrt(width)


def tiny_config(
    arch: Arch,
    tokenizer: Any,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    vision_hidden_size: int = 32,
    initializer_range: float | None = None,
) -> Any:
    """The config of ``arch`` for ``tokenizer``: ~0.3M parameters at the defaults (shapes from
    stack-notes.md); ``hidden_size`` (a multiple of 64) and ``num_layers`` size the text model,
    ``vision_hidden_size`` (a multiple of 32) the vision tower. ``initializer_range``: the weights'
    init std, one for both models; ``None`` gives each model :func:`width_scaled_std` of its width
    (0.02, Hugging Face's default, leaves a tiny model unable to learn to see)."""
    if hidden_size < 64 or hidden_size % 64 or num_layers < 1 or vision_hidden_size < 32 or vision_hidden_size % 32:
        raise ValueError(
            "hidden_size must be a multiple of 64, vision_hidden_size of 32 and num_layers >= 1, got "
            f"{hidden_size}, {vision_hidden_size}, {num_layers}"
        )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = hidden_size // 4
    mrope_section = [head_dim // 8, 3 * head_dim // 16, 3 * head_dim // 16]
    text: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
        "initializer_range": initializer_range or width_scaled_std(hidden_size),
    }
    tokens = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    vision: dict[str, Any] = {
        "depth": 2,
        "hidden_size": vision_hidden_size,
        "intermediate_size": 2 * vision_hidden_size,
        "num_heads": 2,
        "out_hidden_size": hidden_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "initializer_range": initializer_range or width_scaled_std(vision_hidden_size),
    }
    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": mrope_section}
        vision.update(patch_size=14, window_size=112, fullatt_block_indexes=[1])
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **tokens)
    if arch == "qwen3_vl":
        from transformers import Qwen3VLConfig

        text["head_dim"] = head_dim
        text["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": mrope_section,
            "mrope_interleaved": True,
        }
        vision.update(patch_size=16, num_position_embeddings=64, deepstack_visual_indexes=[1])
        return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **tokens)
    raise ValueError(f"unknown tiny architecture {arch!r}; choose one of {ARCHS}")


def tiny_processor(arch: Arch, tokenizer: Any) -> Any:
    """The matching processor: Qwen2-VL image processor, video processor and chat template."""
    from transformers import Qwen2VLImageProcessor

    if arch == "qwen2_5_vl":
        from transformers import Qwen2_5_VLProcessor, Qwen2VLVideoProcessor

        size = {"shortest_edge": TINY_MIN_PIXELS, "longest_edge": TINY_MAX_PIXELS}
        return Qwen2_5_VLProcessor(
            image_processor=Qwen2VLImageProcessor(size=size, patch_size=14),
            video_processor=Qwen2VLVideoProcessor(size=size, patch_size=14),
            tokenizer=tokenizer,
            chat_template=QWEN2_5_VL_CHAT_TEMPLATE,
        )
    if arch == "qwen3_vl":
        from transformers import Qwen3VLProcessor, Qwen3VLVideoProcessor

        size = {"shortest_edge": TINY_MIN_PIXELS, "longest_edge": TINY_MAX_PIXELS}
        return Qwen3VLProcessor(
            image_processor=Qwen2VLImageProcessor(size=size, patch_size=16),
            video_processor=Qwen3VLVideoProcessor(size=size, patch_size=16),
            tokenizer=tokenizer,
            chat_template=QWEN3_VL_CHAT_TEMPLATE,
        )
    raise ValueError(f"unknown tiny architecture {arch!r}; choose one of {ARCHS}")


def build_tiny_model(
    arch: Arch,
    out_dir: str | Path,
    seed: int = 0,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    vision_hidden_size: int = 32,
    initializer_range: float | None = None,
) -> Path:
    """Build and save a tiny random-weight ``arch`` checkpoint with its processor into ``out_dir``.

    ``hidden_size`` / ``num_layers`` size the text model, ``vision_hidden_size`` the vision tower
    (:func:`tiny_config`); ``initializer_range`` the init std (``None``: scaled to each model's width).
    The caller's global torch RNG state is left untouched (weights are drawn inside ``fork_rng``).
    """
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    if arch not in ARCHS:
        raise ValueError(f"unknown tiny architecture {arch!r}; choose one of {ARCHS}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = tiny_config(
        arch,
        tokenizer,
        hidden_size=hidden_size,
        num_layers=num_layers,
        vision_hidden_size=vision_hidden_size,
        initializer_range=initializer_range,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    model.eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    model.save_pretrained(out)
    tiny_processor(arch, tokenizer).save_pretrained(out)
    return out


def checkpoint_parameter_count(folder: str | Path) -> int:
    """Number of parameters stored in ``folder/model.safetensors`` (read from its header)."""
    import math

    from safetensors import safe_open

    with safe_open(str(Path(folder) / "model.safetensors"), "np") as weights:
        return sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())  # noqa: SIM118
