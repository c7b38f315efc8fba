"""One official RQ-VAE train step and one tokenize call (bench64, batch 16, fp32) under torch.profiler;
writes two chrome traces, OUT-vae-train.json and OUT-tokenize.json (sum them with scripts/profile-summary.py).

  PYTHON scripts/anchor_profile_vae.py OFFICIAL_REPO_DIR THREADS OUT_PREFIX [--tuned] [--tokenize-only]

--tuned profiles anchor_bench.py --tuned's steps instead (channels_last model and input, bfloat16 autocast,
loss and quantizer distances in float32): compare with `bin/rq bench ... --precision bf16`.
--tokenize-only skips the training step (compare with scripts/TokenizeAb.java ... PROFILE=PREFIX).

The model, data and optimizer are shared/anchor/anchor_bench.py's (its RQ-VAE part); two untimed steps
warm up first. Compare with `RQ_JAVA_OPTS=-Drq.bench.profile=PREFIX bin/rq bench --conf conf/rqvae/bench64.yaml`.
"""
import sys
repo, threads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tuned = "--tuned" in sys.argv[4:]
tokenize_only = "--tokenize-only" in sys.argv[4:]
import anchor_bench64  # noqa: E402  (this folder)
torch = anchor_bench64.start(repo, threads)
vae = anchor_bench64.vae()
B = 16
x = torch.rand(B, 3, 64, 64) * 2 - 1
opt = torch.optim.Adam(vae.parameters(), lr=4e-5, betas=(0.5, 0.9))
def step():
    opt.zero_grad(); o, ql, code = vae(x); l = vae.compute_loss(o, ql, code, xs=x)["loss_total"]; l.backward(); opt.step()
def codes():
    return vae.get_codes(x)
if tuned:  # exactly anchor_bench.py --tuned's step_tuned and codes_tuned
    vae = vae.to(memory_format=torch.channels_last); x = x.contiguous(memory_format=torch.channels_last)
    def step():
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            o, ql, code = vae(x)
        l = vae.compute_loss(o.float(), ql.float(), code, xs=x)["loss_total"]; l.backward(); opt.step()
    def codes():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = vae.quant_conv(vae.encoder(x))
        return vae.quantizer(z.float().permute(0, 2, 3, 1).contiguous())[2]
if not tokenize_only:
    vae.train()
    step(); step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    prof.export_chrome_trace(out + "-vae-train.json")
vae.eval()
with torch.no_grad():
    codes(); codes()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        codes()
prof.export_chrome_trace(out + "-tokenize.json")
print("wrote", *([] if tokenize_only else [out + "-vae-train.json"]), out + "-tokenize.json")
