"""Model activations as stores: networks rebuilt from model stores, and their extraction.

* :mod:`goalstore.activations.networks` — a model store (:class:`~goalstore.schema.models.ModelWeights`)
  ↔ a ``torch.nn.Module``: rebuild and load it (refusing weights that do not fit the architecture),
  make a model store from a trained module, resolve layer names.
* :mod:`goalstore.activations.preprocess` — the one preprocessing from stored images (uint8) to a
  network's input (channels, bilinear antialiased resize, ``(image/255 − mean)/std`` with the model
  store's ``training.input_mean`` / ``input_std``), shared by training and extraction.
* :mod:`goalstore.activations.key` — the extraction request and its content hash (the store's key).
* :mod:`goalstore.activations.extractor` — hooks, batches, streaming (resumable, shardable) zarr writes.
* :mod:`goalstore.activations.reduction` — per-layer PCA (fitted on a declared set) or random projection.
* :mod:`goalstore.activations.recheck` — re-extracted samples compared with stored values (verify).
"""
