"""Issue 44: NPE trained as Vetter et al. 2025 trained it, under whichever sbi is installed.

Needs only torch and sbi (no fmbench), so that it runs in a throwaway environment with sbi 0.23.3 as well
as beside fmbench with sbi 0.27. Their settings (mackelab/npe-pfn, branch ``main_experiments``,
``conf/method/npe.yaml``, ``conf/method/estimator/nsf.yaml``, ``conf/method/train/default_sbi.yaml``,
``tabpfn_sbi/methods/sbi_baselines.py``): ``SNPE(prior, posterior_nn("nsf", z_score_theta="independent",
z_score_x="independent", hidden_features=50, num_transforms=5, num_bins=10))``,
``append_simulations(theta, x)``, ``train(training_batch_size=200, learning_rate=5e-4,
validation_fraction=0.1, max_num_epochs=2**31 - 1, clip_max_norm=5.0)``, ``build_posterior()`` and
``sample((10000,), x_o)`` with sbi's default rejection outside the prior, then ``nan_to_num``.

Inputs are written by ``studies/sir_audit.py simulate`` and ``export``; the samples file it writes is read by
``studies/sir_audit.py score`` (the same format as ``fit``'s). Seeds as ``fmbench run``: ``seed`` before the
fit, ``seed * 1000 + i`` before observation ``i``'s samples.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import sbi
import torch
from sbi.inference import SNPE
from sbi.neural_nets import posterior_nn
from torch.distributions import Independent, LogNormal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=Path, required=True)
    parser.add_argument("--observations-file", type=Path, required=True)
    parser.add_argument("--budget", type=lambda s: int(float(s)), required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--work", type=Path, default=Path("runs/sir_audit"))
    parser.add_argument("--task", default="sir")
    parser.add_argument("--num-samples", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = torch.load(args.sims)
    theta, x = data["theta"][: args.budget], data["x"][: args.budget]
    obs = torch.load(args.observations_file)
    prior = Independent(LogNormal(obs["prior_loc"], obs["prior_scale"]), 1)
    estimator = posterior_nn(
        "nsf", z_score_theta="independent", z_score_x="independent", hidden_features=50, num_transforms=5,
        num_bins=10,
    )  # fmt: skip
    torch.manual_seed(args.seed)
    inference = SNPE(prior, estimator, device="cpu", show_progress_bars=False)
    inference.append_simulations(theta, x)
    start = time.perf_counter()
    inference.train(
        training_batch_size=200, learning_rate=5e-4, validation_fraction=0.1, max_num_epochs=2**31 - 1,
        clip_max_norm=5.0,
    )  # fmt: skip
    fit_s = time.perf_counter() - start
    posterior = inference.build_posterior()
    samples = {}
    for i in range(1, 11):
        torch.manual_seed(args.seed * 1000 + i)
        drawn = posterior.sample((args.num_samples,), x=obs["observations"][i - 1], show_progress_bars=False)
        samples[i] = torch.nan_to_num(drawn)
    epochs = inference._summary["epochs_trained"][-1]
    meta = {
        "epochs": epochs,
        "fit_s": fit_s,
        "n_train": len(theta),
        "sbi": str(sbi.__version__),
        "torch": str(torch.__version__),  # TorchVersion would need weights_only=False to load
    }
    out = args.work / "samples" / f"{args.tag}.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"task": args.task, "samples": samples, "rejected": {}, "meta": meta}, out)
    print(f"{out}: {meta}")


if __name__ == "__main__":
    main()
