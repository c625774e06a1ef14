// The Python training script kiln finetune's accelerate launcher writes beside its data and runs
// under `accelerate launch`: transformers' Trainer (+ PEFT for LoRA) on the examples kiln tokenized
// itself (train.jsonl: input_ids, and labels with -100 where the loss ignores a position), with the
// hyperparameters of a JSON file kiln writes (hparams.ts), its one argument. It prints one JSON line per event on
// stdout ({"event": "start" | "step" | "eval" | "save" | "done", ...}), which kiln turns into its
// own progress events. Kept as a string so that it ships inside dist with the code that writes it.

/** The version this script was written for; written into the file for whoever reads it later. */
export const SCRIPT_NEEDS = 'torch, transformers >= 4.46, peft >= 0.12, accelerate'

export const TRAIN_SCRIPT = `# Written by kiln finetune (launcher accelerate), run by accelerate launch: train.py HPARAMS_JSON.
# Needs ${SCRIPT_NEEDS}.
# The data is already tokenized by kiln (chat template, loss masks, truncation), so training here sees
# exactly the examples kiln's own trainer would; the hyperparameters are in the JSON file it is given.
import argparse
import json
import os
import signal

import torch
from torch.utils.data import Dataset
from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.trainer_utils import get_last_checkpoint

IGNORE = -100

# Stopping early, as kiln's own trainer does on Ctrl-C: after the current step, saving. kiln asks by
# creating the stop file (a signal would reach torchrun or accelerate's launcher first, which end
# their workers); someone running this script by hand asks with Ctrl-C. A second signal ends it.
STOP = {"asked": False, "file": None}


def on_signal(signum, frame):
    if STOP["asked"]:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    STOP["asked"] = True


def stop_asked(args):
    asked = STOP["asked"] or (STOP["file"] is not None and os.path.exists(STOP["file"]))
    # Every process must stop at the same step, or the others would wait for it forever.
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        flag = torch.tensor([1 if asked else 0], device=args.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        asked = bool(flag.item())
    if asked:
        STOP["asked"] = True
    return asked


class JsonlExamples(Dataset):
    """train.jsonl / eval.jsonl: one {"input_ids": [...], "labels": [...]} per line."""

    def __init__(self, path):
        self.rows = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    self.rows.append({"input_ids": row["input_ids"], "labels": row["labels"]})

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def collate(pad_id):
    """Pads a batch on the right: input_ids with pad_id, labels with -100, attention_mask 0."""

    def fn(batch):
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"], dtype=torch.long)
            labels[i, :n] = torch.tensor(r["labels"], dtype=torch.long)
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return fn


def number(x):
    if x is None:
        return None
    if hasattr(x, "item"):
        x = x.item()
    return float(x)


class KilnProgress(TrainerCallback):
    """One JSON line per event on stdout, from the main process only."""

    def __init__(self, trainable, examples):
        self.trainable = trainable
        self.examples = examples

    def emit(self, state, event):
        if state.is_world_process_zero:
            print(json.dumps(event), flush=True)

    def on_train_begin(self, args, state, control, **kwargs):
        self.emit(state, {
            "event": "start",
            "total_steps": state.max_steps,
            "start_step": state.global_step,
            "trainable_parameters": self.trainable,
            "examples": self.examples,
        })

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.emit(state, {
                "event": "step",
                "step": state.global_step,
                "total_steps": state.max_steps,
                "loss": number(logs.get("loss")),
                "lr": number(logs.get("learning_rate")),
                "grad_norm": number(logs.get("grad_norm")),
                "tokens": getattr(state, "num_input_tokens_seen", None),
                "epoch": number(logs.get("epoch")),
            })
        if "eval_loss" in logs:
            self.emit(state, {"event": "eval", "step": state.global_step, "loss": number(logs["eval_loss"])})

    def on_save(self, args, state, control, **kwargs):
        folder = os.path.join(args.output_dir, "checkpoint-%d" % state.global_step)
        self.emit(state, {"event": "save", "step": state.global_step, "dir": folder})

    def on_step_end(self, args, state, control, **kwargs):
        if stop_asked(args):
            control.should_training_stop = True
            control.should_save = True
        return control


def main():
    parser = argparse.ArgumentParser(description="kiln finetune, launched with accelerate")
    parser.add_argument("hparams", help="the hyperparameters kiln wrote (hparams.json)")
    cfg_file = parser.parse_args().hparams
    with open(cfg_file, encoding="utf-8") as f:
        cfg = json.load(f)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    STOP["file"] = cfg.get("stop_file")
    set_seed(cfg["seed"])

    # Before the model: with ZeRO-3 the arguments make from_pretrained load it sharded.
    args = TrainingArguments(**cfg["training_args"])
    if cfg["method"] == "full":
        dtype = torch.float32  # master weights in f32; mixed precision computes in bf16/fp16
    else:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg["mixed_precision"], torch.float32)
    model = AutoModelForCausalLM.from_pretrained(cfg["model"], torch_dtype=dtype)
    if cfg["method"] == "lora":
        from peft import LoraConfig, get_peft_model

        lora = cfg["lora"]
        model = get_peft_model(model, LoraConfig(
            r=lora["r"],
            lora_alpha=lora["lora_alpha"],
            lora_dropout=lora["lora_dropout"],
            target_modules=lora["target_modules"],
            bias="none",
            task_type="CAUSAL_LM",
        ))
    trainable = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters() if p.requires_grad)

    train = JsonlExamples(cfg["train_file"])
    evaluation = JsonlExamples(cfg["eval_file"]) if cfg.get("eval_file") else None
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=collate(cfg["pad_token_id"]),
        callbacks=[KilnProgress(trainable, len(train))],
    )
    # kiln shows the progress: transformers' own printing would only be noise in its log.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)

    resume = None
    if cfg["resume"]:
        resume = get_last_checkpoint(args.output_dir)
        if resume is None:
            raise SystemExit("no checkpoint to resume from in " + args.output_dir)
    trainer.train(resume_from_checkpoint=resume)
    if evaluation is not None and not STOP["asked"]:
        trainer.evaluate()  # its eval_loss reaches KilnProgress.on_log
    # The adapter (PEFT's save_pretrained) or the model folder, gathered from every process.
    trainer.save_model(cfg["out"])
    if trainer.is_world_process_zero():
        leftover = os.path.join(cfg["out"], "training_args.bin")
        if os.path.exists(leftover):
            os.remove(leftover)
        print(json.dumps({"event": "done", "step": trainer.state.global_step, "stopped": STOP["asked"]}),
              flush=True)


if __name__ == "__main__":
    main()
`
