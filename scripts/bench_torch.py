"""PyTorch + transformers float32 baseline for auditor-bench: the same shapes on SmolLM2-135M (HF-layout copy).

Run: source ~/.cache/auditor-ref/env && $AUDITOR_REF_PY scripts/bench_torch.py [--threads 2]
Scoring = forward pass + log_softmax + gather of each next token's log-prob (what `auditor score` returns).
"""
import os, sys, time, resource
import torch
from transformers import AutoModelForCausalLM

threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
torch.set_num_threads(threads)
path = os.environ["AUDITOR_REF_HF"]
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
V = model.config.vocab_size
g = torch.Generator().manual_seed(1)
print(f"torch {torch.__version__}, {threads} thread(s), {path}")

def best(reps, fn):
    fn(); b = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b

if "--train" not in sys.argv:   # scoring and generation, unless only training is asked for
    for b, t in [(8, 512), (8, 128), (1, 1024)]:
        ids = torch.randint(0, V, (b, t), generator=g)
        def score():
            with torch.no_grad():
                logits = model(ids).logits
                lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(2, ids[:, 1:, None])
            return lp
        s = best(2, score)
        print(f"score {b} x {t:4d}: {b * t / s:7.1f} tokens/s ({s:.2f} s/batch)")

    prompts = torch.randint(0, V, (8, 32), generator=g)
    def gen(p):
        with torch.no_grad():
            model.generate(p, attention_mask=torch.ones_like(p), max_new_tokens=64, min_new_tokens=64, do_sample=False,
                           pad_token_id=0)
    s = best(1, lambda: gen(prompts))
    print(f"generate 8 x (32 prompt + 64 new), greedy: {8 * 64 / s:.1f} new tokens/s ({s:.2f} s)")
    s = best(1, lambda: gen(prompts[:1]))
    print(f"generate 1 x (32 prompt + 64 new), greedy: {64 / s:.1f} new tokens/s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

# Training steps at 8 x 128 (--train full|lora|dp-full|dp-lora): AdamW, gradient clipping at 1, PEFT LoRA r 8 on q
# and v; dp-*: Opacus's DP-SGD step (per-sample gradients, clipping at 1, noise multiplier 1) on the same batch.
if "--train" in sys.argv:
    method = sys.argv[sys.argv.index("--train") + 1]
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).train()
    if method in ("lora", "dp-lora"):
        from peft import LoraConfig, get_peft_model
        m = get_peft_model(m, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                                         task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-5)
    ids = torch.randint(0, V, (8, 128), generator=g)
    if method.startswith("dp-"):
        import opacus
        from opacus import PrivacyEngine
        print(f"opacus {opacus.__version__}")
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ids), batch_size=8)
        m, opt, loader = PrivacyEngine().make_private(module=m, optimizer=opt, data_loader=loader, noise_multiplier=1.0,
                                                      max_grad_norm=1.0, poisson_sampling=False)
        pos = torch.arange(128).expand(8, 128).contiguous()
        def step():
            opt.zero_grad()
            m(input_ids=ids, labels=ids, position_ids=pos).loss.backward()
            opt.step()
    else:
        def step():
            opt.zero_grad()
            m(input_ids=ids, labels=ids).loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in m.parameters() if p.requires_grad], 1.0)
            opt.step()
    s = best(2, step)
    print(f"train {method} 8 x 128, AdamW: {8 * 128 / s:7.1f} tokens/s ({s:.2f} s/step)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
