"""Every number the two papers report, as data, each with its table/figure reference.

Nothing else in the project repeats these numbers: notebooks and the book read them from here.

* ``JICT``: Shin, Jo & Wang, "A Novel Method for Fashion Clothing Image Classification Based on Deep
  Learning", Journal of Information and Communication Technology 22(1), 2023, pp. 127-148,
  doi:10.32890/jict2023.22.1.6: the "improved CNN" on Fashion-MNIST
  (``shared/papers/jict-2023-improved-cnn-fashion-mnist.txt``).
* ``EDGENET``: Sebastian & Negara, "Image Classification for the Fashion Industry with CNNs",
  EdgeNet + BEiT on 59 apparel classes (``shared/papers/edgenet-beit-apparel-59.md``).
"""

from __future__ import annotations

# --------------------------------------------------------------------------- JICT 2023 -----
JICT_CITATION = ("Shin, S. Y., Jo, G. & Wang, G. (2023). A Novel Method for Fashion Clothing Image Classification "
                 "Based on Deep Learning. Journal of Information and Communication Technology, 22(1), 127-148. "
                 "doi:10.32890/jict2023.22.1.6")
JICT_DOI = "10.32890/jict2023.22.1.6"

# Table 1: layers of the proposed CNN as printed (kernel, stride, output size, dropout).
# The stride column contradicts the output-size column; see keras_models and the reproduction notes.
JICT_TABLE1 = [
    {"layer": "I", "type": "Input", "kernel": None, "stride": None, "output": (26, 26, 1), "dropout": None},
    {"layer": "C1", "type": "Convolution", "kernel": (3, 3), "stride": 1, "output": (26, 26, 32), "dropout": None},
    {"layer": "M1", "type": "MaxPooling", "kernel": (2, 2), "stride": 1, "output": (13, 13, 32), "dropout": 0.25},
    {"layer": "C2", "type": "Convolution", "kernel": (3, 3), "stride": 2, "output": (11, 11, 64), "dropout": None},
    {"layer": "M2", "type": "MaxPooling", "kernel": (2, 2), "stride": 2, "output": (5, 5, 64), "dropout": 0.25},
    {"layer": "C3", "type": "Convolution", "kernel": (3, 3), "stride": 2, "output": (3, 3, 128), "dropout": None},
    {"layer": "C4", "type": "Convolution", "kernel": (3, 3), "stride": 2, "output": (1, 1, 256), "dropout": 0.5},
    {"layer": "FC1", "type": "Fully connected", "kernel": None, "stride": None, "output": (256,), "dropout": None},
    {"layer": "FC2", "type": "Fully connected", "kernel": None, "stride": None, "output": (128,), "dropout": 0.5},
    {"layer": "O", "type": "Output", "kernel": None, "stride": None, "output": (10,), "dropout": None},
]

# Training setting (Implementation Detail section).
JICT_SETTING = {
    "train_images": 48_000,          # "48,000 pieces of training"
    "val_images": 12_000,            # "12,000 pieces of data for model verification"
    "test_images": 10_000,           # official test set
    "abstract_train_images": 6_000,  # Abstract: "6,000 images as the training dataset" (contradiction)
    "abstract_test_images": 1_000,   # Abstract: "1,000 images as the testing dataset"
    "lr0": 0.1,                      # "initialized the learning rate to 0.1"
    "lr_max": 0.1,                   # "learning rate range to [0.1, 1e-8]"
    "lr_min": 1e-8,
    "lr_optimal": 0.01,              # Fig. 2 text: "the optimal learning rate should be 0.01"
    "batch_size": 128,
    "batches_per_epoch": 375,        # 48,000 / 128
    "epochs": 50,                    # "50 training iterations"
    "optimizer": "Adam",
    "framework": "TensorFlow + Keras",
    "gpu": "NVIDIA GeForce GTX 960 2 GB",
}

# Table 2: test accuracy (%) and loss.
JICT_TABLE2 = {
    "cnn": {"accuracy": 89.10, "loss": 0.37},
    "lenet5": {"accuracy": 87.65, "loss": 0.34},
    "lstm": {"accuracy": 87.15, "loss": 0.36},
    "bilstm": {"accuracy": 87.49, "loss": 0.36},
    "improved_cnn": {"accuracy": 92.87, "loss": 0.20},
}
JICT_MODEL_LABELS = {"cnn": "CNN", "lenet5": "LeNet", "lstm": "LSTM", "bilstm": "BiLSTM",
                     "improved_cnn": "Proposed CNN"}

# Table 3: per-class precision / recall / F1 on the test set, per model; last row avg/total.
_T3_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot", "avg/total"]
_T3_ROWS = {  # class -> CNN, LeNet, LSTM, BiLSTM, Proposed; each (P, R, F1)
    "T-shirt/top": [(.86, .80, .83), (.88, .74, .80), (.80, .82, .81), (.85, .79, .82), (.88, .88, .88)],
    "Trouser": [(.98, .98, .98), (.99, .97, .98), (.99, .96, .98), (.99, .97, .98), (.99, .99, .99)],
    "Pullover": [(.85, .77, .80), (.76, .86, .81), (.77, .80, .79), (.78, .79, .78), (.91, .86, .88)],
    "Dress": [(.92, .89, .90), (.89, .88, .88), (.82, .92, .87), (.87, .88, .88), (.93, .95, .94)],
    "Coat": [(.82, .87, .84), (.81, .79, .80), (.80, .75, .77), (.77, .84, .80), (.87, .89, .88)],
    "Sandal": [(.96, .95, .96), (.99, .92, .95), (.98, .96, .97), (.97, .94, .95), (.99, .98, .98)],
    "Shirt": [(.69, .78, .73), (.67, .70, .68), (.67, .62, .65), (.71, .66, .68), (.78, .80, .79)],
    "Sneaker": [(.95, .93, .94), (.92, .96, .94), (.92, .98, .95), (.91, .96, .94), (.96, .97, .96)],
    "Bag": [(.96, .98, .97), (.96, .97, .96), (.97, .97, .97), (.95, .97, .96), (.99, .99, .99)],
    "Ankle boot": [(.93, .97, .95), (.94, .97, .95), (.98, .95, .96), (.96, .95, .95), (.98, .97, .97)],
    "avg/total": [(.89, .89, .89), (.88, .88, .88), (.87, .87, .87), (.87, .87, .87), (.93, .93, .93)],
}
_T3_MODELS = ["cnn", "lenet5", "lstm", "bilstm", "improved_cnn"]
JICT_TABLE3 = {
    model: {cls: dict(zip(("precision", "recall", "f1"), _T3_ROWS[cls][i])) for cls in _T3_CLASSES}
    for i, model in enumerate(_T3_MODELS)
}

# Table 4: the improved CNN at different batch sizes.
JICT_TABLE4 = {
    32: {"accuracy": 91.70, "loss": 0.2137, "auc": 0.9969},
    64: {"accuracy": 92.42, "loss": 0.2034, "auc": 0.9976},
    128: {"accuracy": 92.87, "loss": 0.2003, "auc": 0.9977},
    256: {"accuracy": 92.88, "loss": 0.1939, "auc": 0.9978},
    512: {"accuracy": 92.69, "loss": 0.1997, "auc": 0.9976},
}

# Figures 7 and 8 (ROC): values stated in the text.
JICT_FIG7_AUC = 0.998          # "The AUC value reached 0.998"
JICT_FIG8_SHIRT_AUC = 0.98     # class 6 (Shirt), the lowest curve

# Headline claims (Abstract, Table 2, Conclusion).
JICT_HEADLINE = {
    "test_accuracy": 92.87,             # Table 2 / Table 4 (batch 128)
    "abstract_accuracy": 93.0,          # Abstract: "93 percent"
    "abstract_gain_over_cnn": 4.6,      # Abstract: "4.6 percent higher than ... the basic CNN"
    "conclusion_gains": (4.5, 5.7, 6.9),  # Conclusion: vs CNN, LeNet, LSTM/BiLSTM (three numbers, four models)
    "max_gain": 6.9,                    # Results: "increased by a maximum of 6.9 percent"
}
# The improved CNN's margin over the basic CNN as Table 2 gives it (92.87 - 89.10 = 3.77 points), beside
# the abstract's 4.6 (``JICT_HEADLINE["abstract_gain_over_cnn"]``) and the conclusion's 4.5.
JICT_HEADLINE["table2_gain_over_cnn"] = round(JICT_TABLE2["improved_cnn"]["accuracy"]
                                              - JICT_TABLE2["cnn"]["accuracy"], 2)

# What the text says about Figs. 4 and 5 ("The Accuracy of the Improved Model"), as checkable statements
# about the per-epoch curves. ``measure`` is a key of ``metrics.curve_summary`` (mean over seeds);
# ``paper_value`` is the value the description implies (our reading; the figures have no numbers):
# Fig. 5's "less than the loss rate of training" at every epoch -> 1.0; Fig. 4's "decreased at the
# beginning ... then gradually increased" -> the minimum in the first half, so at least half of the
# epochs after it -> 0.5. The claim holds when the measured value is at least ``paper_value``.
JICT_CURVE_CLAIMS = {
    "fig4_val_loss_rises": {
        "claim": "Basic CNN: validation loss falls, then rises (share of epochs after its minimum)",
        "measure": "after_val_loss_min_share", "paper_value": 0.5,
        "reference": "Fig. 4 and its text",
        "model": "cnn",
        "quote": "the loss factor (rate) of the CNN model decreased at the beginning of training and then "
                 "gradually increased, indicating that the model did not converge",
    },
    "fig5_val_loss_below_train": {
        "claim": "Improved CNN: validation loss below training loss (share of epochs)",
        "measure": "val_loss_below_train_share", "paper_value": 1.0,
        "reference": "Fig. 5 and its text",
        "model": "improved_cnn",
        "quote": "the loss rate of the improved model steadily decreased since the beginning of training, "
                 "and it was less than the loss rate of training",
    },
    "fig5_train_acc_below_val": {
        "claim": "Improved CNN: training accuracy below validation accuracy (share of epochs)",
        "measure": "val_acc_above_train_share", "paper_value": 1.0,
        "reference": "Figs. 4-5 and their text",
        "model": "improved_cnn",
        "quote": "As the number of training iterations increased, the model's validation accuracy "
                 "gradually kept matching the training accuracy",
    },
}

# Figures described in text only (the figure images are not part of the stored paper text).
JICT_FIGURES = {
    "fig2": "Learning-rate natural exponential decay: from 0.1, decaying less after 0.01 until it stops.",
    "fig4": "Accuracy and loss curves of the basic CNN: validation loss falls, then rises (no convergence).",
    "fig5": "Accuracy and loss curves of the proposed CNN: loss falls steadily, stabilises after ~10 epochs; "
            "validation loss below training loss.",
    "fig6": "Confusion matrix on the test set: best Trouser and Bag, then Sandal; worst Shirt (confused with Pullover).",
    "fig7": "Micro-average ROC curve, AUC 0.998.",
    "fig8": "Per-class ROC curves; Shirt (class 6) lowest with AUC 0.98.",
}

# --------------------------------------------------------------------------- EdgeNet -------
EDGENET_CITATION = "Sebastian & Negara (BINUS), EdgeNet + BEiT for 59 apparel classes"
EDGENET_NUM_CLASSES = 59
EDGENET_BACKBONES_NAMED = ["BEiT", "Swin Transformer V2", "DeiT"]  # the fourth is not named
EDGENET_NUM_BACKBONES = 4

# Result and Discussion: the hyper-parameter table (train and validation accuracy % and loss).
EDGENET_HPARAMS = [
    {"epochs": 45, "batch_size": 32, "lr": 0.001, "dropout": 0.05, "weight_decay": 0.001,
     "optimizer": "rmsprop", "train_acc": 69.50, "train_loss": 0.98, "val_acc": 82.80, "val_loss": 0.55},
    {"epochs": 76, "batch_size": 32, "lr": 0.001, "dropout": 0.005, "weight_decay": 0.01,
     "optimizer": "adam", "train_acc": 71.19, "train_loss": 0.96, "val_acc": 83.47, "val_loss": 0.52},
    {"epochs": 56, "batch_size": 64, "lr": 0.0001, "dropout": 0.1, "weight_decay": 0.001,
     "optimizer": "sgd", "train_acc": 68.80, "train_loss": 1.02, "val_acc": 82.00, "val_loss": 0.57},
    {"epochs": 58, "batch_size": 64, "lr": 0.0001, "dropout": 0.05, "weight_decay": 0.001,
     "optimizer": "rmsprop", "train_acc": 70.10, "train_loss": 0.97, "val_acc": 83.00, "val_loss": 0.54},
]
EDGENET_HEADLINE = {"best_val_acc": 83.47, "best_val_loss": 0.52, "best_row": 1}

# The two curve descriptions (they cannot both describe the best run; see reproduction notes).
EDGENET_CURVES_TEXT = {
    "metrics_curve": {"lr": 0.0001, "optimizer": "adam", "recall_peak_epoch": 36},
    "accuracy_curve": {"lr": 0.0001, "optimizer": "adam", "final_train_acc_above": 40.0,
                       "val_acc_plateau": 30.0, "final_train_loss": 2.48, "final_val_loss": 2.66},
}

# The inferred dataset: Kaggle "Fashion Product Images", Apparel sub-categories (inferred, not stated).
FPI_APPAREL_SUBCATEGORIES = ["Topwear", "Bottomwear", "Innerwear", "Saree", "Dress",
                             "Loungewear and Nightwear", "Apparel Set", "Socks"]
FPI_APPAREL_IMAGES = 22_086
