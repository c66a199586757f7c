"""CUDA smoke test of the Ray-free loop and the two networks, plus seed-size throughput."""
import copy, json, sys, time
sys.path.insert(0, ".")
import torch
from energy.models._torch_loop import LoopConfig, fit_loop, make_loader
from energy.models.lstm_net import LSTMNet, LSTMNetConfig
from energy.models.transformer_net import TransformerNet, TransformerNetConfig

print("torch", torch.__version__, torch.cuda.get_device_name(0), flush=True)
L, H, C = 48, 24, 10


class Toy(torch.utils.data.Dataset):
    def __init__(self, n, L, H, C, seed):
        g = torch.Generator().manual_seed(seed)
        self.past = torch.randn(n, L, C, generator=g)
        self.fut = torch.randn(n, H, C - 1, generator=g)
        self.y = 0.5 * self.past[:, -H:, 0] + self.fut[:, :, 0]
        self.city = torch.randint(0, 5, (n,), generator=g)
    def __len__(self):
        return len(self.y)
    def __getitem__(self, i):
        return self.past[i], self.fut[i], self.y[i], self.city[i]


out = {}
nets = {
    "lstm": lambda: LSTMNet(LSTMNetConfig(C, C - 1, H, [32, 16], n_cities=5)),
    "transformer": lambda: TransformerNet(TransformerNetConfig(C, H, 32, 4, 2, 64, n_cities=5)),
}
train, val = Toy(2048, L, H, C, 0), Toy(512, L, H, C, 1)
for name, make in nets.items():
    cfg = LoopConfig(epochs=4, batch_size=128, lr=3e-3, patience=0, device="cuda",
                     max_train_windows_per_epoch=1024, scheduler="cosine")
    saved = {}
    torch.manual_seed(0); net = make()
    full = fit_loop(net, train, val, cfg, on_epoch_end=lambda e, m, f: saved.update(f()) if e == 2 else None)
    dev = {str(p.device) for p in net.parameters()}
    cpu_state = all(v.device.type == "cpu" for v in saved["model"].values())
    torch.manual_seed(0); net2 = make()
    res = fit_loop(net2, train, val, cfg, start_state=saved)
    h_full = [round(h["val_loss"], 6) for h in full["history"]]
    h_res = [round(h["val_loss"], 6) for h in res["history"]]
    maxdiff = max((res["model"][k] - full["model"][k]).abs().max().item() for k in full["model"])
    net.eval(); b = [t[:64] for t in (val.past, val.fut, val.y, val.city)]
    with torch.no_grad():
        g = net(b[0].cuda(), b[1].cuda(), b[3].cuda()).cpu()
        c = net.cpu()(b[0], b[1], b[3])
    out[name] = {"param_devices": sorted(dev), "checkpoint_on_cpu": cpu_state,
                 "val_hist": h_full, "resumed_val_hist": h_res, "resume_max_weight_diff": maxdiff,
                 "cuda_vs_cpu_max_abs": (g - c).abs().max().item(),
                 "loss_decreased": h_full[-1] < h_full[0]}
    print(name, json.dumps(out[name]), flush=True)

# seed-size throughput: windows/s for one optimiser step on batch 256, lookback 168, 54 columns
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
Cs, Ls = 54, 168
seed = {
    "lstm_128_64_32": lambda: LSTMNet(LSTMNetConfig(Cs, Cs - 1, H, [128, 64, 32], n_cities=20)),
    "transformer_256x8x6": lambda: TransformerNet(TransformerNetConfig(Cs, H, 256, 8, 6, 1024, n_cities=20)),
}
B = 256
past, fut = torch.randn(B, Ls, Cs, device="cuda"), torch.randn(B, H, Cs - 1, device="cuda")
y, city = torch.randn(B, H, device="cuda"), torch.randint(0, 20, (B,), device="cuda")
for name, make in seed.items():
    net = make().cuda(); opt = torch.optim.AdamW(net.parameters(), 1e-3)
    for i in range(25):
        if i == 5:
            torch.cuda.synchronize(); t = time.perf_counter()
        loss = ((net(past, fut, city) - y) ** 2).mean(); opt.zero_grad(); loss.backward(); opt.step()
    torch.cuda.synchronize(); dt = (time.perf_counter() - t) / 20
    out[name] = {"ms_per_step_b256": round(dt * 1000, 2), "windows_per_s": round(B / dt)}
    print(name, out[name], flush=True)
# CPU-side loader cost per window (per-item __getitem__ + collate), the GPU input pipeline
big = Toy(20000, Ls, H, Cs, 2)
ld = make_loader(big, 256, True, 0, sample=16384)
t = time.perf_counter(); n = sum(len(b[2]) for b in ld); dt = time.perf_counter() - t
out["loader_windows_per_s"] = round(n / dt)
print("loader", out["loader_windows_per_s"], flush=True)
print(json.dumps(out))
