"""Subcommands of the ``kspec`` command line, one module each.

Each module ``kspec.commands.<name>`` defines ``configure(parser)`` and
``run(args) -> int``; list it here, with its one-line help, to make it part
of the CLI. The help lives here so that ``kspec`` can list every command
while importing only the one that runs.
"""

COMMANDS: dict[str, str] = {
    "compile": "compile a spec to a Keras model file (.keras, .h5 or .json)",
    "check": "check specs (graph, arguments, shapes) without building them",
    "summary": "print each layer's output shape and parameter count (static; --keras for Keras's own)",
    "graph": "draw a model's layer graph as .dot, .svg or .png (static: no TensorFlow)",
    "train": "train a spec's model on .npz or CSV data (compile and train sections of the spec)",
    "evaluate": "evaluate a saved compiled model (.keras/.h5) on a data file",
    "predict": "run a saved model (.keras/.h5) on a data file's inputs; write predictions as .npz",
    "decompile": "read a Keras model (.keras, .h5 or .json) back into a spec (.kspec or .yaml)",
    "fmt": "format .kspec files in the canonical layout (--check: only report)",
    "convert": "convert a spec between .kspec and .yaml (lossless)",
    "schema": "print the JSON Schema of the YAML form (for editors and validators)",
    "lsp": "run the kspec language server over stdio (diagnostics, hover, completion, formatting)",
    "export": "export a model or spec to ONNX, TFLite or a TensorFlow SavedModel, checked against Keras",
    "viz": "write a self-contained HTML page: the architecture, activation maps, predictions, Grad-CAM",
    "tune": "search a spec's parameter spaces with KerasTuner; write the best values, spec and model",
}
