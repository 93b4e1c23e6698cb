"""Convert the CTranslate2 Whisper fixture (model.bin) into the mlx-community layout
(config.json + weights.safetensors, OpenAI tensor names, MLX conv layout) so that
mlx-whisper, the reference implementation, can run the very same weights.

    PY=$(scripts/py-venv.sh)
    $PY scripts/goldens/whisper_ct2_to_mlx.py [CT2_DIR] OUT_DIR

The format of model.bin is documented in shared/docs/fixtures.md. Only used to make
goldens and benchmark references; the Rust tests do their own conversion.
"""
import json
import os
import struct
import sys

import mlx.core as mx
import numpy as np

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path):
    f = open(path, "rb")
    u32 = lambda: struct.unpack("<I", f.read(4))[0]

    def s():
        n = struct.unpack("<H", f.read(2))[0]
        return f.read(n)[:-1].decode()

    version = u32()
    assert version == 6, version
    assert s() == "WhisperSpec"
    u32()  # revision
    out = {}
    for _ in range(u32()):
        name = s()
        rank = f.read(1)[0]
        dims = [u32() for _ in range(rank)]
        dt = f.read(1)[0]
        nb = u32()
        out[name] = np.frombuffer(f.read(nb), dtype=DTYPES[dt]).reshape(dims)
    return out


def convert(ct2_dir, out_dir):
    v = read_ct2(os.path.join(ct2_dir, "model.bin"))
    n_layers = lambda side: len(
        {k.split("/")[1] for k in v if k.startswith(side + "/layer_") and k.split("/")[1][6:].isdigit()}
    )
    w = {}

    def lin(to, frm, bias=True):
        w[to + ".weight"] = v[frm + "/weight"]
        if bias:
            w[to + ".bias"] = v[frm + "/bias"]

    def ln(to, frm):
        w[to + ".weight"] = v[frm + "/gamma"]
        w[to + ".bias"] = v[frm + "/beta"]

    for c in ("conv1", "conv2"):
        w[f"encoder.{c}.weight"] = v[f"encoder/{c}/weight"].transpose(0, 2, 1)
        w[f"encoder.{c}.bias"] = v[f"encoder/{c}/bias"]
    ln("encoder.ln_post", "encoder/layer_norm")
    ln("decoder.ln", "decoder/layer_norm")
    w["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    w["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    state = v["decoder/embeddings/weight"].shape[1]
    for side in ("encoder", "decoder"):
        for i in range(n_layers(side)):
            to, frm = f"{side}.blocks.{i}", f"{side}/layer_{i}"
            ln(to + ".attn_ln", frm + "/self_attention/layer_norm")
            qkv_w = v[frm + "/self_attention/linear_0/weight"]
            qkv_b = v[frm + "/self_attention/linear_0/bias"]
            for j, name in enumerate(("query", "key", "value")):
                w[f"{to}.attn.{name}.weight"] = qkv_w[j * state:(j + 1) * state]
                if name != "key":
                    w[f"{to}.attn.{name}.bias"] = qkv_b[j * state:(j + 1) * state]
            lin(to + ".attn.out", frm + "/self_attention/linear_1")
            ln(to + ".mlp_ln", frm + "/ffn/layer_norm")
            lin(to + ".mlp1", frm + "/ffn/linear_0")
            lin(to + ".mlp2", frm + "/ffn/linear_1")
            if side == "decoder":
                ln(to + ".cross_attn_ln", frm + "/attention/layer_norm")
                lin(to + ".cross_attn.query", frm + "/attention/linear_0")
                kv_w = v[frm + "/attention/linear_1/weight"]
                kv_b = v[frm + "/attention/linear_1/bias"]
                w[to + ".cross_attn.key.weight"] = kv_w[:state]
                w[to + ".cross_attn.value.weight"] = kv_w[state:]
                w[to + ".cross_attn.value.bias"] = kv_b[state:]
                lin(to + ".cross_attn.out", frm + "/attention/linear_2")
    config = {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/position_encodings/encodings"].shape[1]),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": n_layers("encoder"),
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": state,
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": n_layers("decoder"),
        "model_type": "whisper",
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    mx.save_safetensors(
        os.path.join(out_dir, "weights.safetensors"),
        {k: mx.array(np.ascontiguousarray(a)) for k, a in w.items()},
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 1:
        fixtures = os.environ.get("MURMUR_FIXTURES", "/var/cache/murmur/fixtures")
        args = [os.path.join(fixtures, "whisper-base-ct2")] + args
    convert(*args)
