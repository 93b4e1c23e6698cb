"""The operations of Murmur's decoder block, in SmolLM2-135M's shapes and dtypes, run on
MLX's GPU and on its CPU and compared: which one, if any, computes differently on this
backend. Each line: the operation, the largest difference relative to the largest value.

    python bench/gpu/ops_check.py
"""
import mlx.core as mx

mx.random.seed(0)
GROUP = 32
# A dry run where there is no GPU: both sides on the CPU.
GPU = mx.gpu if mx.default_device().type == mx.DeviceType.gpu else mx.cpu


def rel(a, b):
    a, b = a.astype(mx.float32), b.astype(mx.float32)
    scale = mx.maximum(mx.abs(b).max(), mx.array(1e-6))
    bad = (~mx.isfinite(a)).sum().item()
    return (mx.abs(a - b).max() / scale).item(), bad


def both(name, fn, *args):
    """`fn(*args)` on the GPU and on the CPU."""
    with mx.stream(GPU):
        g = fn(*args)
        mx.eval(g)
    with mx.stream(mx.cpu):
        c = fn(*args)
        mx.eval(c)
    if not isinstance(g, (list, tuple)):
        g, c = [g], [c]
    for i, (x, y) in enumerate(zip(g, c)):
        d, bad = rel(x, y)
        flag = "  <-- DIFFERS" if d > 2e-2 or bad else ""
        print(f"{name}[{i}] {tuple(x.shape)} {x.dtype}: rel diff {d:.2e}, non-finite {bad}{flag}", flush=True)


def quantized(n, k, bits=4):
    w = mx.random.normal((n, k)) * 0.05
    wq, s, b = mx.quantize(w, group_size=GROUP, bits=bits)
    return wq, s.astype(mx.float16), b.astype(mx.float16)


# Fused Q/K/V: one matmul, split, heads, RoPE (traditional, SmolLM2's base), at offsets.
wq, s, b = quantized(960, 576)


def qkv_heads(x, offset):
    y = mx.quantized_matmul(x, wq, s, b, transpose=True, group_size=GROUP, bits=4)
    q, k, v = mx.split(y, [576, 768], axis=-1)
    L = x.shape[1]
    q = q.reshape(1, L, 9, 64).transpose(0, 2, 1, 3)
    k = k.reshape(1, L, 3, 64).transpose(0, 2, 1, 3)
    v = v.reshape(1, L, 3, 64).transpose(0, 2, 1, 3)
    q = mx.fast.rope(q, 64, traditional=True, base=100000.0, scale=1.0, offset=offset)
    k = mx.fast.rope(k, 64, traditional=True, base=100000.0, scale=1.0, offset=offset)
    return q, k, v


for L, off in ((121, 0), (29, 121), (1, 150)):
    x = mx.random.normal((1, L, 576))
    both(f"qkv+rope L={L} offset={off}", qkv_heads, x, off)


# The KV cache: slice updates into a zero buffer, then attention over it.
def cached_attention(q, k, v, prev_k, prev_v):
    total = prev_k.shape[2] + k.shape[2]
    buf_k = mx.zeros((1, 3, 256, 64), k.dtype)
    buf_v = mx.zeros((1, 3, 256, 64), v.dtype)
    buf_k[:, :, : prev_k.shape[2]] = prev_k
    buf_v[:, :, : prev_v.shape[2]] = prev_v
    buf_k[:, :, prev_k.shape[2]:total] = k
    buf_v[:, :, prev_v.shape[2]:total] = v
    keys, values = buf_k[:, :, :total], buf_v[:, :, :total]
    mask = "causal" if q.shape[2] > 1 else None
    return mx.fast.scaled_dot_product_attention(q, keys, values, scale=0.125, mask=mask)


for L, prev in ((121, 0), (29, 121), (1, 150)):
    for dt in (mx.float32, mx.float16):
        q = mx.random.normal((1, 9, L, 64)).astype(dt)
        k = mx.random.normal((1, 3, L, 64)).astype(dt)
        v = mx.random.normal((1, 3, L, 64)).astype(dt)
        pk = mx.random.normal((1, 3, prev, 64)).astype(dt)
        pv = mx.random.normal((1, 3, prev, 64)).astype(dt)
        both(f"cache+sdpa L={L} prev={prev} {dt}", cached_attention, q, k, v, pk, pv)


@mx.compile
def swiglu(gate, x):
    return mx.sigmoid(gate) * gate * x


for L in (1, 29, 121):
    wq, s, b = quantized(3072, 576)
    x = mx.random.normal((1, L, 576)) * 3

    def mlp(x):
        y = mx.quantized_matmul(x, wq, s, b, transpose=True, group_size=GROUP, bits=4)
        g, u = mx.split(y, [1536], axis=-1)
        return swiglu(g, u)

    both(f"gate_up+compiled swiglu L={L}", mlp, x)

for dt in (mx.float32, mx.float16):
    x = (mx.random.normal((1, 121, 576)) * 40).astype(dt)
    w = mx.random.normal((576,)) * 0.5
    both(f"rms_norm x={dt} w=float32", lambda x: mx.fast.rms_norm(x, w, 1e-5), x)

# Quantized matrix products last: their CPU side is slow.
for m in (1, 29, 121):
    for n, k in ((960, 576), (3072, 576), (576, 1536), (576, 576)):
        wq, s, b = quantized(n, k)
        for xdt in (mx.float32, mx.float16):
            x = (mx.random.normal((1, m, k)) * 3).astype(xdt)
            both(f"qmm M={m} N={n} K={k} x={xdt}", lambda x: mx.quantized_matmul(
                x, wq, s, b, transpose=True, group_size=GROUP, bits=4), x)
# The tied 8-bit head.
wq, s, b = quantized(49152, 576, bits=8)
x = mx.random.normal((1, 1, 576)) * 3
both("qmm head 8-bit", lambda x: mx.quantized_matmul(x, wq, s, b, transpose=True, group_size=GROUP, bits=8), x)

