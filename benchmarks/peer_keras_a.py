"""The plain peer of study A: the paper's network trained by a ~40-line Keras script (no fashionlib training code).

Arrays in memory, ``model.fit`` with Keras' own shuffling, Adam with a per-step exponential decay (the
shape of the project's ``paper`` schedule: ``lr0`` to ``lr_end`` over ``--schedule-epochs``), the
TensorFlow backend. ``benchmarks/bench_peer_a.py`` runs it beside the project's training path; it can
also be run alone. Prints one ``BENCH_RESULT {json}`` line: seconds of every epoch (validation included).

    KERAS_BACKEND=tensorflow python benchmarks/peer_keras_a.py --train-size 12000 --epochs 4
"""
import argparse, json, os, sys, time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import keras  # noqa: E402
from keras import layers  # noqa: E402

from fashionlib import data as fdata  # noqa: E402  (only to read and split the IDX files)

ap = argparse.ArgumentParser()
ap.add_argument("--train-size", type=int, default=None)
ap.add_argument("--epochs", type=int, default=4)
ap.add_argument("--schedule-epochs", type=int, default=50)
ap.add_argument("--batch-size", type=int, default=128)
ap.add_argument("--lr0", type=float, default=1e-3)
ap.add_argument("--lr-end", type=float, default=1e-5)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()

ds = fdata.load_fashion_mnist()
tr, va = fdata.stratified_split(ds.y_train, val_size=12_000, seed=0)
if a.train_size:
    tr = tr[fdata.subsample_stratified(ds.y_train[tr], a.train_size, seed=0)]
    va = va[fdata.subsample_stratified(ds.y_train[va], max(a.train_size // 4, 100), seed=0)]
mean, std = (ds.x_train[tr] / 255.0).mean(), (ds.x_train[tr] / 255.0).std()
prep = lambda x: ((x / 255.0 - mean) / std).astype("float32")[..., None]  # noqa: E731
x, y, xv, yv = prep(ds.x_train[tr]), ds.y_train[tr], prep(ds.x_train[va]), ds.y_train[va]

keras.utils.set_random_seed(a.seed)
conv = lambda n: layers.Conv2D(n, 3, activation="relu")  # noqa: E731
model = keras.Sequential([keras.Input((28, 28, 1)), conv(32), layers.MaxPooling2D(2), layers.Dropout(0.25),
                          conv(64), layers.MaxPooling2D(2), layers.Dropout(0.25), conv(128), conv(256),
                          layers.Dropout(0.5), layers.Flatten(), layers.Dense(256, activation="relu"),
                          layers.Dense(128, activation="relu"), layers.Dropout(0.5),
                          layers.Dense(10, activation="softmax")])
steps = -(-len(x) // a.batch_size)
lr = keras.optimizers.schedules.ExponentialDecay(a.lr0, steps, (a.lr_end / a.lr0) ** (1 / a.schedule_epochs))
model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])


class Clock(keras.callbacks.Callback):  # an epoch: from its start to the next epoch's start (or the end)
    ticks, cpu = [], []
    def on_epoch_begin(self, epoch, logs=None): self.ticks.append(time.perf_counter()); self.cpu.append(time.process_time())  # noqa: E301,E501,E702,E704
    def on_train_end(self, logs=None): self.ticks.append(time.perf_counter()); self.cpu.append(time.process_time())  # noqa: E301,E501,E702,E704


h = model.fit(x, y, batch_size=a.batch_size, epochs=a.epochs, validation_data=(xv, yv), callbacks=[Clock()], verbose=0)
seconds = [b - a_ for a_, b in zip(Clock.ticks, Clock.ticks[1:])]
cpu_seconds = [b - a_ for a_, b in zip(Clock.cpu, Clock.cpu[1:])]
print("BENCH_RESULT " + json.dumps({"epoch_seconds": seconds, "epoch_cpu_seconds": cpu_seconds, "n_train": len(x),
                                    "val_accuracy": [float(v) for v in h.history["val_accuracy"]]}), flush=True)
