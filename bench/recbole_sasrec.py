"""Peer benchmark: RecBole 1.2.1's SASRec (cross-entropy loss) on Amazon Beauty, with our evaluation protocol.

Protocol (the same as ecomtune's recommend task): leave-one-out per user -- the last item is the test target, the
second-to-last the validation target, everything before is training (RecBole `LS: valid_and_test`, `order: TO`,
`group_by: user`; the timestamp is the item's position in the user's sequence, so time order = file order).
FULL ranking over all items, no sampled negatives (`mode: full`); items already in the user's history are excluded
from the ranking (RecBole full-sort sets their scores to -inf). Metrics Hit (= HR), NDCG and MRR @5/@10/@20; model
selection on validation NDCG@10; max sequence length 50. No user/item filtering: RecBole must report 22,364 users and
12,102 items (22,363 / 12,101 plus its [PAD] id), which the script checks.

RecBole lives in its own venv outside the repo (torch==2.13.0 is the local CPU wheel -- always pin it):

    python3 -m venv /work/recbole-venv
    /work/recbole-venv/bin/pip install torch==2.13.0 'numpy<2' 'setuptools<81' recbole==1.2.1

    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 /work/recbole-venv/bin/python bench/recbole_sasrec.py --time-budget-min 50
    ... --epochs 1 --max-users 3000 --out /tmp/smoke.json           # smoke test on a subset

The data (research-only licence) is read from ../shared/data and converted to RecBole atomic files under --work-dir
(outside the repo); RecBole's logs and checkpoints go there too. Training stops at --epochs, at early stopping
(--stopping-step evaluations without a better validation NDCG@10), or before an epoch that would overrun
--time-budget-min (judged from the slowest epoch so far), whichever comes first; the best-validation checkpoint is
then evaluated on test. Writes bench/results/recbole_sasrec_beauty.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # RecBole's checkpoint loading predates weights_only

import numpy as np
import recbole
import torch
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.model.sequential_recommender import SASRec
from recbole.trainer import Trainer
from recbole.utils import init_logger, init_seed

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "amazon_seqrec_beauty_sports_toys" / "Beauty.txt"
N_USERS, N_ITEMS = 22363, 12101
KS = (5, 10, 20)


class BudgetExhausted(Exception):
    pass


def write_atomic(src: Path, work: Path, max_users: int | None) -> Path:
    """Beauty.txt -> <work>/beauty/beauty.inter (timestamp = position in the user's sequence)."""
    out = work / "beauty" / "beauty.inter"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(src) as f, open(out, "w") as g:
        g.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for n, line in enumerate(f):
            if max_users is not None and n >= max_users:
                break
            user, *items = line.split()
            g.writelines(f"{user}\t{item}\t{t}\n" for t, item in enumerate(items))
    return out


def config_dict(args, work: Path) -> dict:
    return {
        "model": "SASRec", "dataset": "beauty", "data_path": str(work),
        "checkpoint_dir": str(work / "saved"), "show_progress": False, "log_wandb": False,
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        # keep everything: no interaction-count filtering, no value filtering, no de-duplication
        "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)",
        "val_interval": None, "rm_dup_inter": None, "filter_inter_by_user_or_item": False,
        "MAX_ITEM_LIST_LENGTH": 50,
        "hidden_size": 64, "n_layers": 2, "n_heads": 2, "inner_size": 256,
        "hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5, "hidden_act": "gelu",
        "loss_type": "CE", "train_neg_sample_args": None,
        "learning_rate": 0.001, "train_batch_size": 2048, "eval_batch_size": 4096,
        "epochs": args.epochs, "eval_step": 1, "stopping_step": args.stopping_step,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "metrics": ["Hit", "NDCG", "MRR"], "topk": list(KS), "valid_metric": "NDCG@10",
        "device": "cpu", "use_gpu": False, "seed": 42, "reproducibility": True,
    }


def pick(result: dict) -> dict:
    """RecBole keys ('hit@10', 'ndcg@10', 'mrr@10') -> ours (HR@10, NDCG@10, MRR@10), as plain floats."""
    names = {"hit": "HR", "ndcg": "NDCG", "mrr": "MRR"}
    return {f"{names[m]}@{k}": round(float(result[f"{m}@{k}"]), 4) for m in names for k in KS}


def history_masker(trainer, dataset):
    """RecBole 1.2.1 full-sort masks the user's history only for general models -- for sequential ones it passes
    history_index=None, so history items stay rankable. Our protocol excludes them, so wrap the batch scorer: for
    each eval row (user u, target t) set the scores of every item u had before t to -inf."""
    uid, iid, ts = (dataset.inter_feat[f].numpy() for f in (dataset.uid_field, dataset.iid_field, dataset.time_field))
    order = np.lexsort((ts, uid))
    seqs: dict[int, list[int]] = {}
    for u, i in zip(uid[order].tolist(), iid[order].tolist()):
        seqs.setdefault(u, []).append(i)
    native = trainer._full_sort_batch_eval

    def masked(batched_data):
        interaction, scores, positive_u, positive_i = native(batched_data)
        rows, cols = [], []
        for r, (u, t) in enumerate(zip(interaction[dataset.uid_field].tolist(), positive_i.tolist())):
            seq = seqs[u]
            hist = seq[:seq.index(t)]  # no user repeats an item in Beauty, so the target's position is unique
            rows += [r] * len(hist)
            cols += hist
        scores[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)] = -np.inf
        return interaction, scores, positive_u, positive_i

    return native, masked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/recbole_sasrec_beauty"))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "recbole_sasrec_beauty.json")
    ap.add_argument("--epochs", type=int, default=30, help="upper bound on training epochs")
    ap.add_argument("--time-budget-min", type=float, default=50.0, help="wall-clock budget for training + validation")
    ap.add_argument("--stopping-step", type=int, default=10)
    ap.add_argument("--max-users", type=int, default=None, help="first N users only (smoke tests)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is faster on a contended box)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.work_dir.resolve()
    out, data = args.out.resolve(), args.data.resolve()
    write_atomic(data, work, args.max_users)
    os.chdir(work)  # RecBole writes ./log and ./log_tensorboard relative to the working directory

    config = Config(model="SASRec", dataset="beauty", config_dict=config_dict(args, work))
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    n_users, n_items, n_inter = dataset.user_num, dataset.item_num, dataset.inter_num  # user/item counts include [PAD]
    print(dataset)
    if args.max_users is None:
        assert (n_users, n_items) == (N_USERS + 1, N_ITEMS + 1), f"RecBole dropped data: {n_users} users, {n_items} items"
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = SASRec(config, train_data._dataset).to(config["device"])
    trainer = Trainer(config, model)
    native_eval, masked_eval = history_masker(trainer, dataset)
    trainer._full_sort_batch_eval = masked_eval  # validation (model selection) and test both use our protocol

    # per-epoch timing + the wall-clock guard, by wrapping the trainer's epoch methods
    epochs, budget_s, t_start = [], args.time_budget_min * 60, time.time()
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

    def timed_train(data, epoch_idx, *a, **kw):
        if epochs:
            slowest = max(e["train_s"] + e["valid_s"] for e in epochs)
            if time.time() - t_start + slowest > budget_s:
                raise BudgetExhausted
        t = time.time()
        loss = train_epoch(data, epoch_idx, *a, **kw)
        epochs.append({"epoch": epoch_idx, "train_s": round(time.time() - t, 1), "loss": round(float(loss), 4)})
        return loss

    def timed_valid(*a, **kw):
        t = time.time()
        score, result = valid_epoch(*a, **kw)
        epochs[-1].update(valid_s=round(time.time() - t, 1), valid=pick(result))
        print(f"epoch {epochs[-1]['epoch']}: train {epochs[-1]['train_s']}s loss {epochs[-1]['loss']} "
              f"valid NDCG@10 {score:.4f}", flush=True)
        return score, result

    trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid
    stop = "epochs"
    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False)
        if len(epochs) < args.epochs:
            stop = "early_stopping"
    except BudgetExhausted:
        stop = "time_budget"
    train_total = time.time() - t_start
    test = pick(trainer.evaluate(test_data, load_best_model=True, model_file=trainer.saved_model_file))
    trainer._full_sort_batch_eval = native_eval  # for reference: RecBole's own number, history items rankable
    test_native = pick(trainer.evaluate(test_data, load_best_model=False))

    best = max(epochs, key=lambda e: e["valid"]["NDCG@10"])  # RecBole keeps the first of equal scores too (>=: last)
    best = [e for e in epochs if e["valid"]["NDCG@10"] == best["valid"]["NDCG@10"]][-1]
    last3 = [e["valid"]["NDCG@10"] for e in epochs[-3:]]
    result = {
        "benchmark": "RecBole SASRec (CE loss) on Amazon Beauty, leave-one-out, full ranking",
        "recbole_version": recbole.__version__, "torch_version": torch.__version__,
        "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
        "dataset": {"file": "amazon_seqrec_beauty_sports_toys/Beauty.txt", "max_users": args.max_users,
                    "recbole_user_num": n_users, "recbole_item_num": n_items, "interactions": n_inter,
                    "note": "RecBole counts include its [PAD] id (0)"},
        "config": {k: v for k, v in config_dict(args, work).items()
                   if k not in ("data_path", "checkpoint_dir", "show_progress", "log_wandb")},
        "time_budget_min": args.time_budget_min, "stopped_by": stop,
        "epochs_run": len(epochs), "best_epoch": best["epoch"],
        "still_improving": best["epoch"] >= epochs[-1]["epoch"] - 1,
        "train_seconds_total": round(train_total, 1),
        "train_seconds_per_epoch": round(sum(e["train_s"] for e in epochs) / len(epochs), 1),
        "valid_seconds_per_epoch": round(sum(e["valid_s"] for e in epochs) / len(epochs), 1),
        "valid_best": best["valid"],
        "test": {k: test[k] for k in ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20", "MRR@10")},
        "test_all": test,
        "test_recbole_native_no_history_exclusion": test_native,
        "per_epoch": epochs,
        "notes": ("Timings on a shared 2-core CPU machine (other jobs running), so seconds are indicative only. "
                  "Protocol: leave-one-out (last item test, second-to-last validation, rest train), full ranking "
                  "over all 12,101 items with the user's history items excluded (RecBole 1.2.1 does NOT exclude them for "
                  "sequential models, so this script masks them itself; 'test_recbole_native_no_history_exclusion' is "
                  "RecBole's unmasked number for the same checkpoint), HR=RecBole 'hit'. Test metrics "
                  "are from the best-validation-NDCG@10 checkpoint. "
                  f"Last validation NDCG@10 values: {last3}."),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nRecBole {recbole.__version__} SASRec-CE on Beauty: {len(epochs)} epochs ({stop}), best epoch "
          f"{best['epoch']}, {result['train_seconds_per_epoch']}s/epoch train")
    print(f"{'':8}" + "".join(f"{m:>9}" for m in ("HR", "NDCG", "MRR")))
    for k in KS:
        print(f"{'test@' + str(k):8}" + "".join(f"{test[f'{m}@{k}']:9.4f}" for m in ("HR", "NDCG", "MRR")))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
