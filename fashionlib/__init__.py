"""fashionlib: the small library behind the fashion-repro notebooks and book.

One module per concern (see DESIGN): ``data``, ``apparel``, ``balance``, ``schedules``,
``keras_models``, ``train_keras``, ``torch_models``, ``train_torch``, ``metrics``, ``plots``,
``results``, ``paper``, ``choices``, ``rules``, ``combinations``, ``parameters_cell``, ``book``,
``run``. Import the one you need; heavy libraries (TensorFlow, torch, timm) load only with the
modules that use them.
"""

__version__ = "0.1.0"
