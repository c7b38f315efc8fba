"""The official tuned tokenize call's cost per call: wall, thread CPU, process CPU and minor page faults
(medians of 5 calls after 2 untimed ones), to set beside scripts/TokenizeAb.java's figures for ours.

  PYTHON scripts/anchor_tokenize_cpu.py OFFICIAL_REPO_DIR THREADS

The model and the call are scripts/anchor_profile_vae.py --tuned's tokenize (bench64, batch 16, channels_last,
bfloat16 autocast for the encoder and quant_conv, the quantizer in float32).
"""
import resource
import statistics
import sys
import time

repo, threads = sys.argv[1], int(sys.argv[2])
import anchor_bench64  # noqa: E402  (this folder)
torch = anchor_bench64.start(repo, threads)
vae = anchor_bench64.vae()
x = torch.rand(16, 3, 64, 64) * 2 - 1
vae = vae.to(memory_format=torch.channels_last).eval(); x = x.contiguous(memory_format=torch.channels_last)


def codes():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = vae.quant_conv(vae.encoder(x))
    return vae.quantizer(z.float().permute(0, 2, 3, 1).contiguous())[2]


wall, cpu, proc, faults = [], [], [], []
with torch.no_grad():
    for i in range(7):
        r0, c0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.thread_time(), time.perf_counter()
        codes().numpy()
        t1, c1, r1 = time.perf_counter(), time.thread_time(), resource.getrusage(resource.RUSAGE_SELF)
        if i >= 2:
            wall.append(1000 * (t1 - t0)); cpu.append(1000 * (c1 - c0))
            proc.append(1000 * (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime))
            faults.append(r1.ru_minflt - r0.ru_minflt)
print(f"official tuned tokenize (batch 16), {threads} threads, medians of 5: wall {statistics.median(wall):.1f} ms,"
      f" thread cpu {statistics.median(cpu):.1f} ms, process cpu {statistics.median(proc):.1f} ms,"
      f" minor faults {statistics.median(faults):.0f}")
