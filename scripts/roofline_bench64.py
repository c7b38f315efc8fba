"""FLOP per image of the bench64 measurements and this machine's matmul peak (docs/performance.md).

  PYTHON scripts/roofline_bench64.py OFFICIAL_REPO_DIR [threads]

Run with the reference environment of shared/anchor (its PyTorch and the official code): counts,
with torch.utils.flop_counter, the matmul/convolution/attention FLOP of one batch of each
measurement of anchor_bench.py / `rq bench` on the same bench64 models (tokenize, RQ-VAE train step,
RQ-Transformer train step, KV-cached sampling), and times a 2048x2048 float32 and bfloat16 matmul
on `threads` intra-op threads (the peak the fractions in scripts/bench-vs-anchor.sh refer to).
Prints one JSON line. Elementwise work (GroupNorm, SiLU, softmax, Adam) is not counted: the FLOP are
those a roofline against the matmul peak is about.
"""
import json
import sys
import time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
repo = args[0]
threads = int(args[1]) if len(args) > 1 else 2
import anchor_bench64  # noqa: E402  (this folder: the models of shared/anchor/anchor_bench.py and conf/*/bench64.yaml)
torch = anchor_bench64.start(repo, threads)
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
B = anchor_bench64.B
vae = anchor_bench64.vae()
tr = anchor_bench64.transformer()
x = torch.rand(B, 3, 64, 64) * 2 - 1
cond = torch.randint(0, 10, (B, 1))


def flops(fn):
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / B


res = {"torch": torch.__version__, "threads": threads}
vae.eval()
with torch.no_grad():
    res["tokenize_flop_per_img"] = flops(lambda: vae.get_codes(x))
    codes = vae.get_codes(x)
vae.train()


def vae_step():
    out, ql, code = vae(x)
    vae.compute_loss(out, ql, code, xs=x)["loss_total"].backward()


res["vae_train_flop_per_img"] = flops(vae_step)
tr.train()


def tr_step():
    tr.compute_loss(tr(codes, model_aux=vae, cond=cond), codes).backward()


res["transformer_train_flop_per_img"] = flops(tr_step)
tr.eval()
with torch.no_grad():
    res["sample_flop_per_img"] = flops(
        lambda: tr.sample(torch.zeros_like(codes), model_aux=vae, cond=cond, top_k=100, top_p=0.95))

n = 2048
for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    for _ in range(3):
        torch.mm(a, b)
    best = float("inf")
    for _ in range(5):  # best of 5 repeats of 5 products: the peak, not a typical figure
        t = time.perf_counter()
        for _ in range(5):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - t) / 5)
    res[f"matmul2048_{name}_gflop_per_s"] = 2 * n ** 3 / best / 1e9
print(json.dumps(res))
