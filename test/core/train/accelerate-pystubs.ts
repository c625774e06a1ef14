// Just enough of torch, transformers and peft, in plain Python, to run kiln's real training script
// (src/core/train/accelerate/script.ts) where none of them is installed: the Trainer stand-in walks
// the steps, calls the script's callback as transformers does (on_train_begin, on_step_end, on_log,
// on_save), batches the examples through the script's collator and checks the padding, and
// save_model copies a real PEFT adapter (STANDIN_ADAPTER) into OUT. With an `accelerate` that
// runs `python3 train.py HPARAMS` (one process, as accelerate launch does without distribution),
// the whole path from kiln to the script's JSON lines and back is exercised without a GPU.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { makeTempDir } from '../../helpers/cli.js'

const FILES: Record<string, string> = {
  'torch/__init__.py': `
from . import distributed  # as torch itself does

long = "long"
float32 = "float32"
float16 = "float16"
bfloat16 = "bfloat16"


class Tensor:
    def __init__(self, data):
        self.data = data

    def __setitem__(self, key, value):
        row, cols = key
        if isinstance(value, Tensor):
            self.data[row][cols] = value.data
        else:  # a number fills the slice, as in torch
            self.data[row][cols] = [value] * len(self.data[row][cols])

    def item(self):
        return self.data[0]


def full(shape, value, dtype=None):
    return Tensor([[value] * shape[1] for _ in range(shape[0])])


def zeros(shape, dtype=None):
    return full(shape, 0)


def tensor(data, dtype=None, device=None):
    return Tensor(list(data))
`,
  'torch/utils/__init__.py': '',
  'torch/utils/data.py': `
class Dataset:
    pass
`,
  'torch/distributed.py': `
def is_available():
    return False


def is_initialized():
    return False
`,
  'peft/__init__.py': `
class LoraConfig:
    def __init__(self, **kw):
        self.kw = kw


def get_peft_model(model, config):
    model.lora = config.kw
    return model
`,
  'transformers/__init__.py': `
import json
import os
import shutil


class TrainingArguments:
    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.device = "cpu"


class TrainerCallback:
    pass


def set_seed(seed):
    pass


class Parameter:
    def __init__(self, n, trainable):
        self.n = n
        self.requires_grad = trainable

    def numel(self):
        return self.n


class Model:
    lora = None

    def parameters(self):
        return [Parameter(1000, False), Parameter(48, True), Parameter(16, True)]


class AutoModelForCausalLM:
    @staticmethod
    def from_pretrained(path, torch_dtype=None):
        assert os.path.exists(os.path.join(path, "config.json")), path
        return Model()


class State:
    def __init__(self, max_steps):
        self.max_steps = max_steps
        self.global_step = 0
        self.is_world_process_zero = True
        self.num_input_tokens_seen = 0


class Control:
    should_training_stop = False
    should_save = False


class Trainer:
    def __init__(self, model, args, train_dataset, eval_dataset, data_collator, callbacks):
        self.model, self.args, self.train_set, self.eval_set = model, args, train_dataset, eval_dataset
        self.collate = data_collator
        self.callbacks = list(callbacks)
        self.state = State(args.max_steps)

    def remove_callback(self, cls):
        pass

    def is_world_process_zero(self):
        return True

    def _save(self, control):
        folder = os.path.join(self.args.output_dir, "checkpoint-%d" % self.state.global_step)
        os.makedirs(folder, exist_ok=True)
        for cb in self.callbacks:
            cb.on_save(self.args, self.state, control)

    def train(self, resume_from_checkpoint=None):
        a, state, control = self.args, self.state, Control()
        if resume_from_checkpoint:
            state.global_step = int(resume_from_checkpoint.rsplit("-", 1)[1])
        for cb in self.callbacks:
            cb.on_train_begin(a, state, control)
        n = a.per_device_train_batch_size
        while state.global_step < state.max_steps:
            for _ in range(a.gradient_accumulation_steps):
                start = (state.global_step * n) % len(self.train_set)
                rows = [self.train_set[(start + i) % len(self.train_set)] for i in range(n)]
                batch = self.collate(rows)
                width = max(len(r["input_ids"]) for r in rows)
                for i, r in enumerate(rows):
                    k = len(r["input_ids"])
                    assert batch["input_ids"].data[i][:k] == r["input_ids"]
                    assert batch["labels"].data[i] == r["labels"] + [-100] * (width - k)
                    assert batch["attention_mask"].data[i] == [1] * k + [0] * (width - k)
                    state.num_input_tokens_seen += width
            state.global_step += 1
            for cb in self.callbacks:
                cb.on_step_end(a, state, control)
            logs = {"loss": 3.0 - state.global_step / 10, "learning_rate": a.learning_rate,
                    "grad_norm": 0.25, "epoch": 0.5}
            for cb in self.callbacks:
                cb.on_log(a, state, control, logs=logs)
            if control.should_save or (a.save_strategy == "steps" and state.global_step % a.save_steps == 0):
                self._save(control)
            if control.should_training_stop:
                break

    def evaluate(self):
        for cb in self.callbacks:
            cb.on_log(self.args, self.state, Control(), logs={"eval_loss": 2.25})
        return {"eval_loss": 2.25}

    def save_model(self, out):
        os.makedirs(out, exist_ok=True)
        for f in ["adapter_config.json", "adapter_model.safetensors"]:
            shutil.copy(os.path.join(os.environ["STANDIN_ADAPTER"], f), os.path.join(out, f))
        with open(os.path.join(out, "training_args.bin"), "w") as f:
            f.write("x")
        with open(os.path.join(os.path.dirname(self.args.output_dir), "stub.json"), "w") as f:
            json.dump({"lora": self.model.lora, "args": {k: v for k, v in vars(self.args).items()}}, f)
`,
  'transformers/trainer_callback.py': `
class PrinterCallback:
    pass


class ProgressCallback:
    pass
`,
  'transformers/trainer_utils.py': `
import os


def get_last_checkpoint(folder):
    steps = [int(n.split("-")[1]) for n in os.listdir(folder) if n.startswith("checkpoint-")] if os.path.isdir(folder) else []
    return os.path.join(folder, "checkpoint-%d" % max(steps)) if steps else None
`,
}

/** `accelerate launch --config_file CFG train.py HPARAMS` as one `python3 train.py HPARAMS`. */
const LAUNCHER = `#!/bin/sh
[ "$1" = launch ] && [ "$2" = --config_file ] && [ -f "$3" ] || { echo "bad arguments: $*" >&2; exit 2; }
shift 3
exec python3 "$@"
`

/** A folder with `accelerate` (running python3) and the stub packages; and the environment for them. */
export function pythonStandin(adapter: string): { bin: string; env: NodeJS.ProcessEnv } {
  const root = makeTempDir('kiln-pystubs-')
  for (const [file, text] of Object.entries(FILES)) {
    mkdirSync(path.dirname(path.join(root, 'lib', file)), { recursive: true })
    writeFileSync(path.join(root, 'lib', file), text)
  }
  const bin = path.join(root, 'bin')
  mkdirSync(bin)
  writeFileSync(path.join(bin, 'accelerate'), LAUNCHER)
  chmodSync(path.join(bin, 'accelerate'), 0o755)
  return {
    bin,
    env: {
      ...process.env,
      PATH: [bin, process.env.PATH ?? ''].join(path.delimiter),
      PYTHONPATH: path.join(root, 'lib'),
      PYTHONDONTWRITEBYTECODE: '1',
      STANDIN_ADAPTER: adapter,
    },
  }
}
